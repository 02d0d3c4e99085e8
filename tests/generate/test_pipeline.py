"""Recipes in a real run directory, and contract checks over every generation step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import tether.llm
from tether.generate.testing import ScriptedLLM, fenced, request_text, schema_name
from tether.pipeline import Pipeline, RunDir
from tether.pipeline.registry import _REGISTRY, load_builtins


def responder(req) -> str:
    if schema_name(req) == "QAPairs":
        first = fenced(request_text(req))[0].split(".")[0]
        return json.dumps({"pairs": [{"question": f"What about {first}?", "answer": first}]})
    return json.dumps({"answerable": True, "grounded": True, "reason": "ok"})


def test_grounded_qa_runs_resumably_with_lineage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    llm = ScriptedLLM(responder)
    monkeypatch.setattr(tether.llm, "open_client", lambda config, **kw: llm)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"d{i}.md").write_text(f"# Doc {i}\nFact number {i} is about compost and worms and heat.", "utf-8")
    cfg = {"name": "g", "llm": {"default": {"backend": "openai", "model": "m"}},
           "embedder": {"backend": "hashing"},
           "steps": [{"read": {"path": "docs"}}, {"grounded_qa": {"per_chunk": 1, "min_chunk_words": 3}}]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    res = Pipeline.from_yaml(tmp_path / "p.yaml").run(tmp_path / "run")
    assert res.dataset_rows == 3
    step = res.steps[1]
    assert step["counts"] == {"in": 3, "out": 3, "rejected": 0, "quarantined": 0}
    assert step["stats"]["chunks"] == 3 and step["llm_usage"]["calls"] == 6
    rows = RunDir(tmp_path / "run").store(1, "grounded_qa").table().to_pylist()
    doc_ids = {r["id"] for r in RunDir(tmp_path / "run").store(0, "read").table().to_pylist()}
    assert all(r["lineage"]["parents"][0] in doc_ids for r in rows)
    again = Pipeline.from_yaml(tmp_path / "p.yaml").run(tmp_path / "run")
    assert not again.did_work and again.dataset_digest == res.dataset_digest


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
