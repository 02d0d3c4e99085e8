"""The same damage through the command line: a rerun exits 0 with the full dataset, a warning
line per damaged file and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import HERE, write_pipeline

PIPE = """
name: cli-integrity
batch_size: 8
plugins: [plugin_steps]
steps:
  - read: {path: numbers.jsonl}
  - test_slow_upper: {}
  - test_even_only: {}
"""


def _run(pipeline: Path, run_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), src, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "tether", "run", str(pipeline), "--run-dir", str(run_dir)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _dataset(run_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run_dir / "dataset" / "data.jsonl").read_text().splitlines()]
    for r in rows:
        r["lineage"].pop("created_at")
    return rows


@pytest.mark.slow
def test_a_damaged_run_directory_reruns_cleanly_from_the_command_line(tmp_path: Path, numbers: Path) -> None:
    pipeline = write_pipeline(tmp_path, PIPE)
    run_dir = tmp_path / "run"
    first = _run(pipeline, run_dir)
    assert first.returncode == 0, first.stderr
    ref = _dataset(run_dir)
    part = run_dir / "steps" / "01-test_slow_upper" / "part-00003.parquet"
    part.write_bytes(part.read_bytes()[:100])
    (run_dir / "steps" / "00-read" / "_batches" / "00002.json").write_text("\x00garbage")
    data = run_dir / "dataset" / "data.jsonl"
    data.write_bytes(data.read_bytes()[:-500])
    tmp = run_dir / "dataset" / ".data.parquet.x1y2.tmp"
    tmp.write_bytes(b"half a file")

    again = _run(pipeline, run_dir)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    warned = [line for line in again.stderr.splitlines() if "WARNING" in line]
    assert len(warned) == 3, warned
    assert any("01-test_slow_upper/part-00003.parquet" in w and "batch 3 is recomputed" in w for w in warned)
    assert any("00-read/_batches/00002.json" in w for w in warned)
    assert any("dataset/data.jsonl" in w and "written again" in w for w in warned)
    assert not tmp.exists()
    assert _dataset(run_dir) == ref
