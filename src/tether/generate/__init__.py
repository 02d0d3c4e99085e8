"""Generation recipes, one module each."""
