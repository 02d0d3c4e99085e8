"""After the last step: export, audit and card. The card is written even when a gate fails;
a rerun of a finished run redoes none of them, and a failed gate fails the rerun too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import write_pipeline

from tether.errors import AuditGateError
from tether.pipeline import Pipeline

PIPE = """
name: audited
steps:
  - read: {path: notes.jsonl}
  - limit: {n: 40}
export:
  formats: [parquet, jsonl]
audit:
  families: [quality, diversity]
  embedder: {backend: hashing}
  bootstrap: 0
  gates:
    quality.empty_rate: "== 0"
    diversity.distinct_2: "GATE"
"""


TOPICS = ["compost", "worms", "heat", "leaves", "seeds", "soil", "water", "roots"]


def _pipe(tmp_path: Path, gate: str) -> Path:
    rows = [{"text": f"note {i} says the {TOPICS[i % 8]} in bed {i % 5} needs care today"} for i in range(60)]
    (tmp_path / "notes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return write_pipeline(tmp_path, PIPE.replace("GATE", gate))


def _mtimes(run: Path) -> dict[str, int]:
    names = ["audit/report.json", "audit/report.html", "card.md", "dataset/data.parquet", "dataset/data.jsonl"]
    return {n: (run / n).stat().st_mtime_ns for n in names}


def test_failed_gate_still_writes_the_card_naming_the_gate(tmp_path: Path, audits: list[int]) -> None:
    run = tmp_path / "run"
    with pytest.raises(AuditGateError, match=r"diversity\.distinct_2 >= 0\.99"):
        Pipeline.from_yaml(_pipe(tmp_path, ">= 0.99")).run(run)
    card = (run / "card.md").read_text()
    assert "`diversity.distinct_2 >= 0.99` FAILED (got " in card
    assert "- The audit gate `diversity.distinct_2 >= 0.99` failed for this dataset" in card
    assert "`quality.empty_rate == 0` passed" in card and "| diversity | **FAIL** |" in card
    assert audits == [1]


def test_rerun_of_an_audited_run_does_no_work(tmp_path: Path, audits: list[int]) -> None:
    run = tmp_path / "run"
    pipe = _pipe(tmp_path, ">= 0.1")
    first = Pipeline.from_yaml(pipe).run(run)
    assert audits == [1] and "`diversity.distinct_2 >= 0.1` passed" in (run / "card.md").read_text()
    before = _mtimes(run)
    again = Pipeline.from_yaml(pipe).run(run)
    assert not again.did_work and again.dataset_digest == first.dataset_digest and again.dataset_rows == 40
    assert audits == [1]  # no second audit
    assert _mtimes(run) == before  # nothing rewritten: report, card, dataset
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["audit"]["scorecard"]["diversity"] == "ok"
    assert manifest["dataset"] == {"rows": 40, "digest": first.dataset_digest, "formats": ["parquet", "jsonl"]}

    # a changed gate is a changed audit: it runs again, and the card follows; the export does not
    Pipeline.from_yaml(_pipe(tmp_path, ">= 0.2")).run(run)
    after = _mtimes(run)
    assert audits == [1, 1]
    assert after["audit/report.json"] != before["audit/report.json"] and after["card.md"] != before["card.md"]
    assert after["dataset/data.parquet"] == before["dataset/data.parquet"]
    assert "`diversity.distinct_2 >= 0.2` passed" in (run / "card.md").read_text()

    # a deleted export file is written again
    (run / "dataset" / "data.jsonl").unlink()
    Pipeline.from_yaml(_pipe(tmp_path, ">= 0.2")).run(run)
    assert (run / "dataset" / "data.jsonl").exists() and audits == [1, 1]


@pytest.mark.slow
def test_cli_exits_5_on_a_failed_gate_and_again_on_the_rerun(tmp_path: Path) -> None:
    pipe = _pipe(tmp_path, ">= 0.99")
    cmd = [sys.executable, "-m", "tether", "-q", "run", str(pipe), "--run-dir", str(tmp_path / "run"), "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 5, r.stderr
    assert "audit gate(s) failed: diversity.distinct_2 >= 0.99" in r.stderr and "Traceback" not in r.stderr
    report = tmp_path / "run" / "audit" / "report.json"
    card = tmp_path / "run" / "card.md"
    stamps = (report.stat().st_mtime_ns, card.stat().st_mtime_ns)
    assert "FAILED" in card.read_text()
    r2 = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r2.returncode == 5, r2.stderr  # the failed gate is reported again ...
    assert "audit gate(s) failed: diversity.distinct_2 >= 0.99" in r2.stderr
    assert (report.stat().st_mtime_ns, card.stat().st_mtime_ns) == stamps  # ... without auditing again


def test_a_dataset_that_fails_its_gates_is_withheld_from_dataset(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for _ in range(2):  # the first run, then a rerun with the same failed gate
        with pytest.raises(AuditGateError):
            Pipeline.from_yaml(_pipe(tmp_path, ">= 0.99")).run(run)
        assert not (run / "dataset").exists()  # nothing there to ship by mistake
        assert (run / "dataset.gate-failed" / "data.parquet").exists()
        assert json.loads((run / "manifest.json").read_text())["dataset"]["withheld"] == "dataset.gate-failed"
        card = (run / "card.md").read_text()
        assert "the dataset was withheld from `dataset/`: its files are in `dataset.gate-failed/`" in card
    # the gate fixed: the dataset is exported where it belongs and the withheld copy is gone
    res = Pipeline.from_yaml(_pipe(tmp_path, ">= 0.1")).run(run)
    assert (run / "dataset" / "data.parquet").exists() and res.dataset_rows == 40
    assert not (run / "dataset.gate-failed").exists()
    assert "withheld" not in (run / "card.md").read_text()
