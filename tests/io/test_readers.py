"""Every reader on good files, and the bad-input errors: one line naming file:line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tether.errors import InputError, RecordError
from tether.io import read_records, read_rows


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [{"body": "first", "n": 1}, {"body": "second", "n": 2}]


def test_jsonl_json_parquet_csv(tmp_path: Path) -> None:
    assert read_records(_jsonl(tmp_path / "a.jsonl", ROWS)) == ROWS
    (tmp_path / "a.json").write_text(json.dumps(ROWS), encoding="utf-8")
    assert read_records(tmp_path / "a.json") == ROWS
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "a.parquet")
    assert read_records(tmp_path / "a.parquet") == ROWS
    (tmp_path / "a.csv").write_text('body,n\nfirst,1\n"sec,ond",2\n', encoding="utf-8")
    assert read_records(tmp_path / "a.csv") == [{"body": "first", "n": "1"}, {"body": "sec,ond", "n": "2"}]


def test_documents_folder(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# Beta\nbody b", encoding="utf-8")
    (tmp_path / "docs" / "a.txt").write_text("plain a", encoding="utf-8")
    (tmp_path / "docs" / "skip.bin").write_bytes(b"\x00\x01")
    recs = read_records(tmp_path / "docs")
    assert [r["source"] for r in recs] == ["a.txt", "b.md"]
    assert recs[1]["title"] == "Beta" and recs[0]["title"] == "a"


def test_hf_save_to_disk_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "ds"))
    assert read_records(tmp_path / "ds") == ROWS
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:1])})
    dd.save_to_disk(str(tmp_path / "dd"))
    assert read_records(tmp_path / "dd", split="test") == ROWS[:1]
    with pytest.raises(InputError, match="a DatasetDict with splits") as info:
        read_records(tmp_path / "dd")
    assert "set split" in (info.value.hint or "")


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"a": 1}\n{"a": 2,}\n\n{"a": 3}\n', encoding="utf-8")
    rows = list(read_rows(p))
    assert [r.data for r in rows] == [{"a": 1}, None, {"a": 3}]
    err = rows[1].error
    assert isinstance(err, RecordError)
    assert f"{p}:2: invalid JSON" in str(err) and err.raw == '{"a": 2,}'
    assert rows[2].where == f"{p}:4"  # blank lines still count


def test_non_utf8_and_empty_files(tmp_path: Path) -> None:
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n')
    rows = list(read_rows(p))
    assert rows[1].error is not None and "not valid UTF-8" in str(rows[1].error) and ":2:" in str(rows[1].error)
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        read_records(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="no such file"):
        read_records(tmp_path / "missing.jsonl")
    (tmp_path / "x.weird").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell the format") as info:
        read_records(tmp_path / "x.weird")
    assert "set format" in (info.value.hint or "")


def test_csv_with_wrong_field_count(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text("a,b\n1,2\n3\n", encoding="utf-8")
    rows = list(read_rows(p))
    assert rows[1].error is not None and f"{p}:3" in str(rows[1].error)
