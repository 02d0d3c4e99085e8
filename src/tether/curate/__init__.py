"""Curation filters and scorers, one module each."""
