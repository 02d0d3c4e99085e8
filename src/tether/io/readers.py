"""Readers: JSONL, JSON array, Parquet, CSV, a folder of .txt/.md documents, and a folder
written by Hugging Face ``datasets.save_to_disk``.

Each reader yields :class:`Row` objects: the row's data and where it came from
(``file:line`` or ``file:row``), or the error that made it unreadable. Whole-file problems
(missing, empty, not UTF-8 at all, wrong format) raise :class:`~tether.errors.InputError`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from tether.errors import InputError, RecordError
from tether.io._private import RAW_HEAD, text_head

Format = Literal["auto", "jsonl", "json", "parquet", "csv", "documents", "hf"]
DOC_SUFFIXES = (".txt", ".md", ".markdown", ".rst")


@dataclass
class Row:
    data: dict[str, Any] | None
    where: str
    error: RecordError | None = None
    raw: str | None = None
    size: int | None = None
    """The row's size in bytes as read, when the format gives it (JSON Lines)."""


def detect_format(path: Path) -> Format:
    """Guess a path's format from its suffix or, for a folder, its contents."""
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return "hf"
        return "documents"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in DOC_SUFFIXES:
        return "documents"
    raise InputError(
        f"{path}: cannot tell the format from the suffix '{suffix}'",
        hint="set format: jsonl | json | parquet | csv | documents | hf on the read step",
    )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder", hint="check the path; relative paths are read from the pipeline file's folder")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty", hint="give a file with at least one record")


def _decode_line(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
            where=where,
            raw=raw.decode("utf-8", errors="replace"),
            hint="re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


CHUNK = 1 << 16
"""The bytes read at a time past the size limit, while an oversized line is skipped."""


def _over_limit(size: int, limit: int, where: str, head: bytes) -> RecordError:
    return RecordError(
        f"record is {size} bytes, over max_record_bytes={limit}",
        where=where,
        raw=text_head(head.decode("utf-8", errors="replace")),
        hint="raise max_record_bytes on the read step, or split the record",
    )


def _skip_line(fh: BinaryIO, first: bytes) -> tuple[int, bytes]:
    """Read the rest of a line that began with ``first`` in bounded chunks, keeping none of it;
    returns the line's size in bytes (without its line ending) and its first bytes."""
    size, tail = len(first), first[-2:]
    while not tail.endswith(b"\n"):
        chunk = fh.readline(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        tail = (tail + chunk)[-2:]
    return size - _ending(tail), first[: 4 * RAW_HEAD]


def _ending(raw: bytes) -> int:
    return 2 if raw.endswith(b"\r\n") else 1 if raw.endswith(b"\n") else 0


def read_jsonl(path: Path, max_record_bytes: int | None = None) -> Iterator[Row]:
    """One JSON object per line; blank lines are skipped; each bad line is its own error.

    With ``max_record_bytes``, a longer line is a bad row found before it is parsed: it is read
    in bounded chunks and never held whole in memory."""
    _check_file(path)
    seen = False
    # a line of up to the limit, its line ending and one byte more is read whole
    cap = -1 if max_record_bytes is None else max_record_bytes + 3
    with open(path, "rb") as fh:
        lineno = 0
        while raw := fh.readline(cap):
            lineno += 1
            where = f"{path}:{lineno}"
            cut = max_record_bytes is not None and len(raw) == cap and not raw.endswith(b"\n")
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if cut:  # longer than the limit: the rest of the line is skipped, not read into memory
                assert max_record_bytes is not None
                size, head = _skip_line(fh, raw)
                seen = True
                err = _over_limit(size, max_record_bytes, where, head)
                yield Row(None, where, err, err.raw, size=size)
                continue
            try:
                line = _decode_line(raw, where)
            except RecordError as exc:
                yield Row(None, where, exc, exc.raw)
                continue
            if not line.strip():
                continue
            seen = True
            try:
                obj = json.loads(line)
            except RecursionError:
                err = RecordError(
                    "nested too deeply to parse",
                    where=where,
                    raw=text_head(line),
                    hint="flatten the record, or set on_error: quarantine on the read step to set it aside",
                )
                yield Row(None, where, err, err.raw)
                continue
            except json.JSONDecodeError as exc:
                err = RecordError(
                    f"invalid JSON ({exc.msg} at column {exc.colno})",
                    where=where,
                    raw=line.rstrip("\n"),
                    hint="fix the line, or set on_error: quarantine on the read step to set bad lines aside",
                )
                yield Row(None, where, err, err.raw)
                continue
            if not isinstance(obj, dict):
                err = RecordError(
                    f"a line must hold a JSON object, got {type(obj).__name__}", where=where, raw=line.rstrip("\n")
                )
                yield Row(None, where, err, err.raw)
                continue
            yield Row(obj, where, size=len(raw) - _ending(raw))
    if not seen:
        raise InputError(f"{path}: the file has no records (only blank or bad lines)")


def read_json(path: Path) -> Iterator[Row]:
    """A JSON array of objects (or an object with one list of objects inside)."""
    _check_file(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid UTF-8 (byte offset {exc.start})", hint="re-encode the file as UTF-8"
        ) from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError(f"{path}: the JSON is nested too deeply to parse", hint="flatten the records") from None
    except json.JSONDecodeError as exc:
        if "\n" in text.strip() and text.lstrip().startswith("{"):
            yield from read_jsonl(path)  # a .json file that is really JSON Lines
            return
        raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError(f"{path}: expected a JSON array of records", hint="or use JSON Lines (.jsonl)")
        data = lists[0]
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
    if not data:
        raise InputError(f"{path}: the array is empty")
    for i, obj in enumerate(data):
        where = f"{path}:[{i}]"
        if isinstance(obj, dict):
            yield Row(obj, where)
        else:
            err = RecordError(f"an array item must be a JSON object, got {type(obj).__name__}", where=where, raw=json.dumps(obj))
            yield Row(None, where, err, err.raw)


def _arrow_rows(table: pa.Table, path: Path, label: str = "row") -> Iterator[Row]:
    for i, batch in enumerate(table.to_batches(max_chunksize=4096)):
        base = i * 4096
        for j, rec in enumerate(batch.to_pylist()):
            yield Row(rec, f"{path}:{label} {base + j + 1}")


def read_parquet(path: Path) -> Iterator[Row]:
    _check_file(path)
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    if pf.metadata.num_rows == 0:
        raise InputError(f"{path}: the Parquet file has no rows")
    row = 0
    batches = pf.iter_batches(batch_size=4096)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{path}: the Parquet file is damaged after row {row} ({str(exc).splitlines()[0][:160]})",
                hint="write the file again, or read it with another tool to see how much can be saved",
            ) from None
        for rec in batch.to_pylist():
            row += 1
            yield Row(rec, f"{path}:row {row}")


_CSV_FIELD_MAX = 2**31 - 1


def read_csv(path: Path, max_record_bytes: int | None = None) -> Iterator[Row]:
    """CSV (or TSV by suffix) with a header line; line numbers count physical lines.

    A row whose fields add up to more than ``max_record_bytes`` is a bad row."""
    _check_file(path)
    # the file is in memory already: the csv module's own field limit (128 KB) would only
    # turn a long field into a crash; the record's size is checked below instead
    if csv.field_size_limit() < _CSV_FIELD_MAX:
        csv.field_size_limit(_CSV_FIELD_MAX)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not valid UTF-8", hint="re-encode the file as UTF-8") from None
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: the file is empty") from None
    seen = False
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            where = f"{path}:{reader.line_num}"
            seen = True
            err = RecordError(f"unreadable CSV ({exc})", where=where, hint="fix the row, or quote its fields")
            yield Row(None, where, err, None)
            continue
        where = f"{path}:{reader.line_num}"
        if max_record_bytes is not None:
            size = sum(len(f.encode("utf-8")) for f in fields)
            if size > max_record_bytes:
                seen = True
                err = _over_limit(size, max_record_bytes, where, delimiter.join(fields)[: 4 * RAW_HEAD].encode())
                yield Row(None, where, err, err.raw, size=size)
                continue
        if not fields or all(not f for f in fields):
            continue
        seen = True
        if len(fields) != len(header):
            err = RecordError(
                f"expected {len(header)} fields as in the header, got {len(fields)}",
                where=where,
                raw=delimiter.join(fields),
                hint="quote fields that contain the delimiter",
            )
            yield Row(None, where, err, err.raw)
            continue
        yield Row(dict(zip(header, fields, strict=True)), where)
    if not seen:
        raise InputError(f"{path}: the file has a header but no records")


def read_documents(path: Path, glob: str = "**/*", max_record_bytes: int | None = None) -> Iterator[Row]:
    """Each .txt / .md / .rst file is one record: ``text``, ``source`` (relative path),
    ``title`` (first Markdown heading or the file name). A file larger than
    ``max_record_bytes`` is a bad row, not read."""
    _check_file(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.glob(glob) if p.is_file() and p.suffix.lower() in DOC_SUFFIXES
    )
    if not files:
        raise InputError(
            f"{path}: no .txt, .md or .rst documents found", hint="put documents in the folder or set glob:"
        )
    for f in files:
        rel = f.name if path.is_file() else str(f.relative_to(path))
        where = f"{f}"
        size = f.stat().st_size
        if max_record_bytes is not None and size > max_record_bytes:
            err = RecordError(
                f"document is {size} bytes, over max_record_bytes={max_record_bytes}",
                where=where,
                hint="raise max_record_bytes on the read step, or split the document",
            )
            yield Row(None, where, err, None, size=size)
            continue
        raw = f.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            err = RecordError(
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", where=f"{f}:{line}", hint="re-encode the file as UTF-8"
            )
            yield Row(None, f"{f}:{line}", err, raw.decode("utf-8", errors="replace"))
            continue
        if not text.strip():
            err = RecordError("the document is empty", where=where, raw="")
            yield Row(None, where, err, "")
            continue
        title = next((ln.lstrip("#").strip() for ln in text.splitlines() if ln.startswith("#")), f.stem)
        yield Row({"text": text, "source": rel, "title": title}, where)


_HF_HINT = "save the dataset again with datasets' save_to_disk"


def _json_file(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not valid JSON ({type(exc).__name__})", hint=_HF_HINT) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not {what} (a JSON {type(data).__name__}, not an object)", hint=_HF_HINT)
    return data


def read_hf(path: Path, split: str | None = None) -> Iterator[Row]:
    """A folder written by ``datasets.Dataset.save_to_disk`` (or ``DatasetDict``): Arrow
    stream files read with pyarrow, without importing ``datasets``."""
    dd = path / "dataset_dict.json"
    if dd.exists():
        info = _json_file(dd, "a datasets DatasetDict file")
        splits = info.get("splits", [])
        if split is None:
            if len(splits) != 1:
                raise InputError(
                    f"{path}: a DatasetDict with splits {splits}", hint="set split: NAME on the read step"
                )
            split = splits[0]
        if split not in splits:
            raise InputError(f"{path}: no split '{split}' (splits: {', '.join(map(str, splits))})")
        path = path / split
    state_file = path / "state.json"
    if not state_file.exists():
        raise InputError(f"{path}: not a datasets.save_to_disk folder (no state.json)")
    state = _json_file(state_file, "a datasets state file")
    entries = state.get("_data_files", [])
    if not isinstance(entries, list) or not all(isinstance(f, dict) and "filename" in f for f in entries):
        raise InputError(f"{state_file}: not a datasets state file (bad _data_files)", hint=_HF_HINT)
    tables = []
    for entry in entries:
        f = path / str(entry["filename"])
        if not f.is_file():
            raise InputError(f"{path}: its data file {entry['filename']} is missing", hint=_HF_HINT)
        try:
            with pa.memory_map(str(f), "r") as src:
                try:
                    tables.append(pa.ipc.open_stream(src).read_all())
                except pa.ArrowInvalid:
                    src.seek(0)
                    tables.append(pa.ipc.open_file(src).read_all())
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{path}: its data file {entry['filename']} is not readable Arrow ({str(exc).splitlines()[0][:120]})",
                hint=_HF_HINT,
            ) from None
    if not tables or sum(t.num_rows for t in tables) == 0:
        raise InputError(f"{path}: the dataset has no rows")
    table = pa.concat_tables(tables)
    yield from _arrow_rows(table, path)


def read_rows(
    path: Path,
    fmt: Format = "auto",
    *,
    glob: str = "**/*",
    split: str | None = None,
    max_record_bytes: int | None = None,
) -> Iterator[Row]:
    """Rows of one path in the given (or detected) format.

    ``max_record_bytes``: a JSON Lines line, a CSV field or a document larger than this is a
    bad row, found before it is parsed (a JSON Lines line is not even held in memory)."""
    _check_file(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if path.is_dir() and fmt in ("jsonl", "json", "csv", "parquet"):
        raise InputError(
            f"{path}: a folder, but format {fmt} reads one file",
            hint="give the file (or a list of files) as path:, or use format: documents or hf for a folder",
        )
    if fmt == "jsonl":
        return read_jsonl(path, max_record_bytes)
    if fmt == "json":
        return read_json(path)
    if fmt == "parquet":
        return read_parquet(path)
    if fmt == "csv":
        return read_csv(path, max_record_bytes)
    if fmt == "documents":
        return read_documents(path, glob, max_record_bytes)
    if fmt == "hf":
        return read_hf(path, split)
    raise InputError(f"unknown format '{fmt}'")


def read_records(path: str | Path, fmt: Format = "auto", **kwargs: Any) -> list[dict[str, Any]]:
    """Every row of ``path`` as plain dicts; the first bad row raises. For quick use in Python."""
    out = []
    for row in read_rows(Path(path), fmt, **kwargs):
        if row.error is not None:
            raise row.error
        assert row.data is not None
        out.append(row.data)
    return out


__all__ = ["Format", "Row", "detect_format", "read_records", "read_rows"]
