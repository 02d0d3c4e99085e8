"""HTML and JSON reports."""
