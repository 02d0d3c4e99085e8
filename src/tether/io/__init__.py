"""Readers and writers: JSONL, JSON, Parquet, CSV, documents, HF dataset folders."""

from __future__ import annotations

from tether.io.readers import Row, detect_format, read_records, read_rows
from tether.io.steps import Read
from tether.io.writers import write_jsonl, write_parquet

__all__ = ["Read", "Row", "detect_format", "read_records", "read_rows", "write_jsonl", "write_parquet"]
