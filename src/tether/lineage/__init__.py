"""Run manifest queries, provenance, trace, export formats and the dataset card."""
