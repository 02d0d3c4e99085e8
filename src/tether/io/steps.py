"""The ``read`` step: records from files, with column mapping and per-row error handling."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PrivateAttr, field_validator

from tether.core.registry import register
from tether.core.step import Outcome, SourceStep
from tether.errors import InputError, RecordError
from tether.io._private import file_sha256, text_head
from tether.io.readers import DOC_SUFFIXES, Format, Row, detect_format, read_rows
from tether.records import ID, LINEAGE, ORIGIN_REAL, canonical_json, new_record

if TYPE_CHECKING:
    from tether.core.context import StepContext

#: Input columns whose names tether's own columns use, and the names they are kept under.
RESERVED = {ID: "source_id", LINEAGE: "source_lineage"}
#: The deepest nesting of lists and objects a record may have (Parquet cannot read back
#: much deeper: about 50 levels of lists).
MAX_DEPTH = 32


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


_SURROGATE = re.compile("[\ud800-\udfff]")


def value_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``value`` cannot be stored (None when it can): nesting deeper than ``max_depth``
    (lists and objects; a scalar is depth 0), or a string or key with a lone UTF-16 surrogate
    (JSON's ``\\ud800`` escape), which UTF-8 cannot encode. Walked without recursion, and
    only as deep as ``max_depth + 1``."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, str):
            if _has_surrogate(v):
                return "holds a lone UTF-16 surrogate, which UTF-8 cannot store"
            continue
        if isinstance(v, dict):
            if any(isinstance(k, str) and _has_surrogate(k) for k in v):
                return "has a key with a lone UTF-16 surrogate, which UTF-8 cannot store"
            children: Any = v.values()
        elif isinstance(v, (list, tuple)):
            children = v
        else:
            continue
        if d + 1 > max_depth:
            return f"nested more than {max_depth} levels deep, over the limit of {max_depth}"
        stack.extend((c, d + 1) for c in children)
    return None


def _printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes, so UTF-8 can store it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _id_text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value)


def _raw_text(data: dict[str, Any]) -> str:
    return _printable(json.dumps(data, ensure_ascii=False, default=str))


def _prefix(data: dict[str, Any] | None) -> str | None:
    """The start of an oversized record's text, for its quarantine row."""
    if data is None:
        return None
    return text_head(_raw_text(data))


@register
class Read(SourceStep):
    """Read records from files: JSONL, JSON, Parquet, CSV, documents, HF dataset folders."""

    type: ClassVar[str] = "read"
    description: ClassVar[str] = (
        "Read records from JSONL, JSON, Parquet, CSV, a folder of .txt/.md documents, or a datasets folder."
    )

    path: str | list[str]
    """A file or folder, or a list of them; relative to the pipeline file."""
    format: Format = "auto"
    """jsonl | json | parquet | csv | documents | hf, or auto (by suffix / folder contents)."""
    glob: str = "**/*"
    """Which files of a documents folder to read."""
    split: str | None = None
    """The split of a datasets DatasetDict folder."""
    text_field: str | None = None
    """The source column to use as ``text`` (shorthand for rename: {COLUMN: text})."""
    rename: dict[str, str] = Field(default_factory=dict)
    """Source column -> tether column."""
    columns: list[str] | None = None
    """Keep only these columns (after renaming)."""
    require: list[str] = Field(default_factory=list)
    """Columns every record must have (non-null); a record without one is a bad row."""
    id_field: str | None = None
    """Use this column as the record id instead of a derived one (any type; a non-string
    value becomes its JSON text). The input's own ``id`` column is kept as ``source_id``."""
    max_record_bytes: int = 1_000_000
    """A record whose JSON is larger than this is a bad row."""
    limit: int | None = Field(None, ge=1)
    """Read at most this many records."""

    _run_id: str | None = PrivateAttr(default=None)

    @field_validator("rename")
    @classmethod
    def _not_onto_tether_columns(cls, v: dict[str, str]) -> dict[str, str]:
        for source, target in v.items():
            if target in RESERVED:
                how = f"use id_field: {source} to take record ids from it" if target == ID else "rename it to another name"
                raise ValueError(f"{source} -> {target}: '{target}' is tether's own column; {how}")
        return v

    @field_validator("path")
    @classmethod
    def _non_empty(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("give at least one path")
        return v

    def _paths(self, ctx: StepContext) -> list[Path]:
        paths = [self.path] if isinstance(self.path, str) else list(self.path)
        return [ctx.resolve(p) for p in paths]

    def _mapping(self) -> dict[str, str]:
        m = dict(self.rename)
        if self.text_field:
            m[self.text_field] = "text"
        return m

    def output_columns(self) -> set[str]:
        cols = set(self.columns or []) | set(self.require) | set(self._mapping().values())
        return cols

    def peek_columns(self, ctx: StepContext) -> set[str] | None:
        """Columns of the first readable rows, for the check before the run (None: unknown)."""
        cols: set[str] = set()
        try:
            for p in self._paths(ctx):
                n = 0
                for row in read_rows(p, self.format, glob=self.glob, split=self.split, max_record_bytes=self.max_record_bytes):
                    if row.data is not None:
                        cols |= set(self._shape(row.data).keys())
                        n += 1
                    if n >= 20:
                        break
        except InputError:
            return None
        return cols

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        digests = {}
        for p in self._paths(ctx):
            if p.is_dir():
                files = sorted(f for f in p.rglob("*") if f.is_file())
                if detect_format(p) == "documents":
                    files = [f for f in files if f.suffix.lower() in DOC_SUFFIXES]
                for f in files:
                    digests[str(f.relative_to(p.parent))] = file_sha256(f)
            elif p.exists():
                digests[p.name] = file_sha256(p)
            else:
                raise InputError(f"{p}: no such file or folder", hint="check the read step's path")
        return digests

    def _shape(self, data: dict[str, Any]) -> dict[str, Any]:
        mapping = self._mapping()
        out = {mapping.get(k, k): v for k, v in data.items()}
        if self.columns is not None:
            out = {k: out.get(k) for k in self.columns}
        # the input's id and lineage are data: they never replace tether's own
        for name, kept_as in RESERVED.items():
            if name in out:
                out[kept_as] = out.pop(name)
        return out

    @staticmethod
    def _col(name: str) -> str:
        """Where a column named as the input has it lives after shaping."""
        return RESERVED.get(name, name)

    def _clash(self, data: dict[str, Any]) -> str | None:
        if not any(name in data for name in RESERVED):  # the usual case (rename: cannot make one)
            return None
        mapping = self._mapping()
        names = {mapping.get(k, k) for k in data}
        if self.columns is not None:
            names &= set(self.columns)
        for name, kept_as in RESERVED.items():
            if name in names and kept_as in names:
                return name
        return None

    def _make(self, row: Row) -> dict[str, Any]:
        assert row.data is not None
        clash = self._clash(row.data)
        if clash is not None:
            kept_as = RESERVED[clash]
            raise RecordError(
                f"the record has both '{clash}' and '{kept_as}'; tether keeps an input's '{clash}' as "
                f"'{kept_as}'",
                where=row.where,
                field=clash,
                hint=f"rename one on the read step, e.g. rename: {{{clash}: input_{clash}}}",
            )
        data = self._shape(row.data)
        for col in self.require:
            if data.get(self._col(col)) is None:
                have = ", ".join(sorted(data)) or "no columns"
                raise RecordError(
                    f"missing required column '{col}' (the record has: {have})",
                    where=row.where,
                    field=col,
                    hint="map a column to it with text_field: or rename:",
                )
        size = row.size if row.size is not None else len(json.dumps(data, ensure_ascii=False, default=str).encode())
        if size > self.max_record_bytes:
            raise RecordError(
                f"record is {size} bytes, over max_record_bytes={self.max_record_bytes}",
                where=row.where,
                raw=_prefix(row.data),
                hint="raise max_record_bytes on the read step, or split the record",
            )
        for col, value in data.items():
            if _has_surrogate(col):
                problem: str | None = "the column name holds a lone UTF-16 surrogate, which UTF-8 cannot store"
            else:
                problem = value_problem(value)
                problem = None if problem is None else f"value {problem}"
            if problem is not None:
                raise RecordError(
                    problem,
                    where=row.where,
                    field=_printable(col),
                    hint="flatten the value, or store it as a JSON string" if "nested" in problem
                    else "fix the text at its source (a surrogate pair must be whole)",
                )
        rid = None
        if self.id_field:
            value = data.get(self._col(self.id_field))
            if value in (None, ""):
                raise RecordError(f"no id in column '{self.id_field}'", where=row.where, field=self.id_field)
            rid = _id_text(value)
        return new_record(data, id=rid, origin=ORIGIN_REAL, step=self.instance_name, source=row.where,
                          run_id=self._run_id)

    def _rows(self, path: Path, ctx: StepContext) -> Iterator[Row]:
        """Rows with ``where`` relative to the pipeline folder, so ids do not depend on it."""
        try:
            shown = path.relative_to(ctx.base_dir)
        except ValueError:
            shown = path
        for row in read_rows(
            path, self.format, glob=self.glob, split=self.split, max_record_bytes=self.max_record_bytes
        ):
            row.where = row.where.replace(str(path), str(shown), 1)
            if row.error is not None and row.error.where:
                row.error.where = row.where
                row.error.message = row.error.message.replace(str(path), str(shown), 1)
            yield row

    def read(self, ctx: StepContext) -> Iterator[Outcome]:
        self._run_id = ctx.run_id
        batch = Outcome()
        count = 0
        size = ctx.batch_size
        seen_ids: set[str] = set()
        for p in self._paths(ctx):
            for row in self._rows(p, ctx):
                if self.limit is not None and count >= self.limit:
                    break
                try:
                    if row.error is not None:
                        raise row.error
                    rec = self._make(row)
                    if rec["id"] in seen_ids:
                        # the same content at the same place cannot repeat; a user id can
                        raise RecordError(f"duplicate id '{rec['id']}'", where=row.where, field=self.id_field)
                    seen_ids.add(rec["id"])
                    batch.kept.append(rec)
                    count += 1
                except RecordError as exc:
                    if self.on_error == "raise":
                        raise
                    raw = exc.raw if exc.raw is not None else row.raw
                    if raw is None and row.data is not None:
                        raw = _raw_text(row.data)  # a well-formed row refused as a whole (a repeated id)
                    bad = new_record(
                        {"raw": raw}, origin=ORIGIN_REAL, step=self.instance_name, source=row.where,
                        run_id=ctx.run_id,
                    )
                    batch.extend(self.error_outcome(exc, bad, reason="bad_input", raw=raw))
                if len(batch.kept) + len(batch.rejected) + len(batch.quarantined) >= size:
                    yield batch
                    batch = Outcome()
        if count == 0 and not (batch.rejected or batch.quarantined):
            raise InputError(f"step {self.instance_name}: no records were read from {self.path}")
        if batch.kept or batch.rejected or batch.quarantined:
            yield batch
