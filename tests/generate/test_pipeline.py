"""Recipes in a real run directory, and contract checks over every generation step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tether.errors import BudgetExceededError
from tether.generate.testing import fenced, request_text, schema_name, scripted_server
from tether.pipeline import Pipeline, RunDir
from tether.pipeline.registry import _REGISTRY, load_builtins


def responder(req) -> str:
    if schema_name(req) == "QAPairs":
        first = fenced(request_text(req))[0].split(".")[0]
        return json.dumps({"pairs": [{"question": f"What about {first}?", "answer": first}]})
    return json.dumps({"answerable": True, "grounded": True, "reason": "ok"})


def test_grounded_qa_resumes_after_a_budget_stop_without_repeating_calls(tmp_path: Path) -> None:
    """A run stopped part-way (the cost budget) resumes: answers already received come from the
    run's cache, so the server answers each distinct request exactly once over both runs."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        (docs / f"d{i}.md").write_text(f"# Doc {i}\nFact number {i} is about compost and worms and heat.", "utf-8")
    steps = [{"read": {"path": "docs"}}, {"grounded_qa": {"per_chunk": 1, "min_chunk_words": 3}}]
    with scripted_server(responder) as srv:
        # ~1,000 characters a prompt -> ~250 tokens at $1 per 1k tokens: the budget ends the run early
        llm = srv.llm_config(price_per_1k_prompt=1.0, max_cost_usd=0.5, concurrency=1)
        cfg = {"name": "g", "llm": {"default": llm}, "embedder": {"backend": "hashing"}, "steps": steps}
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        with pytest.raises(BudgetExceededError):
            Pipeline.from_yaml(tmp_path / "p.yaml").run(tmp_path / "run")
        first = srv.calls
        assert 0 < first < 8
        res = Pipeline.from_yaml(tmp_path / "p.yaml", overrides=["llm.default.max_cost_usd=100"]).run(tmp_path / "run")
        assert srv.calls == 8  # 4 generation + 4 judge requests, each answered once across both runs
        bodies = [json.dumps(b, sort_keys=True) for b in srv.answered]
        assert len(set(bodies)) == len(bodies)
        assert res.dataset_rows == 4
        step = res.steps[1]
        assert step["counts"] == {"in": 4, "out": 4, "rejected": 0, "quarantined": 0}
        assert step["stats"]["chunks"] == 4 and step["llm_usage"]["cached_calls"] == first
        rows = RunDir(tmp_path / "run").store(1, "grounded_qa").table().to_pylist()
        doc_ids = {r["id"] for r in RunDir(tmp_path / "run").store(0, "read").table().to_pylist()}
        assert all(r["lineage"]["parents"][0] in doc_ids for r in rows)
        again = Pipeline.from_yaml(tmp_path / "p.yaml", overrides=["llm.default.max_cost_usd=100"]).run(tmp_path / "run")
        assert not again.did_work and again.dataset_digest == res.dataset_digest and srv.calls == 8


GENERATE_STEPS = ["sample", "sample_attributes", "prompt", "grounded_qa", "snippet_tasks", "self_instruct",
                  "evol_instruct", "refine", "distill", "preference_pairs", "taxonomy", "taxonomy_generate",
                  "phase_order"]
REQUIRED = {"sample": {"n": 2, "attributes": {"a": {"value": 1}}}, "sample_attributes": {"attributes": {"a": {"value": 1}}},
            "preference_pairs": {"score_column": "s"}, "taxonomy": {"path": "t.yaml"}}


@pytest.mark.parametrize("name", GENERATE_STEPS)
def test_every_recipe_round_trips_its_config_and_documents_its_fields(name: str) -> None:
    load_builtins()
    cls = _REGISTRY[name]
    assert cls.__module__.startswith("tether.generate") and cls.description
    step = cls.model_validate(REQUIRED.get(name, {}))
    again = cls.model_validate(yaml.safe_load(yaml.safe_dump(step.model_dump(mode="json"))))
    assert again.config_hash() == step.config_hash()
    undocumented = [f for f, info in cls.model_fields.items() if not info.description]
    assert not undocumented, undocumented
    with pytest.raises(Exception, match="extra|unknown|Extra"):
        cls.model_validate({**REQUIRED.get(name, {}), "no_such_field": 1})
    if name not in ("sample", "taxonomy"):
        assert step.input_columns() or name == "sample_attributes"
    assert step.output_columns()
