"""Config loading: YAML and Python go through the same models; bad keys name their path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.io import Read
from tether.pipeline import Pipeline, load_config
from tether.pipeline.builtins import Limit, Select


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_misspelled_step_key_names_its_path(tmp_path: Path) -> None:
    p = _write(tmp_path, "steps:\n  - read: {path: a.jsonl}\n  - limit: {n: 2, randon: true}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'steps\[1\]\.limit\.randon'"):
        load_config(p)


def test_misspelled_top_level_key_and_bad_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'stpes'"):
        load_config(_write(tmp_path, "stpes: []\n"))
    with pytest.raises(ConfigError, match=r"bad value for 'steps\[1\]\.limit\.n'"):
        load_config(_write(tmp_path, "steps:\n  - read: {path: a}\n  - limit: {n: many}\n"))


def test_unknown_step_suggests_a_close_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown step 'limt'") as info:
        load_config(_write(tmp_path, "steps:\n  - read: {path: a}\n  - limt: {n: 1}\n"))
    assert "limit" in (info.value.hint or "")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"p\.yaml:\d+: invalid YAML"):
        load_config(_write(tmp_path, "steps:\n  - read: {path: a\n  - x\n"))


def test_overrides_address_steps_by_name(tmp_path: Path) -> None:
    p = _write(tmp_path, "steps:\n  - read: {path: a}\n  - limit: {n: 2}\n  - limit: {name: second, n: 5}\n")
    cfg, base = load_config(p, ["limit.n=7", "second.random=true", "seed=3"])
    assert cfg.steps[1] == {"limit": {"n": 7}} and cfg.steps[2]["limit"]["random"] is True
    assert cfg.seed == 3 and base == tmp_path
    with pytest.raises(ConfigError, match="neither a step"):
        load_config(p, ["nosuch.x=1"])


def test_python_and_yaml_build_the_same_pipeline(tmp_path: Path) -> None:
    from_py = Pipeline.from_steps([Read(path="a.jsonl", text_field="body"), Limit(n=3), Select(drop=["x"])])
    from_yaml = Pipeline.from_yaml(
        _write(tmp_path, "steps:\n  - read: {path: a.jsonl, text_field: body}\n  - limit: {n: 3}\n"
               "  - select: {drop: [x]}\n")
    )
    assert [s.model_dump() for s in from_py.steps] == [s.model_dump() for s in from_yaml.steps]
    names = [s.instance_name for s in Pipeline.from_steps([Read(path="a"), Limit(n=1), Limit(n=2)]).steps]
    assert names == ["read", "limit", "limit_2"]


def test_optional_sections_are_validated_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'card\.licence'"):
        load_config(_write(tmp_path, "steps:\n  - read: {path: a}\ncard: {licence: mit}\n"))


def test_from_steps_takes_base_dir_and_resolves_paths_against_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text('{"text": "x"}\n{"text": "y"}\n{"text": "z"}\n', encoding="utf-8")
    pipe = Pipeline.from_steps([Read(path="a.jsonl"), Limit(n=2)], base_dir=data, name="py")
    assert pipe.base_dir == data and pipe.config.name == "py"
    res = pipe.run(tmp_path / "run")
    assert res.dataset_rows == 2
