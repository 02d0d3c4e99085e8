"""Every example pipeline with recorded responses runs offline through the CLI, answered from
its replay file alone (a miss would fail the run or quarantine records), and its planted
defects are caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.pipeline.rundir import REJECTED, RunDir

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def example_pipelines() -> list[tuple[str, str]]:
    out = []
    for responder in sorted(EXAMPLES.glob("*/responder.py")):
        for p in sorted(responder.parent.glob("*.yaml")):
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
            if isinstance(raw, dict) and "steps" in raw:
                out.append((responder.parent.name, p.name))
    return out


PIPELINES = example_pipelines()
# the quickstart (curation, audit, the MiniLM embedder) has its own test: tests/test_quickstart.py
RUN = [(e, p) for e, p in PIPELINES if e != "quickstart"]
RECIPES = {"sample", "prompt", "grounded_qa", "snippet_tasks", "self_instruct", "evol_instruct", "refine", "distill",
           "preference_pairs", "taxonomy", "taxonomy_generate", "phase_order"}


def tether(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def rejected(run: Path, index: int, name: str) -> Counter[str]:
    return Counter(r["reject_reason"] for r in RunDir(run).store(index, name).iter_records(REJECTED))


def check_grounded_qa(m: dict[str, Any], run: Path, rows: list[dict[str, Any]]) -> None:
    step = m["steps"][1]
    # the planted unanswerable question of each prompt is rejected by the judge, nothing else is
    assert step["stats"]["rejected"] == {"unanswerable": step["stats"]["chunks"]}
    assert all("invented" not in r["question"] for r in rows)


def check_prompt(m: dict[str, Any], run: Path, rows: list[dict[str, Any]]) -> None:
    assert {(r["topic"], r["level"]) for r in rows} == {(t, lv) for t in ("worms", "leaves", "heat")
                                                         for lv in ("beginner", "expert")}
    assert all(r["question"] and r["answer"] for r in rows)


def check_self_instruct(m: dict[str, Any], run: Path, rows: list[dict[str, Any]]) -> None:
    stats = m["steps"][1]["stats"]
    assert stats["kept_instructions"] == 5 and set(stats["rejected"]) == {"near_copy", "unusable_task_type"}
    assert all(r["rouge_l_max"] < 0.7 for r in rows)
    cls = next(r for r in rows if r["instruction"].startswith("Classify"))
    assert cls["is_classification"] and cls["output"] == "healthy"


def check_evol_instruct(m: dict[str, Any], run: Path, rows: list[dict[str, Any]]) -> None:
    assert rejected(run, 1, "evol_instruct") == {"copied_prompt": 1, "refusal": 1}
    assert all("poem" not in r["instruction"].lower() for r in rows)


def check_refine(m: dict[str, Any], run: Path, rows: list[dict[str, Any]]) -> None:
    assert sum(r["revised"] for r in rows) == 2
    # each revised response's first answer is in lineage, as its parent, rejected as superseded
    first = {r["id"]: r for r in RunDir(run).store(1, "refine").iter_records(REJECTED)}
    assert rejected(run, 1, "refine") == {"superseded_round": 2}
    for r in (r for r in rows if r["revised"]):
        (parent,) = r["lineage"]["parents"]
        assert first[parent]["refine_round"] == 0 and first[parent]["response"] == r["initial_response"]
    assert all("lazy slob" not in r["response"] and "perfectly safe" not in r["response"] for r in rows)


def check_distill(m: dict[str, Any], run: Path, rows: list[dict[str, Any]]) -> None:
    step = m["steps"][-1]
    got = rejected(run, len(m["steps"]) - 1, step["name"])
    if step["type"] == "distill":  # n: 3, so each pair sets its middle sample aside
        assert got == {"no_preference_margin": got["no_preference_margin"], "not_paired": len(rows)}
    assert got["no_preference_margin"] > 0 and set(got) <= {"no_preference_margin", "not_paired"}
    assert len(rows) == 2 and all(r["chosen"] != r["rejected"] for r in rows)


def check_taxonomy(m: dict[str, Any], run: Path, rows: list[dict[str, Any]]) -> None:
    gen = m["steps"][1]["stats"]
    assert all(v >= 2 for v in gen["coverage"].values()) and len(gen["coverage"]) == 3
    assert rejected(run, 1, "taxonomy_generate") == {"copies_seed_example": 3}
    order = ["knowledge", "foundational_skills", "compositional_skills"]
    phases = [order.index(r["taxonomy_phase"]) for r in rows if not r.get("replay")]
    assert phases == sorted(phases)


def check_snippet_tasks(m: dict[str, Any], run: Path, rows: list[dict[str, Any]]) -> None:
    assert any("\n    carbon = sum(" in r["instruction"] for r in rows)  # code layout survives chunking


CHECKS = {"grounded_qa": check_grounded_qa, "prompt": check_prompt, "self_instruct": check_self_instruct,
          "evol_instruct": check_evol_instruct, "refine": check_refine, "distill": check_distill,
          "taxonomy": check_taxonomy, "snippet_tasks": check_snippet_tasks}


def test_every_recipe_has_an_example() -> None:
    used = set()
    for example, name in PIPELINES:
        raw = yaml.safe_load((EXAMPLES / example / name).read_text(encoding="utf-8"))
        used |= {next(iter(s)) for s in raw["steps"]}
    assert used >= RECIPES, RECIPES - used
    for example in {e for e, _ in PIPELINES}:
        readme = (EXAMPLES / example / "README.md").read_text(encoding="utf-8")
        assert "recorded example responses, scripted, not from a real model" in readme.lower(), example
        assert "backend=openai" in readme, example
        assert (EXAMPLES / example / "responses.jsonl").stat().st_size < 200_000


@pytest.mark.parametrize(("example", "pipeline"), RUN)
def test_example_runs_offline_from_its_recorded_responses(example: str, pipeline: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    r = tether("run", pipeline, "--run-dir", str(run), cwd=EXAMPLES / example)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((run / "manifest.json").read_text())
    assert m["status"] == "done" and m["dataset"]["rows"] > 0
    assert m["llm"] and all(u["backend"] == "replay" for u in m["llm"].values())
    assert sum(u["calls"] for u in m["llm"].values()) > 0
    assert all(u["failed_calls"] == 0 for u in m["llm"].values())  # no request missed the file
    assert all(s["counts"]["quarantined"] == 0 for s in m["steps"])
    rows = [json.loads(line) for line in (run / "dataset" / "data.jsonl").read_text().splitlines()]
    assert len(rows) == m["dataset"]["rows"]
    assert all(r["lineage"]["origin"] == "synthetic" and r["lineage"]["model"] == "openai:scripted" for r in rows)
    CHECKS[example](m, run, rows)
