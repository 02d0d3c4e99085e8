"""Every example with recorded responses runs offline through the CLI, answered from its
replay file alone (a miss would fail the run or quarantine records)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/responder.py"))


def tether(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def check_grounded_qa(m: dict[str, Any]) -> None:
    step = m["steps"][1]
    # the planted unanswerable question of each prompt is rejected by the judge, nothing else is
    assert step["counts"]["out"] > 0 and step["stats"]["rejected"] == {"unanswerable": step["counts"]["rejected"]}
    assert step["counts"]["rejected"] == step["stats"]["chunks"]


CHECKS = {"grounded_qa": check_grounded_qa}


def test_every_recipe_has_an_example() -> None:
    assert "grounded_qa" in EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_offline_from_its_recorded_responses(name: str, tmp_path: Path) -> None:
    example = ROOT / "examples" / name
    r = tether("run", "pipeline.yaml", "--run-dir", str(tmp_path / "run"), cwd=example)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["status"] == "done" and m["dataset"]["rows"] > 0
    assert m["llm"] and all(u["backend"] == "replay" for u in m["llm"].values())
    assert sum(u["calls"] for u in m["llm"].values()) > 0
    assert all(u["failed_calls"] == 0 for u in m["llm"].values())  # no request missed the file
    assert all(s["counts"]["quarantined"] == 0 for s in m["steps"])
    rows = [json.loads(line) for line in (tmp_path / "run" / "dataset" / "data.jsonl").read_text().splitlines()]
    assert len(rows) == m["dataset"]["rows"]
    assert all(r["lineage"]["origin"] == "synthetic" and r["lineage"]["model"] for r in rows)
    CHECKS.get(name, lambda m: None)(m)
