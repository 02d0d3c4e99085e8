"""Rerun reproduces digests (and catches a step that does not); diff shows what moved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lineage_helpers import PIPELINE, make_project, run_project, tether_cli

from tether.errors import ConfigError
from tether.lineage.diff import diff_runs, format_diff
from tether.lineage.rerun import replay_config, rerun


def test_rerun_gives_identical_digests(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    run = run_project(project, tmp_path / "run")
    res = rerun(run)
    assert res.rerun == tmp_path / "run-rerun" and res.identical
    assert res.dataset["same"] and res.dataset["rows"] == 3 and len(res.steps) == 3
    assert all(s["same"] for s in res.steps)
    with pytest.raises(ConfigError, match="already exists"):
        rerun(run)
    # the CLI: exit 0 and "identical"
    r = tether_cli("rerun", str(run), "--out", str(tmp_path / "r2"))
    assert r.returncode == 0, r.stderr
    assert "identical" in r.stdout


def test_rerun_catches_a_step_that_does_not_reproduce(tmp_path: Path) -> None:
    body = PIPELINE.replace("  - lt_min_len: {min_chars: 40}\n", "  - lt_min_len: {min_chars: 40}\n  - lt_noisy: {}\n")
    project = make_project(tmp_path / "p", body)
    run = run_project(project, tmp_path / "run")
    res = rerun(run, tmp_path / "again")
    assert not res.identical and not res.dataset["same"]
    assert [s["step"] for s in res.steps if not s["same"]] == ["03-lt_noisy"]
    r = tether_cli("rerun", str(run), "--out", str(tmp_path / "again"), "--force",
                        "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["identical"] is False


def test_rerun_switches_llms_to_replay(tmp_path: Path) -> None:
    raw = {"llm": {"default": {"backend": "openai", "model": "m1", "api_key_env": "K"}}, "steps": []}
    cache = tmp_path / "cache.sqlite"
    with pytest.raises(ConfigError, match="no cache.sqlite"):
        replay_config(raw, cache)
    cache.write_bytes(b"")
    out = replay_config(raw, cache)
    assert out["llm"]["default"] == {"backend": "replay", "model": "m1", "replay_file": str(cache)}
    assert raw["llm"]["default"]["backend"] == "openai"  # the original is untouched


def _audit(run: Path, metrics: list[dict]) -> None:
    (run / "audit").mkdir(exist_ok=True)
    (run / "audit" / "report.json").write_text(json.dumps({"metrics": metrics}))


def test_diff_of_one_parameter_shows_it_and_what_moved(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    a = run_project(project, tmp_path / "a")
    b = run_project(project, tmp_path / "b", overrides=["lt_min_len.min_chars=1"])
    _audit(a, [{"family": "quality", "name": "mean_len", "value": 50.0}, {"family": "privacy", "name": "pii", "value": 0.0}])
    _audit(b, [{"family": "quality", "name": "mean_len", "value": 31.5}, {"family": "privacy", "name": "pii", "value": 0.0}])
    d = diff_runs(a, b)
    assert [(c.key, c.a, c.b) for c in d.config] == [("steps.lt_min_len.min_chars", 40, 1)]
    moved = {c.key: (c.a, c.b) for c in d.counts}
    assert moved == {"lt_min_len.out": (3, 6), "lt_min_len.rejected": (3, 0)}
    assert [(c.key, c.a, c.b) for c in d.dataset if c.key == "rows"] == [("rows", 3, 6)]
    assert [(m.key, m.delta) for m in d.moved_metrics] == [("quality/mean_len", -18.5)]
    assert len(d.metrics) == 2  # the unmoved one is shown too, side by side
    assert [(c.key, c.a, c.b) for c in d.reasons] == [("lt_min_len.rejected: too_short", 3, "<absent>")]
    text = format_diff(d)
    assert "steps.lt_min_len.min_chars  40 -> 1  (-39)  *" in text and "quality/mean_len" in text
    r = tether_cli("diff", str(a), str(b), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config"][0]["key"] == "steps.lt_min_len.min_chars"


def test_diff_of_a_run_with_itself_is_empty(small_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy"
    shutil.copytree(small_run, other)
    d = diff_runs(small_run, other)
    assert d.config == [] and d.counts == [] and d.reasons == [] and d.metrics == []
