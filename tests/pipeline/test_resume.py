"""SIGKILL in the middle of a step, rerun the same command: the same dataset as an
uninterrupted run, with no lost and no duplicated records, and no record processed twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import HERE, write_pipeline

from tether.pipeline import RunDir

PIPE = """
name: resume
batch_size: 4
plugins: [plugin_steps]
steps:
  - read: {path: numbers.jsonl}
  - test_slow_upper: {delay: 0.03}
  - test_even_only: {}
"""


def _cmd(pipeline: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "tether", "-q", "run", str(pipeline), "--run-dir", str(run_dir), "-q"]


def _env(log: Path) -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), src, env.get("PYTHONPATH", "")])
    env["TETHER_TEST_CALL_LOG"] = str(log)
    return env


def _dataset(run_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run_dir / "dataset" / "data.jsonl").read_text().splitlines()]
    for r in rows:
        r["lineage"].pop("created_at")
        r["lineage"].pop("run_id")
    return rows


@pytest.mark.slow
def test_kill_mid_step_then_rerun_gives_the_uninterrupted_result(tmp_path: Path, numbers: Path) -> None:
    pipeline = write_pipeline(tmp_path, PIPE)
    # uninterrupted reference run
    ref_log = tmp_path / "ref.log"
    subprocess.run(_cmd(pipeline, tmp_path / "ref"), env=_env(ref_log), check=True, timeout=300)

    log = tmp_path / "calls.log"
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(_cmd(pipeline, run_dir), env=_env(log))
    batches = run_dir / "steps" / "01-test_slow_upper" / "_batches"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if batches.exists() and len(list(batches.glob("*.json"))) >= 3:
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    committed = len(list(batches.glob("*.json")))
    assert 3 <= committed < 15, committed
    assert not (run_dir / "dataset").exists()
    before = log.read_text().split()

    subprocess.run(_cmd(pipeline, run_dir), env=_env(log), check=True, timeout=300)
    calls = log.read_text().split()

    assert _dataset(run_dir) == _dataset(tmp_path / "ref")
    ids = [r["id"] for r in _dataset(run_dir)]
    assert len(ids) == len(set(ids)) == 30
    # every committed batch was kept; only records of uncommitted batches ran again
    redone = len(calls) - 60
    assert 0 <= redone <= 4, (len(before), len(calls))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["attempts"] == 2 and manifest["status"] == "done"
    assert [s["status"] for s in manifest["steps"]] == ["skipped", "resumed", "ran"]
    counts = RunDir(run_dir).store(1, "test_slow_upper").counts()
    assert counts == {"in": 60, "out": 60, "rejected": 0, "quarantined": 0}
