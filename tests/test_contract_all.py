"""The step contract over every registered step, whatever its package: each builds from its
defaults or a minimal config, round-trips that config through YAML (and a pipeline file) to
the same fingerprint, forbids unknown fields, pickles without its clients, and declares the
columns it reads and writes before anything runs. Curation steps' behaviour on records is
covered by tests/curate/test_contract.py."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tether.pipeline import Pipeline
from tether.pipeline.registry import _REGISTRY, get_step_class, load_builtins
from tether.pipeline.step import FilterStep, GlobalStep, MapStep, SourceStep, Step

load_builtins()
# tether's own steps: test-only steps that other test modules register (when collected first)
# are not part of the contract
STEPS = sorted(t for t, cls in _REGISTRY.items() if cls.__module__.startswith("tether."))

# the least config of each step that has required fields (nothing is read: files need not exist)
MINIMAL: dict[str, dict[str, Any]] = {
    "decontaminate": {"benchmarks": [{"name": "geo", "path": "bench.jsonl", "fields": ["question"]}]},
    "ifd": {"model": "models/gpt2"},
    "join": {"key": ["instruction"], "collect": ["response"]},
    "limit": {"n": 2},
    "mix": {"path": "real.jsonl", "ratio": 0.5},
    "preference_pairs": {"score_column": "reward_model__score"},
    "read": {"path": "data.jsonl"},
    "read_files": {"path": "src"},
    "reward_model": {"model": "models/rm"},
    "sample": {"n": 2, "attributes": {"topic": {"categories": ["a", "b"]}}},
    "sample_attributes": {"attributes": {"topic": {"categories": ["a", "b"]}}},
    "taxonomy": {"path": "taxonomy.yaml"},
}
# steps for which reading no column, or writing none, is right (and why)
READS_NOTHING = {
    "read", "read_files", "sample", "taxonomy",  # sources: they make the records
    "sample_attributes",  # adds attribute columns to whatever comes in
    "limit",  # keeps or rejects whole records
    "select",  # with no keep/rename given, it reads nothing in particular
    "mix",  # mixes whole records with another dataset
}
WRITES_NOTHING = {
    "read",  # its columns are the file's: known from the file (peek_columns), not the config
    "limit", "select", "mix",  # shape or mix records, add no column
}


def build(step_type: str) -> Step:
    return get_step_class(step_type).model_validate(MINIMAL.get(step_type, {}))


def test_every_step_is_covered() -> None:
    assert len(STEPS) >= 30
    need = []
    for name in STEPS:
        cls = _REGISTRY[name]
        required = sorted(n for n, f in cls.model_fields.items() if f.is_required())
        if required and name not in MINIMAL:
            need.append(f"{name} ({', '.join(required)})")
    assert not need, f"add a minimal config to MINIMAL for: {'; '.join(need)}"
    assert (set(MINIMAL) | READS_NOTHING | WRITES_NOTHING) <= set(STEPS)


@pytest.mark.parametrize("step_type", STEPS)
def test_step_contract(step_type: str) -> None:
    cls = get_step_class(step_type)
    assert cls.type == step_type and cls.description.strip()
    assert cls.kind in ("source", "map", "filter", "global")
    # every field says what it does: `tether steps` and the docs show it
    undocumented = [n for n, f in cls.model_fields.items() if not (f.description or "").strip()]
    assert not undocumented, f"{step_type}: document the field(s) {undocumented} with a docstring"
    assert issubclass(cls, {"source": SourceStep, "map": MapStep, "filter": FilterStep, "global": GlobalStep}[cls.kind])
    step = build(step_type)

    # its config round-trips through YAML, as written in a pipeline file (defaults left out) and in full
    text = yaml.safe_dump(step.config_dict())
    (loaded,) = yaml.safe_load(text).items()
    assert loaded[0] == step_type
    assert cls(**(loaded[1] or {})).config_hash() == step.config_hash()
    full = yaml.safe_load(yaml.safe_dump(step.model_dump(mode="json")))
    assert cls.model_validate(full).config_hash() == step.config_hash()
    # and through a pipeline config: the step a pipeline builds from that YAML is the same step
    (built,) = Pipeline.from_dict({"steps": [yaml.safe_load(text)]}).steps
    assert type(built) is cls and built.config_hash() == step.config_hash()
    # a misspelt field is an error, never ignored
    with pytest.raises(ValidationError, match="no_such_field"):
        cls.model_validate({**MINIMAL.get(step_type, {}), "no_such_field": 1})
    # it pickles (for process and Ray workers) as its config, without clients or models
    again = pickle.loads(pickle.dumps(step))
    assert type(again) is cls and again.config_hash() == step.config_hash()

    # it declares the columns it reads, writes and removes, before setup and before any record
    reads, writes, removes = step.input_columns(), step.output_columns(), step.removed_columns()
    for cols in (reads, writes, removes):
        assert isinstance(cols, set) and all(isinstance(c, str) and c for c in cols), cols
    assert bool(reads) == (step_type not in READS_NOTHING), f"{step_type} reads {sorted(reads)}"
    assert bool(writes) == (step_type not in WRITES_NOTHING), f"{step_type} writes {sorted(writes)}"
    if isinstance(step, FilterStep):
        assert step.col("score") in writes, f"{step_type} does not declare its score column"
    if isinstance(step, SourceStep):
        assert not reads
        assert writes or callable(getattr(step, "peek_columns", None)), f"{step_type} cannot tell its columns"
