"""The read step on hostile or merely unusual input: an ``id`` column of any type, repeated
ids, deep nesting. Each bad record is one line naming file:line and field, handled by
``on_error``; the rest of the records go on."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from tether.errors import InputError
from tether.pipeline import Pipeline, RunDir

logging.getLogger("tether").setLevel(logging.WARNING)


def _run(tmp_path: Path, rows: list[Any], options: str = "", name: str = "run") -> tuple[dict, RunDir]:
    data = tmp_path / "in.jsonl"
    data.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    pipe = tmp_path / "p.yaml"
    pipe.write_text(f"steps:\n  - read: {{path: in.jsonl{options}}}\n", encoding="utf-8")
    res = Pipeline.from_yaml(pipe).run(tmp_path / name)
    return res.steps[0]["counts"], RunDir(tmp_path / name)


def _kept(run: RunDir) -> list[dict]:
    return run.store(0, "read").table().to_pylist()


def _quarantined(run: RunDir) -> list[dict]:
    return run.store(0, "read").table("quarantine").to_pylist()


def test_an_integer_id_column_is_kept_as_source_id(tmp_path: Path) -> None:
    counts, run = _run(tmp_path, [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}])
    assert counts == {"in": 2, "out": 2, "rejected": 0, "quarantined": 0}
    kept = _kept(run)
    assert [r["source_id"] for r in kept] == [1, 2]
    assert all(isinstance(r["id"], str) and len(r["id"]) == 16 for r in kept)
    rows = [json.loads(x) for x in (run.dataset / "data.jsonl").read_text().splitlines()]
    assert [r["source_id"] for r in rows] == [1, 2]


def test_a_string_id_column_does_not_replace_tethers_ids(tmp_path: Path) -> None:
    _, run = _run(tmp_path, [{"id": "u1", "text": "a"}, {"id": "u2", "text": "b"}])
    kept = _kept(run)
    assert [r["source_id"] for r in kept] == ["u1", "u2"]
    assert {r["id"] for r in kept}.isdisjoint({"u1", "u2"})


@pytest.mark.parametrize("value", [7, 2.5, True, {"k": 1}, ["a", "b"], "s"])
def test_id_field_takes_a_column_of_any_type_as_the_record_id(tmp_path: Path, value: Any) -> None:
    _, run = _run(tmp_path, [{"id": value, "text": "a"}], ", id_field: id")
    kept = _kept(run)
    assert kept[0]["id"] == (value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
    assert kept[0]["source_id"] == value


def test_an_input_lineage_column_is_kept_beside_tethers_lineage(tmp_path: Path) -> None:
    _, run = _run(tmp_path, [{"text": "a", "lineage": {"origin": "synthetic", "model": "m"}}])
    rec = _kept(run)[0]
    assert rec["source_lineage"] == {"origin": "synthetic", "model": "m"}
    assert rec["lineage"]["origin"] == "real" and rec["lineage"]["source"] == "in.jsonl:1"


def test_require_and_id_field_name_the_column_as_the_input_has_it(tmp_path: Path) -> None:
    counts, run = _run(tmp_path, [{"id": "a1", "text": "a"}, {"text": "b"}], ", require: [id], on_error: quarantine")
    assert counts["out"] == 1 and counts["quarantined"] == 1
    assert "missing required column 'id'" in _quarantined(run)[0]["error_message"]


def test_an_input_with_both_id_and_source_id_is_a_bad_row_with_a_hint(tmp_path: Path) -> None:
    counts, run = _run(tmp_path, [{"id": 1, "source_id": 2, "text": "a"}, {"text": "b"}], ", on_error: quarantine")
    assert counts == {"in": 2, "out": 1, "rejected": 0, "quarantined": 1}
    q = _quarantined(run)[0]
    assert "in.jsonl:1" in q["error_message"] and "'source_id'" in q["error_message"]
    with pytest.raises(InputError) as info:
        _run(tmp_path, [{"id": 1, "source_id": 2, "text": "a"}], name="r2")
    assert "rename:" in (info.value.hint or "")
    counts, run = _run(tmp_path, [{"id": 1, "source_id": 2, "text": "a"}], ", rename: {id: input_id}", name="r3")
    assert _kept(run)[0]["input_id"] == 1 and _kept(run)[0]["source_id"] == 2


@pytest.mark.parametrize("policy", ["quarantine", "skip"])
def test_a_repeated_id_keeps_its_raw_text(tmp_path: Path, policy: str) -> None:
    rows = [{"uid": "u1", "text": "first"}, {"uid": "u1", "text": "second copy"}, {"uid": "u2", "text": "third"}]
    counts, run = _run(tmp_path, rows, f", id_field: uid, on_error: {policy}")
    assert counts["in"] == 3 and counts["out"] == 2
    store = run.store(0, "read")
    bad = store.table("quarantine" if policy == "quarantine" else "rejected").to_pylist()
    assert len(bad) == 1 and json.loads(bad[0]["raw"]) == rows[1]
    msg = bad[0]["error_message"] if policy == "quarantine" else bad[0]["reject_detail"]
    assert "in.jsonl:2: duplicate id 'u1'" in msg and "(field 'uid')" in msg
    if policy == "quarantine":
        assert json.loads(bad[0]["error_raw"]) == rows[1]


def _nested(depth: int) -> Any:
    v: Any = "leaf"
    for i in range(depth):
        v = [v] if i % 2 else {"k": v}
    return v


@pytest.mark.parametrize("depth", [60, 5000])
def test_a_too_deeply_nested_record_is_a_bad_row_not_a_broken_batch(tmp_path: Path, depth: int) -> None:
    rows = [{"text": "ok"}, {"text": "deep", "payload": _nested(depth)}, {"text": "ok too"}]
    if depth > 1000:  # deeper than json's own recursion limit: the line is written by hand
        rows[1] = '{"text": "deep", "payload": ' + "[" * depth + "]" * depth + "}"
    counts, run = _run(tmp_path, rows, ", on_error: quarantine")
    assert counts == {"in": 3, "out": 2, "rejected": 0, "quarantined": 1}
    q = _quarantined(run)[0]
    assert "in.jsonl:2" in q["error_message"] and "nested" in q["error_message"]
    assert "(field 'payload')" in q["error_message"] or depth > 1000
    assert [r["text"] for r in _kept(run)] == ["ok", "ok too"]
    assert len((run.dataset / "data.jsonl").read_text().splitlines()) == 2


def test_nesting_within_the_limit_is_read(tmp_path: Path) -> None:
    counts, run = _run(tmp_path, [{"text": "a", "payload": _nested(30)}])
    assert counts["out"] == 1 and _kept(run)[0]["payload"] == _nested(30)


def test_a_too_deep_record_under_raise_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"in\.jsonl:1: value nested more than 32 levels deep, over the limit of 32 \(field 'payload'\)") as info:
        _run(tmp_path, [{"text": "a", "payload": _nested(60)}])
    assert "\n" not in str(info.value) and info.value.hint


@pytest.mark.parametrize("target", ["id", "lineage"])
def test_renaming_a_column_to_a_tether_column_is_a_config_error(tmp_path: Path, target: str) -> None:
    from tether.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"bad value for 'steps\[0\]\.read\.rename': .*'{target}' is tether's own"):
        _run(tmp_path, [{"uid": "a", "text": "a"}], f", rename: {{uid: {target}}}")


def test_an_integer_too_large_for_arrow_is_kept_as_its_text(tmp_path: Path) -> None:
    big = 123456789012345678901234567890
    counts, run = _run(tmp_path, [f'{{"text": "a", "big": {big}}}', '{"text": "b", "big": 1}'])
    assert counts["out"] == 2
    assert [r["big"] for r in _kept(run)] == [str(big), "1"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (r'{"text": "lone \ud800 surrogate"}', "text"),
        (r'{"text": "k", "\udcffkey": "v"}', "\udcffkey"),
        (r'{"text": "k", "deep": [{"a": ["x\udfff"]}]}', "deep"),
    ],
)
def test_a_lone_surrogate_is_a_bad_row_naming_its_field(tmp_path: Path, line: str, field: str) -> None:
    counts, run = _run(tmp_path, ['{"text": "fine"}', line], ", on_error: quarantine")
    assert counts == {"in": 2, "out": 1, "rejected": 0, "quarantined": 1}
    q = _quarantined(run)[0]
    assert q["error_message"].startswith("in.jsonl:2: ") and "surrogate" in q["error_message"]
    assert f"(field '{field.encode('utf-8', 'backslashreplace').decode()}')" in q["error_message"]
    assert re.search(r"\\ud[89a-f][0-9a-f]{2}", q["raw"])  # kept, with the surrogate escaped
    assert [r["text"] for r in _kept(run)] == ["fine"]
