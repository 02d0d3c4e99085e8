"""The quickstart runs offline through the CLI: read -> grounded_qa (replayed recorded answers)
-> curation -> export -> audit with gates, and every record traces back to a seed document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.lineage import trace

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"


@pytest.mark.slow
def test_quickstart_runs_offline_and_traces_to_its_seed_documents(tmp_path: Path) -> None:
    run = tmp_path / "qs"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "tether", "run", "pipeline.yaml", "--run-dir", str(run)],
                       cwd=QUICKSTART, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((run / "manifest.json").read_text())
    names = [s["name"] for s in m["steps"]]
    assert names[:3] == ["read", "injection_scan", "grounded_qa"] and "dedup" in names and "decontaminate" in names
    assert all(s["counts"]["quarantined"] == 0 for s in m["steps"])
    assert m["llm"]["default"]["backend"] == "replay" and m["llm"]["default"]["failed_calls"] == 0
    by_name = {s["name"]: s for s in m["steps"]}
    # the planted defects: each generated "who invented composting" pair fails the judge, and
    # the pair quoting the quiz item is rejected as contaminated
    assert set(by_name["grounded_qa"]["stats"]["rejected"]) == {"unanswerable"}
    assert by_name["decontaminate"]["counts"]["rejected"] == 1
    for s in m["steps"]:
        c = s["counts"]
        if s["kind"] == "filter" or s["name"] == "dedup":  # nothing lost: in = kept + rejected + quarantined
            assert c["in"] == c["out"] + c["rejected"] + c["quarantined"]

    docs = {f"docs/{p.name}" for p in (QUICKSTART / "docs").glob("*.md")}
    rows = [json.loads(line) for line in (run / "dataset" / "data.jsonl").read_text().splitlines()]
    assert len(rows) == m["dataset"]["rows"] > 0
    chat = [json.loads(line) for line in (run / "dataset" / "chat.jsonl").read_text().splitlines()]
    assert len(chat) == len(rows) and all(c["messages"][-1]["role"] == "assistant" for c in chat)
    for row in rows:
        seeds = trace(run, row["id"]).seeds()
        assert seeds and {s.source for s in seeds} <= docs
        assert all(s.lineage["origin"] == "real" for s in seeds)

    card = (run / "card.md").read_text()
    assert "**This dataset is synthetic.**" in card

    report = json.loads((run / "audit" / "report.json").read_text())
    assert report["gates"] and all(g["passed"] for g in report["gates"])
    assert {g["metric"] for g in report["gates"]} >= {"fidelity.precision", "contamination.ngram_overlap"}
    assert (run / "audit" / "report.html").is_file()
