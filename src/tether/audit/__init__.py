"""Audit metrics by family, gates and the audit runner."""
