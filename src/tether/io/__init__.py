"""Readers and writers: JSONL, JSON, Parquet, CSV, documents, HF dataset folders, folders of files."""

from __future__ import annotations

from tether.io.files import ReadFiles
from tether.io.readers import Row, detect_format, read_records, read_rows
from tether.io.steps import Read
from tether.io.writers import write_jsonl, write_parquet

__all__ = ["Read", "ReadFiles", "Row", "detect_format", "read_records", "read_rows", "write_jsonl", "write_parquet"]
