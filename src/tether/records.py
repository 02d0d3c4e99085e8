"""The record schema, stable ids and lineage, and conversion to and from Arrow.

A record is a plain ``dict``: ``id`` (str), payload columns (whatever the data has:
``text``, ``instruction``, ``response``, ``messages``, ``question``, ``answer``, ...),
``lineage`` (a dict, see :data:`LINEAGE_TYPE`), and score/verdict columns that curation
steps add, named ``STEP__KEY`` after the step instance that added them.

Ids are derived from content and lineage, so a rerun over the same input gives the same ids.

Example:
    >>> rec = new_record({"text": "hello"}, step="read", source="a.jsonl:1")
    >>> rec["id"] == new_record({"text": "hello"}, step="read", source="a.jsonl:1")["id"]
    True
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

Record = dict[str, Any]

ID = "id"
LINEAGE = "lineage"
ORIGIN_REAL = "real"
ORIGIN_SYNTHETIC = "synthetic"

#: The lineage struct every record carries.
LINEAGE_TYPE = pa.struct(
    [
        ("origin", pa.string()),  # "real" or "synthetic"
        ("run_id", pa.string()),
        ("step", pa.string()),  # the step instance that created the record
        ("recipe", pa.string()),  # the generation recipe, if any
        ("parents", pa.list_(pa.string())),  # ids of the records it grew from
        ("source", pa.string()),  # where a real record was read: file:line
        ("model", pa.string()),
        ("template_hash", pa.string()),
        ("prompt_hash", pa.string()),  # hash of the rendered prompt (the cache key of the call)
        ("params_hash", pa.string()),
        ("created_at", pa.float64()),  # unix seconds; volatile, excluded from digests
    ]
)
LINEAGE_FIELDS = tuple(f.name for f in LINEAGE_TYPE)
VOLATILE_LINEAGE = ("created_at", "run_id")

#: Columns a rejected record carries beside its own.
REJECT_COLUMNS = ("reject_step", "reject_reason", "reject_score", "reject_detail")
#: Columns a quarantined record carries beside its own.
QUARANTINE_COLUMNS = ("error_step", "error_type", "error_message", "error_raw")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any, length: int = 16) -> str:
    """A short hex sha256 of ``value`` (a str, bytes, or anything JSON-serialisable)."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = canonical_json(value).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:length]


def payload(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record less its id and lineage."""
    return {k: v for k, v in record.items() if k not in (ID, LINEAGE)}


def make_lineage(
    *,
    origin: str = ORIGIN_SYNTHETIC,
    step: str | None = None,
    recipe: str | None = None,
    parents: Sequence[str] = (),
    source: str | None = None,
    model: str | None = None,
    template_hash: str | None = None,
    prompt_hash: str | None = None,
    params_hash: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """A complete lineage dict; fields not given are ``None``."""
    return {
        "origin": origin,
        "run_id": run_id,
        "step": step,
        "recipe": recipe,
        "parents": list(parents),
        "source": source,
        "model": model,
        "template_hash": template_hash,
        "prompt_hash": prompt_hash,
        "params_hash": params_hash,
        "created_at": time.time(),
    }


def record_id(data: Mapping[str, Any], lineage: Mapping[str, Any]) -> str:
    """The stable id of a record: a hash of its payload and the non-volatile lineage."""
    stable = {k: v for k, v in lineage.items() if k not in VOLATILE_LINEAGE}
    return digest({"p": dict(data), "l": stable})


def new_record(data: Mapping[str, Any], *, id: str | None = None, **lineage: Any) -> Record:
    """Make a record from payload ``data``; ``lineage`` takes :func:`make_lineage`'s arguments.

    ``origin`` defaults to ``"synthetic"``; pass ``origin="real"`` for records read from data.
    """
    lin = make_lineage(**lineage)
    rec: Record = {ID: id or record_id(data, lin), **dict(data), LINEAGE: lin}
    return rec


def child(parent: Mapping[str, Any] | Sequence[Mapping[str, Any]], data: Mapping[str, Any], **lineage: Any) -> Record:
    """A new synthetic record grown from ``parent`` (one record or several)."""
    parents = [parent] if isinstance(parent, Mapping) else list(parent)
    lineage.setdefault("parents", [p[ID] for p in parents])
    lineage.setdefault("origin", ORIGIN_SYNTHETIC)
    return new_record(data, **lineage)


def stable_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record without volatile lineage fields: what digests and comparisons use."""
    out = dict(record)
    lin = out.get(LINEAGE)
    if isinstance(lin, Mapping):
        out[LINEAGE] = {k: v for k, v in lin.items() if k not in VOLATILE_LINEAGE}
    return out


# ---------------------------------------------------------------- Arrow conversion


def _normalise_lineage(rec: Mapping[str, Any]) -> Record:
    out = dict(rec)
    lin = out.get(LINEAGE)
    if lin is None:
        out[LINEAGE] = None
    else:
        out[LINEAGE] = {name: lin.get(name) for name in LINEAGE_FIELDS}
    return out


def to_table(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Records to an Arrow table; ``lineage`` always has :data:`LINEAGE_TYPE`.

    Column order: ``id``, payload columns in first-seen order, ``lineage`` last.
    """
    rows = [_normalise_lineage(r) for r in records]
    if not rows:
        return pa.table({ID: pa.array([], pa.string()), LINEAGE: pa.array([], LINEAGE_TYPE)})
    names: dict[str, None] = {}
    for r in rows:
        for k in r:
            names.setdefault(k, None)
    order = [ID] + [n for n in names if n not in (ID, LINEAGE)] + [LINEAGE]
    columns = {}
    for name in order:
        values = [r.get(name) for r in rows]
        if name == LINEAGE:
            columns[name] = pa.array(values, LINEAGE_TYPE)
        elif name == ID:
            columns[name] = pa.array(values, pa.string())
        else:
            try:
                columns[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                # mixed types in one column (or an integer past 64 bits): keep each value as
                # canonical JSON text
                columns[name] = pa.array(
                    [None if v is None else (v if isinstance(v, str) else canonical_json(v)) for v in values],
                    pa.string(),
                )
    return pa.table(columns)


def from_table(table: pa.Table) -> list[Record]:
    """An Arrow table to records (dicts)."""
    return table.to_pylist()


def concat_tables(tables: Sequence[pa.Table]) -> pa.Table:
    """Concatenate tables whose schemas may differ by missing or null-typed columns."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return to_table([])
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def table_digest(table: pa.Table) -> str:
    """A digest of a table's records, order-sensitive, ignoring volatile lineage fields."""
    h = hashlib.sha256()
    for rec in table.to_pylist():
        h.update(canonical_json(stable_view(rec)).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


__all__ = [
    "ID",
    "LINEAGE",
    "LINEAGE_FIELDS",
    "LINEAGE_TYPE",
    "ORIGIN_REAL",
    "ORIGIN_SYNTHETIC",
    "QUARANTINE_COLUMNS",
    "REJECT_COLUMNS",
    "Record",
    "canonical_json",
    "child",
    "concat_tables",
    "digest",
    "from_table",
    "make_lineage",
    "new_record",
    "payload",
    "record_id",
    "stable_view",
    "table_digest",
    "to_table",
]
