"""Pipelines as graphs: steps name their inputs (``from:``), fan one set of prompts out to two
models, and ``join`` gathers their answers per prompt; resume and fingerprints per node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tether.errors import ConfigError
from tether.llm.testing import FakeOpenAIServer
from tether.pipeline import Pipeline, RunDir


def _config(tmp_path: Path, srv: FakeOpenAIServer, template_b: str = "{{ instruction }}") -> dict[str, Any]:
    rows = [{"instruction": f"question {i}"} for i in range(6)]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {
        "name": "graph",
        "llm": {"a": srv.llm_config(model="model-a"), "b": srv.llm_config(model="model-b")},
        "steps": [
            {"read": {"path": str(tmp_path / "q.jsonl")}},
            {"prompt": {"name": "answers_a", "llm": "a", "template": "{{ instruction }}", "temperature": 0}},
            {"prompt": {"name": "answers_b", "llm": "b", "template": template_b, "temperature": 0,
                        "from": "read"}},
            {"join": {"from": ["answers_a", "answers_b"], "key": ["instruction"], "collect": ["response"],
                      "min_members": 2}},
        ],
    }


def test_fan_out_to_two_models_and_join_per_prompt(tmp_path: Path) -> None:
    def answer(req: dict[str, Any]) -> str:
        return f"{req['model']} says: {req['messages'][-1]['content']}"

    with FakeOpenAIServer(answer) as srv:
        run_dir = tmp_path / "run"
        res = Pipeline.from_dict(_config(tmp_path, srv)).run(run_dir)
        assert res.dataset_rows == 6 and srv.calls == 12
        rows = [json.loads(x) for x in (run_dir / "dataset" / "data.jsonl").read_text().splitlines()]
        first = next(r for r in rows if r["instruction"] == "question 0")
        assert [(c["model"], c["response"]) for c in first["candidates"]] == [
            ("openai:model-a", "model-a says: question 0"), ("openai:model-b", "model-b says: question 0")]
        by_id = {r["id"]: r for name in ("answers_a", "answers_b")
                 for r in dict(RunDir(run_dir).step_stores())[name].iter_records()}
        assert sorted(first["lineage"]["parents"]) == sorted(c["id"] for c in first["candidates"])
        assert all(p in by_id for p in first["lineage"]["parents"])  # lineage reaches both models' answers

        again = Pipeline.from_dict(_config(tmp_path, srv)).run(run_dir)
        assert not again.did_work and again.dataset_digest == res.dataset_digest

        # a change on one branch redoes that branch and the join, not the other branch
        changed = Pipeline.from_dict(_config(tmp_path, srv, template_b="Answer: {{ instruction }}")).run(run_dir)
        status = {s["name"]: s["status"] for s in changed.steps}
        assert status == {"read": "skipped", "answers_a": "skipped", "answers_b": "ran", "join": "ran"}
        assert srv.calls == 18


def test_from_names_only_earlier_steps(tmp_path: Path) -> None:
    with FakeOpenAIServer() as srv:
        cfg = _config(tmp_path, srv)
        cfg["steps"][1]["prompt"]["from"] = "answers_b"
        with pytest.raises(ConfigError, match=r"steps\[1\]\.prompt\.from: 'answers_b' is a later step"):
            Pipeline.from_dict(cfg)
        cfg["steps"][1]["prompt"]["from"] = "nope"
        with pytest.raises(ConfigError, match=r"'nope' is not a step of this pipeline \(earlier steps: read\)"):
            Pipeline.from_dict(cfg)


def test_a_join_key_missing_or_a_short_group_is_rejected_with_its_reason(tmp_path: Path) -> None:
    rows = [{"instruction": "q1", "response": "a"}, {"instruction": "q1", "response": "b"},
            {"instruction": "q2", "response": "c"}, {"response": "no key"}]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = {"steps": [{"read": {"path": str(tmp_path / "r.jsonl")}},
                     {"join": {"key": ["instruction"], "collect": ["response"], "min_members": 2}}]}
    res = Pipeline.from_dict(cfg).run(tmp_path / "run")
    assert res.dataset_rows == 1
    store = dict(RunDir(tmp_path / "run").step_stores())["join"]
    reasons = sorted(r["reject_reason"] for r in store.iter_records("rejected"))
    assert reasons == ["missing_join_key", "too_few_members"]
    assert store.counts() == {"in": 4, "out": 1, "rejected": 2, "quarantined": 0}


def test_the_graph_reads_from_yaml_as_the_docs_write_it(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text('{"instruction": "q1", "response": "a"}\n{"instruction": "q1", "response": "b"}\n')
    (tmp_path / "p.yaml").write_text(
        "steps:\n"
        "  - read: {path: r.jsonl}\n"
        "  - limit: {name: first, n: 1}\n"
        "  - limit: {name: second, n: 1, random: true, from: read}\n"
        "  - join: {from: [first, second], key: [instruction], collect: [response]}\n", encoding="utf-8")
    pipe = Pipeline.from_yaml(tmp_path / "p.yaml")
    assert pipe.steps[2].inputs == ["read"] and pipe.steps[3].inputs == ["first", "second"]
    res = pipe.run(tmp_path / "run")
    assert res.dataset_rows == 1
