"""Step and pipeline names become folder names in the run directory: a name that could
point outside it (``../x``, ``a/b``, an absolute path) is refused when the config is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.pipeline import Pipeline, RunDir, load_config


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("name", ["../evil", "a/b", "/abs", "..", ".", "a\\b", "x\x00y", "n" * 101, " lead"])
def test_a_step_name_that_is_not_a_plain_folder_name_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    cfg = {"steps": [{"read": {"path": "d.jsonl"}}, {"limit": {"n": 1, "name": name}}]}
    with pytest.raises(ConfigError) as info:
        Pipeline.from_dict(cfg, base_dir=tmp_path)
    msg = str(info.value)
    assert "steps[1].limit.name" in msg and "letters, digits" in msg and "\n" not in msg
    assert info.value.hint and "name:" in info.value.hint
    assert not any(tmp_path.parent.glob("evil*")) and not (tmp_path / "evil").exists()


def test_a_bad_step_name_in_yaml_stops_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    p = _write(tmp_path, "steps:\n  - read: {path: d.jsonl, name: ../../escape}\n")
    with pytest.raises(ConfigError, match=r"bad value for 'steps\[0\]\.read\.name'"):
        load_config(p)
    assert not (tmp_path / "escape").exists()


def test_ordinary_step_names_are_accepted(tmp_path: Path) -> None:
    cfg, _ = load_config(_write(tmp_path, "steps:\n  - read: {path: a, name: read-v1.2_x}\n  - limit: {n: 1, name: L2}\n"))
    assert [next(iter(s.values()))["name"] for s in cfg.steps] == ["read-v1.2_x", "L2"]


@pytest.mark.parametrize("name", ["../up", "a/b", "..", "/abs"])
def test_a_pipeline_name_that_would_leave_runs_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=r"bad value for 'name'"):
        Pipeline.from_dict({"name": name, "steps": [{"read": {"path": "a"}}]})


def test_the_run_directory_refuses_a_step_folder_outside_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="step name"):
        RunDir(tmp_path).step_dir(0, "../x")
