"""Attribute samplers: weights, distributions, files, personas, grid coverage, determinism."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from gen_helpers import run_steps

from tether.errors import ConfigError
from tether.generate import Sample, SampleAttributes
from tether.pipeline import Pipeline


def test_weighted_categories_follow_their_weights() -> None:
    out, _ = run_steps([Sample(n=4000, attributes={"tone": {"categories": {"dry": 1, "warm": 3}}})])
    share = Counter(r["tone"] for r in out.kept)["warm"] / 4000
    assert abs(share - 0.75) < 0.03
    assert len({r["id"] for r in out.kept}) == 4000


def test_distributions_are_clipped_rounded_and_deterministic() -> None:
    attrs = {"age": {"distribution": "normal", "mean": 40, "std": 15, "min": 18, "max": 90, "round": 0},
             "score": {"distribution": "uniform", "low": 0, "high": 1, "round": 2},
             "k": {"distribution": "randint", "low": 1, "high": 3}}
    a, _ = run_steps([Sample(n=2000, attributes=attrs)])
    ages = [r["age"] for r in a.kept]
    assert all(isinstance(x, int) and 18 <= x <= 90 for x in ages)
    assert abs(sum(ages) / len(ages) - 40) < 2 and min(ages) == 18  # the clip is reached
    assert {r["k"] for r in a.kept} == {1, 2, 3}
    assert all(r["score"] == round(r["score"], 2) for r in a.kept)
    b, _ = run_steps([Sample(n=2000, attributes=attrs)])
    assert [r["age"] for r in b.kept] == ages
    c, _ = run_steps([Sample(n=2000, attributes=attrs)], seed=1)
    assert [r["age"] for r in c.kept] != ages


def test_file_values_and_persona_records(tmp_path: Path) -> None:
    (tmp_path / "cities.txt").write_text("Lagos\nLima\n\nOslo\n", encoding="utf-8")
    (tmp_path / "people.jsonl").write_text(
        "".join(json.dumps({"job": j, "w": w}) + "\n" for j, w in [("nurse", 1), ("pilot", 0)]), encoding="utf-8")
    attrs = {"city": {"file": "cities.txt"},
             "persona": {"fields": {"job": {"file": "people.jsonl", "column": "job", "weights_column": "w"},
                                    "age": {"distribution": "randint", "low": 20, "high": 30}}}}
    out, _ = run_steps([Sample(n=300, attributes=attrs)], base_dir=tmp_path)
    assert {r["city"] for r in out.kept} == {"Lagos", "Lima", "Oslo"}
    assert {r["persona"]["job"] for r in out.kept} == {"nurse"}  # weight 0 never drawn
    assert all(20 <= r["persona"]["age"] <= 30 for r in out.kept)


def test_grid_covers_every_cell() -> None:
    attrs = {"topic": {"categories": ["a", "b", "c"]}, "level": {"categories": {"easy": 100, "hard": 1}},
             "x": {"value": 1}}
    out, _ = run_steps([Sample(n=12, attributes=attrs, grid=["topic", "level"])])
    cells = Counter((r["topic"], r["level"]) for r in out.kept)
    assert len(cells) == 6 and set(cells.values()) == {2}  # weights do not skew a grid
    with pytest.raises(ConfigError, match="n=4 cannot cover the grid's 6 cells"):
        run_steps([Sample(n=4, attributes=attrs, grid=["topic", "level"])])
    out, _ = run_steps([Sample(attributes=attrs, grid=["topic", "level"])])
    assert len(out.kept) == 6


def test_bad_attribute_specs_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"steps\[0\]\.sample\.attributes\.t.*exactly one of"):
        Pipeline.from_dict({"steps": [{"sample": {"n": 2, "attributes": {"t": {"categories": ["a"], "value": 1}}}}]})
    with pytest.raises(ConfigError, match="normal needs mean and std"):
        Pipeline.from_dict({"steps": [{"sample": {"n": 2, "attributes": {"t": {"distribution": "normal"}}}}]})


def test_sample_attributes_adds_columns_per_record() -> None:
    recs = [{"id": f"r{i}", "text": str(i), "lineage": None} for i in range(50)]
    step = SampleAttributes(attributes={"style": {"categories": ["terse", "chatty"]}})
    out, _ = run_steps([step], recs)
    assert [r["id"] for r in out.kept] == [r["id"] for r in recs]
    assert {r["style"] for r in out.kept} == {"terse", "chatty"}
    with pytest.raises(ConfigError, match="already have a column 'text'"):
        run_steps([SampleAttributes(attributes={"text": {"value": 1}})], recs)


def test_sample_runs_from_yaml(tmp_path: Path) -> None:
    pipe = Pipeline.from_dict({"steps": [{"sample": {"n": 5, "attributes": {"t": {"categories": ["a", "b"]}}}}]},
                              base_dir=tmp_path)
    res = pipe.run(tmp_path / "run")
    assert res.dataset_rows == 5
