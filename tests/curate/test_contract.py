"""Contract over every registered curation step: counts in = kept + rejected (+ quarantined),
stable snake_case reasons, scores written on the record, config round-trips, determinism."""

from __future__ import annotations

import copy

import pytest
from curate_helpers import run_step
from curate_samples import SAMPLES, sample_ctx, sample_records

from tether.curate._private import SNAKE
from tether.pipeline.registry import _REGISTRY, get_step_class, load_builtins
from tether.pipeline.step import FilterStep, GlobalStep

load_builtins()
CURATE = sorted(t for t, c in _REGISTRY.items() if c.__module__.startswith("tether.curate"))


def test_every_curate_step_has_a_sample():
    assert CURATE, "no curation steps registered"
    assert set(CURATE) == set(SAMPLES), "add a sample config for each new curation step"


@pytest.mark.parametrize("step_type", CURATE)
def test_contract(step_type, tmp_path):
    cls = get_step_class(step_type)
    kwargs = SAMPLES[step_type](tmp_path)
    step = cls(**kwargs)
    # config round-trips through the pipeline form
    again = cls(**step.config_dict()[step_type])
    assert again.config_hash() == step.config_hash()
    assert step.description and step.input_columns()
    records = sample_records()
    out = run_step(step, copy.deepcopy(records), sample_ctx(step, tmp_path))
    n = len(out.kept) + len(out.rejected) + len(out.quarantined)
    assert n == len(records), f"{step_type}: {len(records)} in, {n} out"
    assert {r["id"] for r in out.kept} | {r["id"] for r, _ in out.rejected} | {
        r["id"] for r, _, _ in out.quarantined} == {r["id"] for r in records}
    for _, v in out.rejected:
        assert not v.keep and SNAKE.match(v.reason), v.reason
    if isinstance(step, FilterStep | GlobalStep):
        for rec in out.kept + [r for r, _ in out.rejected]:
            assert step.col("score") in rec, f"{step_type} does not write its score"
    for col in step.output_columns():
        assert all(col in rec for rec in out.kept), f"{step_type} declares {col} but does not write it"
    # and every column it writes is declared, so a pipeline can be checked before it runs
    before = {r["id"]: set(r) for r in records}
    for rec in out.kept + [r for r, _ in out.rejected]:
        added = set(rec) - before[rec["id"]]
        assert added <= step.output_columns(), f"{step_type} writes undeclared {sorted(added - step.output_columns())}"
    # deterministic
    out2 = run_step(cls(**kwargs), copy.deepcopy(records), sample_ctx(step, tmp_path))
    assert [r["id"] for r in out2.kept] == [r["id"] for r in out.kept]
    assert [(r["id"], v.reason) for r, v in out2.rejected] == [(r["id"], v.reason) for r, v in out.rejected]


def test_unknown_field_is_a_config_error():
    from tether.errors import ConfigError
    from tether.pipeline import Pipeline

    with pytest.raises(ConfigError, match=r"steps\[1\]\.dedup\.treshold"):
        Pipeline.from_dict({"steps": [{"read": {"path": "x.jsonl"}}, {"dedup": {"treshold": 0.8}}]})


