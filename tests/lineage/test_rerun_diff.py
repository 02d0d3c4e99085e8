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


def test_diff_counts_movement_beyond_noise_only(small_run: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(small_run, a)
    shutil.copytree(small_run, b)
    _audit(a, [
        {"family": "quality", "name": "judge_mean", "value": 4.1, "ci": [4.0, 4.2]},
        {"family": "diversity", "name": "distinct_2", "value": 0.61, "ci": [0.58, 0.64]},
        {"family": "fidelity", "name": "mmd", "value": 0.2000, "ci": None},
        {"family": "fidelity", "name": "coverage", "value": 0.50},
        {"family": "privacy", "name": "dcr", "value": 0.30, "ci": [0.25, 0.35]},
    ])
    _audit(b, [
        {"family": "quality", "name": "judge_mean", "value": 3.2, "ci": [3.1, 3.3]},  # intervals apart
        {"family": "diversity", "name": "distinct_2", "value": 0.62, "ci": [0.59, 0.65]},  # noise: they overlap
        {"family": "fidelity", "name": "mmd", "value": 0.2001},  # noise: 0.05% change, no interval
        {"family": "fidelity", "name": "coverage", "value": 0.60},  # 17% change, no interval
        {"family": "privacy", "name": "dcr", "value": 0.40},  # outside run A's interval
    ])
    d = diff_runs(a, b)
    assert {m.key for m in d.moved_metrics} == {"quality/judge_mean", "fidelity/coverage", "privacy/dcr"}
    noise = {m.key: m for m in d.metrics if not m.moved}
    assert set(noise) == {"diversity/distinct_2", "fidelity/mmd"}
    assert noise["diversity/distinct_2"].a != noise["diversity/distinct_2"].b  # changed, yet not moved
    judge = next(m for m in d.metrics if m.key == "quality/judge_mean")
    assert judge.delta == pytest.approx(-0.9) and judge.ci_a == [4.0, 4.2] and judge.ci_b == [3.1, 3.3]
    lines = {line.split()[0]: line for line in format_diff(d).splitlines() if line.startswith("  ") and "/" in line}
    assert lines["quality/judge_mean"].endswith("(-0.9)  *") and "[4, 4.2] -> 3.2 [3.1, 3.3]" in lines["quality/judge_mean"]
    assert lines["diversity/distinct_2"].endswith("(+0.01)")  # the delta shown, no mark
    assert not lines["fidelity/mmd"].endswith("*")
    # a looser tolerance: the 17% change is noise too; intervals still decide where given
    loose = diff_runs(a, b, rel_tol=0.25)
    assert {m.key for m in loose.moved_metrics} == {"quality/judge_mean", "privacy/dcr"}
    r = tether_cli("diff", str(a), str(b), "--json", "--rel-tol", "0.25")
    assert r.returncode == 0, r.stderr
    assert sorted(m["key"] for m in json.loads(r.stdout)["moved_metrics"]) == ["privacy/dcr", "quality/judge_mean"]
