"""Helpers shared by the curation steps: reading text fields, union-find, reading external sets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import field_validator

from tether.core.step import FilterStep
from tether.errors import ConfigError, InputError
from tether.records import Record

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")

#: what to install for the steps that need torch and transformers
ML_EXTRA = "pip install 'tether[ml]' (install torch==2.13.0 first)"


def field_text(record: Record, fields: Sequence[str], sep: str = "\n") -> str:
    """The text of ``fields`` of a record, joined by ``sep``; missing/None fields are skipped.

    ``messages`` (a list of ``{role, content}``) is flattened to its contents.
    """
    parts: list[str] = []
    for f in fields:
        v = record.get(f)
        if v is None:
            continue
        if isinstance(v, str):
            parts.append(v)
        elif isinstance(v, list):
            parts.extend(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in v)
        else:
            parts.append(str(v))
    return sep.join(parts)


def as_fields(field: str | list[str]) -> list[str]:
    return [field] if isinstance(field, str) else list(field)


def components(n: int, edges_a: np.ndarray, edges_b: np.ndarray) -> np.ndarray:
    """Connected-component labels (0..k-1) of ``n`` nodes joined by the given edges."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, dtype=np.int64)
    a = np.asarray(edges_a, dtype=np.int64)
    b = np.asarray(edges_b, dtype=np.int64)
    g = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return labels.astype(np.int64)


def read_external(paths: Iterable[str], fields: Sequence[str], resolve: Any, what: str) -> list[tuple[str, str]]:
    """(id, text) pairs of an external set: files (JSONL, Parquet, ...) or earlier run folders.

    A run folder (one holding ``dataset/``) contributes its exported dataset.
    """
    from tether.io.readers import read_rows

    out: list[tuple[str, str]] = []
    for raw in paths:
        p: Path = resolve(raw)
        if p.is_dir() and (p / "dataset").is_dir():
            cands = sorted((p / "dataset").glob("*.parquet")) or sorted((p / "dataset").glob("*.jsonl"))
            if not cands:
                raise InputError(f"{p}: run folder has no exported dataset", hint=f"check the {what} path")
            p = cands[0]
        if not p.exists():
            raise ConfigError(f"{what}: {p}: no such file or folder", hint=f"check the {what} path")
        for i, row in enumerate(read_rows(p)):
            if row.data is None:
                continue
            text = field_text(row.data, fields)
            rid = str(row.data.get("id") or f"{p.name}:{i + 1}")
            out.append((rid, text))
    return out




# --------------------------------------------------------------------------- base filter


class TextFilter(FilterStep):
    """A filter that reads the text of one or more columns (``fields``)."""

    fields: str | list[str] = "text"
    """The column(s) read; several are joined with a newline."""

    @field_validator("fields")
    @classmethod
    def _fields_non_empty(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("give at least one field")
        return v

    def input_columns(self) -> set[str]:
        return set(as_fields(self.fields))

    def text(self, record: Record) -> str:
        return field_text(record, as_fields(self.fields))


__all__ = ["SNAKE", "TextFilter", "as_fields", "components", "field_text", "read_external"]


def load_local_model(path: str, auto_class: str, device: str = "cpu") -> tuple[Any, Any]:
    """A local transformers model folder (``save_pretrained``) loaded with ``auto_class``
    (e.g. ``AutoModelForCausalLM``) and its tokenizer; nothing is downloaded."""
    import os

    if not Path(path).is_dir():
        raise ConfigError(f"model folder {path} does not exist", hint="give a local folder saved with save_pretrained")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import transformers
    except ImportError as exc:
        raise ConfigError("transformers is not installed", hint="pip install 'tether[ml]'") from exc
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = getattr(transformers, auto_class).from_pretrained(path).to(device).eval()
    return model, tok
