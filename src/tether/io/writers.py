"""Writers: Parquet and JSONL, both atomic."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tether.io._private import atomic_path
from tether.records import to_table


def write_parquet(data: pa.Table | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write a table (or records) to Parquet atomically."""
    table = data if isinstance(data, pa.Table) else to_table(data)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def write_jsonl(data: pa.Table | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write records (or a table) as JSON Lines atomically, one record a line, UTF-8."""
    rows = data.to_pylist() if isinstance(data, pa.Table) else data
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=_json_default))
            fh.write("\n")
    return Path(path)


__all__ = ["write_jsonl", "write_parquet"]
