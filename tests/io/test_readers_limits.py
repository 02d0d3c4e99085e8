"""Size limits are checked before parsing: an oversized JSON Lines line is a bad row read
in bounded chunks (never held whole in memory), a huge CSV field or document is a bad row,
not a crash."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from tether.errors import RecordError
from tether.io import read_rows
from tether.pipeline import Pipeline, RunDir

BIG = 8 * 1024 * 1024  # an 8 MB line


def _big_jsonl(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "before"}) + "\n")
        fh.write('{"text": "' + "x" * BIG + '"}\n')
        fh.write(json.dumps({"text": "after"}) + "\n")
    return path


def test_an_oversized_line_is_a_bad_row_read_in_bounded_memory(tmp_path: Path) -> None:
    p = _big_jsonl(tmp_path / "big.jsonl")
    tracemalloc.start()
    try:
        rows = []
        for row in read_rows(p, max_record_bytes=1000):
            rows.append((row.data, row.error, row.raw, row.size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak  # the 8 MB line was never held
    assert [r[0] for r in rows] == [{"text": "before"}, None, {"text": "after"}]
    _, err, raw, size = rows[1]
    assert isinstance(err, RecordError) and err.where == f"{p}:2"
    assert str(err) == f"{p}:2: record is {BIG + 12} bytes, over max_record_bytes=1000"
    assert size == BIG + 12 and raw is not None and raw.startswith('{"text": "xxx') and len(raw) < 2000
    assert err.hint and "max_record_bytes" in err.hint


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_line_size_boundaries(tmp_path: Path, ending: str) -> None:
    limit = 20
    p = tmp_path / "b.jsonl"
    lines = ['{"t": "' + "y" * n + '"}' for n in (limit - 9, limit - 8, limit - 7, limit - 6, limit + 5)]
    p.write_bytes(("".join(x + (ending or "\n") for x in lines[:-1]) + lines[-1] + ending).encode())
    rows = list(read_rows(p, max_record_bytes=limit))
    assert [r.size for r in rows] == [len(x) for x in lines]
    # a line over the limit by its line ending's length or less is left to the read step's check
    assert all(r.error is None for r, x in zip(rows, lines, strict=True) if len(x) <= limit)
    assert all(r.error is not None for r, x in zip(rows, lines, strict=True) if len(x) > limit + 2)


def test_the_read_step_quarantines_an_oversized_line_and_keeps_the_rest(tmp_path: Path) -> None:
    _big_jsonl(tmp_path / "big.jsonl")
    pipe = tmp_path / "p.yaml"
    pipe.write_text("steps:\n  - read: {path: big.jsonl, max_record_bytes: 1000, on_error: quarantine}\n", encoding="utf-8")
    tracemalloc.start()
    try:
        res = Pipeline.from_yaml(pipe).run(tmp_path / "run")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak  # less than half the line
    assert res.steps[0]["counts"] == {"in": 3, "out": 2, "rejected": 0, "quarantined": 1}
    store = RunDir(tmp_path / "run").store(0, "read")
    q = store.table("quarantine").to_pylist()[0]
    assert q["error_message"] == f"big.jsonl:2: record is {BIG + 12} bytes, over max_record_bytes=1000"
    assert q["raw"].startswith('{"text": "xxx') and len(q["raw"]) < 2000
    assert [r["text"] for r in store.table().to_pylist()] == ["before", "after"]


def test_skip_rejects_an_oversized_line_with_its_reason(tmp_path: Path) -> None:
    _big_jsonl(tmp_path / "big.jsonl")
    pipe = tmp_path / "p.yaml"
    pipe.write_text("steps:\n  - read: {path: big.jsonl, max_record_bytes: 1000, on_error: skip}\n", encoding="utf-8")
    res = Pipeline.from_yaml(pipe).run(tmp_path / "run")
    assert res.steps[0]["counts"] == {"in": 3, "out": 2, "rejected": 1, "quarantined": 0}
    r = RunDir(tmp_path / "run").store(0, "read").table("rejected").to_pylist()[0]
    assert r["reject_reason"] == "bad_input" and "over max_record_bytes=1000" in r["reject_detail"]


def test_a_csv_field_over_the_csv_module_limit_is_read(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text("text,n\n" + "x" * 200_000 + ",1\nok,2\n", encoding="utf-8")
    rows = list(read_rows(p))
    assert [r.error for r in rows] == [None, None] and len(rows[0].data["text"]) == 200_000


def test_a_csv_field_over_max_record_bytes_is_a_bad_row(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text("text,n\nfine,0\n" + "x" * 5000 + ",1\nok,2\n", encoding="utf-8")
    rows = list(read_rows(p, max_record_bytes=1000))
    assert [r.data for r in rows] == [{"text": "fine", "n": "0"}, None, {"text": "ok", "n": "2"}]
    assert str(rows[1].error) == f"{p}:3: record is 5001 bytes, over max_record_bytes=1000"
    assert rows[1].raw is not None and rows[1].raw.startswith("xxx") and len(rows[1].raw) < 2000


def test_an_oversized_document_is_a_bad_row_read_without_its_text(tmp_path: Path) -> None:
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.txt").write_text("small", encoding="utf-8")
    (d / "b.txt").write_text("z" * 50_000, encoding="utf-8")
    rows = list(read_rows(d, max_record_bytes=1000))
    assert rows[0].data is not None and rows[1].data is None
    assert str(rows[1].error) == f"{d / 'b.txt'}: document is 50000 bytes, over max_record_bytes=1000"
