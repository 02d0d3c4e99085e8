"""Committed state is checked on every rerun: a part cut short, a garbled marker, a damaged
dataset file or leftover temporary files give the full, correct output again, with nothing
lost or duplicated, one log line naming the damaged file, and no traceback."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pipeline_helpers import write_pipeline

from tether.pipeline import Pipeline, RunDir

PIPE = """
name: integrity
batch_size: 8
plugins: [plugin_steps]
steps:
  - read: {path: numbers.jsonl}
  - test_slow_upper: {}
  - test_even_only: {}
"""


def _rows(run_dir: Path, name: str = "data.jsonl") -> list[dict]:
    path = run_dir / "dataset" / name
    rows = pq.read_table(path).to_pylist() if name.endswith(".parquet") else [
        json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()
    ]
    for r in rows:
        r["lineage"].pop("created_at")
        r["lineage"].pop("run_id")
    return rows


def _step_rows(run_dir: Path, index: int, name: str, kind: str = "kept") -> list[dict]:
    rows = RunDir(run_dir).store(index, name).table(kind).to_pylist()
    for r in rows:
        r["lineage"].pop("created_at")
    return rows


@pytest.fixture
def done(tmp_path: Path, numbers: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Pipeline, Path, list[dict]]:
    """A finished run, its pipeline, and its dataset."""
    monkeypatch.setenv("TETHER_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    pipe = Pipeline.from_yaml(write_pipeline(tmp_path, PIPE))
    res = pipe.run(tmp_path / "run")
    assert res.dataset_rows == 30
    return pipe, tmp_path / "run", _rows(tmp_path / "run")


def _calls(run_dir: Path) -> list[str]:
    return (run_dir.parent / "calls.log").read_text().split()


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _strip_digests(run_dir: Path) -> None:
    """Make the run look like one written before parts and exports had digests."""
    for marker in (run_dir / "steps").glob("*/_batches/*.json"):
        data = json.loads(marker.read_text())
        data.pop("parts")
        marker.write_text(json.dumps(data))
    state = json.loads((run_dir / "_outputs.json").read_text())
    state["export"].pop("digests")
    (run_dir / "_outputs.json").write_text(json.dumps(state))


def _damage_lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if needle in r.getMessage()]


@pytest.mark.parametrize("old_run", [False, True], ids=["digests", "no-digests"])
def test_a_part_cut_short_in_a_finished_step_is_recomputed(
    done: tuple[Pipeline, Path, list[dict]], caplog: pytest.LogCaptureFixture, old_run: bool
) -> None:
    pipe, run_dir, ref = done
    if old_run:
        _strip_digests(run_dir)
    before = _step_rows(run_dir, 1, "test_slow_upper")
    calls = len(_calls(run_dir))
    part = run_dir / "steps" / "01-test_slow_upper" / "part-00002.parquet"
    _cut(part)
    with caplog.at_level(logging.INFO, logger="tether"):
        res = pipe.run(run_dir)
    assert [s["status"] for s in res.steps] == ["skipped", "resumed", "skipped"]
    assert _step_rows(run_dir, 1, "test_slow_upper") == before
    assert len(_calls(run_dir)) - calls == 8  # that batch alone ran again
    lines = _damage_lines(caplog, "part-00002.parquet")
    assert len(lines) == 1 and "01-test_slow_upper" in lines[0] and "recomputed" in lines[0]
    assert _rows(run_dir) == ref and res.steps[1]["counts"] == {"in": 60, "out": 60, "rejected": 0, "quarantined": 0}


def test_a_cut_rejected_part_and_a_missing_part_are_recomputed(
    done: tuple[Pipeline, Path, list[dict]], caplog: pytest.LogCaptureFixture
) -> None:
    pipe, run_dir, ref = done
    rejected = _step_rows(run_dir, 2, "test_even_only", "rejected")
    _cut(run_dir / "steps" / "02-test_even_only" / "rejected" / "part-00001.parquet")
    (run_dir / "steps" / "02-test_even_only" / "part-00003.parquet").unlink()
    with caplog.at_level(logging.INFO, logger="tether"):
        res = pipe.run(run_dir)
    assert [s["status"] for s in res.steps] == ["skipped", "skipped", "resumed"]
    assert _step_rows(run_dir, 2, "test_even_only", "rejected") == rejected
    assert res.steps[2]["counts"] == {"in": 60, "out": 30, "rejected": 30, "quarantined": 0}
    assert len(_damage_lines(caplog, "rejected/part-00001.parquet")) == 1
    assert len(_damage_lines(caplog, "02-test_even_only/part-00003.parquet")) == 1
    assert _rows(run_dir) == ref


@pytest.mark.parametrize("garbage", ["garbage{", "", "[1, 2]", '{"in": "x"}'])
def test_a_garbled_batch_marker_is_recomputed(
    done: tuple[Pipeline, Path, list[dict]], caplog: pytest.LogCaptureFixture, garbage: str
) -> None:
    pipe, run_dir, ref = done
    (run_dir / "steps" / "00-read" / "_batches" / "00001.json").write_text(garbage)
    (run_dir / "steps" / "01-test_slow_upper" / "_batches" / "00004.json").write_text(garbage)
    calls = len(_calls(run_dir))
    with caplog.at_level(logging.INFO, logger="tether"):
        res = pipe.run(run_dir)
    assert [s["status"] for s in res.steps] == ["resumed", "resumed", "skipped"]
    assert len(_calls(run_dir)) - calls == 8
    assert len(_damage_lines(caplog, "00-read/_batches/00001.json")) == 1
    assert _rows(run_dir) == ref and res.steps[0]["counts"]["out"] == 60


def test_a_garbled_success_file_and_stray_marker_names_do_not_stop_the_run(
    done: tuple[Pipeline, Path, list[dict]]
) -> None:
    pipe, run_dir, ref = done
    (run_dir / "steps" / "01-test_slow_upper" / "_SUCCESS.json").write_text("{not json")
    (run_dir / "steps" / "01-test_slow_upper" / "_batches" / "notes.json").write_text("{}")
    calls = len(_calls(run_dir))
    res = pipe.run(run_dir)
    assert res.steps[1]["status"] == "resumed" and len(_calls(run_dir)) == calls  # nothing ran again
    assert res.steps[1]["counts"]["out"] == 60 and _rows(run_dir) == ref


@pytest.mark.parametrize("old_run", [False, True], ids=["digests", "no-digests"])
@pytest.mark.parametrize("name", ["data.jsonl", "data.parquet"])
def test_a_damaged_dataset_file_is_written_again(
    done: tuple[Pipeline, Path, list[dict]], caplog: pytest.LogCaptureFixture, name: str, old_run: bool
) -> None:
    pipe, run_dir, ref = done
    if old_run:
        _strip_digests(run_dir)
    _cut(run_dir / "dataset" / name)
    with caplog.at_level(logging.INFO, logger="tether"):
        res = pipe.run(run_dir)
    assert [s["status"] for s in res.steps] == ["skipped"] * 3
    assert len(_damage_lines(caplog, f"dataset/{name}")) == 1
    assert _rows(run_dir, name) == ref and res.dataset_rows == 30
    assert not _damage_lines(caplog, "up to date")


def test_an_edited_dataset_file_of_the_same_size_is_written_again(done: tuple[Pipeline, Path, list[dict]]) -> None:
    pipe, run_dir, ref = done
    f = run_dir / "dataset" / "data.jsonl"
    f.write_text(f.read_text().replace("RECORD NUMBER 0", "RECORD NUMBER X"))
    pipe.run(run_dir)
    assert _rows(run_dir) == ref


def test_an_intact_run_is_still_nothing_to_do(
    done: tuple[Pipeline, Path, list[dict]], caplog: pytest.LogCaptureFixture
) -> None:
    pipe, run_dir, ref = done
    _strip_digests(run_dir)  # an old run directory: checked by parsing, then given digests
    for _ in range(2):
        calls = len(_calls(run_dir))
        with caplog.at_level(logging.INFO, logger="tether"):
            res = pipe.run(run_dir)
        assert not res.did_work and len(_calls(run_dir)) == calls
        assert _damage_lines(caplog, "dataset/ is up to date") and not _damage_lines(caplog, "recomputed")
        caplog.clear()
    marker = json.loads((run_dir / "steps" / "00-read" / "_batches" / "00000.json").read_text())
    assert set(marker["parts"]) == {"part-00000.parquet"}
    assert _rows(run_dir) == ref


def test_leftover_temporary_files_are_removed_on_start(done: tuple[Pipeline, Path, list[dict]]) -> None:
    pipe, run_dir, ref = done
    leftovers = [
        run_dir / "steps" / "01-test_slow_upper" / ".part-00009.parquet.k2j3.tmp",
        run_dir / "steps" / "01-test_slow_upper" / "rejected" / ".part-00001.parquet.x.tmp",
        run_dir / "dataset" / ".data.jsonl.abcd.tmp",
        run_dir / "dataset" / "stray.tmp",
        run_dir / ".manifest.json.q.tmp",
    ]
    for f in leftovers:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"partial")
    res = pipe.run(run_dir)
    assert not any(f.exists() for f in leftovers)
    assert not list(run_dir.rglob("*.tmp"))
    assert _rows(run_dir) == ref and res.dataset_rows == 30
    state = json.loads((run_dir / "_outputs.json").read_text())
    assert state["export"]["files"] == ["data.jsonl", "data.parquet"]


def test_temporary_files_in_a_fresh_dataset_folder_are_not_exported(tmp_path: Path, numbers: Path) -> None:
    pipe = Pipeline.from_yaml(write_pipeline(tmp_path, PIPE))
    (tmp_path / "run" / "dataset").mkdir(parents=True)
    (tmp_path / "run" / "dataset" / ".data.jsonl.zz.tmp").write_text("half")
    pipe.run(tmp_path / "run")
    state = json.loads((tmp_path / "run" / "_outputs.json").read_text())
    assert state["export"]["files"] == ["data.jsonl", "data.parquet"]
    assert set(state["export"]["digests"]) == {"data.jsonl", "data.parquet"}


def test_a_resumed_step_with_a_part_cut_by_a_kill_recomputes_that_batch(
    done: tuple[Pipeline, Path, list[dict]]
) -> None:
    pipe, run_dir, ref = done
    store = run_dir / "steps" / "01-test_slow_upper"
    (store / "_SUCCESS.json").unlink()  # as if killed before the step finished
    _cut(store / "part-00005.parquet")
    os.utime(store / "part-00005.parquet", (1, 1))
    calls = len(_calls(run_dir))
    res = pipe.run(run_dir)
    assert res.steps[1]["status"] == "resumed" and len(_calls(run_dir)) - calls == 8
    ids = [r["id"] for r in _step_rows(run_dir, 1, "test_slow_upper")]
    assert len(ids) == len(set(ids)) == 60
    assert _rows(run_dir) == ref


@pytest.mark.parametrize("garbage", ["{cut sh", "[1, 2]", "null", '"text"'])
def test_a_garbled_manifest_or_outputs_state_does_not_stop_the_run(
    done: tuple[Pipeline, Path, list[dict]], garbage: str
) -> None:
    pipe, run_dir, ref = done
    (run_dir / "manifest.json").write_text(garbage)
    (run_dir / "_outputs.json").write_text(garbage)
    calls = len(_calls(run_dir))
    res = pipe.run(run_dir)
    assert [s["status"] for s in res.steps] == ["skipped"] * 3 and len(_calls(run_dir)) == calls
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "done"
    assert _rows(run_dir) == ref


def test_dropping_the_export_entry_does_not_warn_about_its_files(
    done: tuple[Pipeline, Path, list[dict]], caplog: pytest.LogCaptureFixture
) -> None:
    _, run_dir, _ = done
    (run_dir / "dataset").replace(run_dir / "dataset.elsewhere")  # as a withheld dataset is moved aside
    run = RunDir(run_dir)
    with caplog.at_level(logging.INFO, logger="tether"):
        run.update_outputs(export=None)
    assert not caplog.records and "export" not in run.read_outputs()
