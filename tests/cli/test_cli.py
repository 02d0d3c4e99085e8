"""The CLI: one-line errors with hints and the documented exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def tether(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"body": f"t{i}"}) + "\n" for i in range(10)))
    (tmp_path / "p.yaml").write_text("name: demo\nsteps:\n  - read: {path: d.jsonl, text_field: body}\n  - limit: {n: 4}\n")
    return tmp_path


@pytest.mark.slow
def test_run_inspect_and_rerun(project: Path) -> None:
    r = tether("run", "p.yaml", "--run-dir", "out", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "dataset: 4 records" in r.stdout
    r2 = tether("run", "p.yaml", "--run-dir", "out", cwd=project)
    assert r2.returncode == 0 and "nothing to do" in r2.stderr
    i = tether("inspect", "out", cwd=project)
    assert i.returncode == 0 and "limit" in i.stdout and "done" in i.stdout
    j = json.loads(tether("inspect", "out", "--json", cwd=project).stdout)
    assert [s["counts"]["out"] for s in j["steps"]] == [10, 4]
    r3 = tether("run", "p.yaml", "--run-dir", "out", "--set", "limit.n=2", cwd=project)
    assert r3.returncode == 0 and "dataset: 2 records" in r3.stdout


def test_validate_names_a_misspelled_key_and_exits_2(project: Path) -> None:
    (project / "bad.yaml").write_text("steps:\n  - read: {path: d.jsonl, txt_field: body}\n")
    r = tether("validate", "bad.yaml", cwd=project)
    assert r.returncode == 2
    assert "unknown key 'steps[0].read.txt_field'" in r.stderr and "Traceback" not in r.stderr
    ok = tether("validate", "p.yaml", cwd=project)
    assert ok.returncode == 0 and "ok:" in ok.stdout


def test_a_bad_card_key_is_reported_before_anything_runs(project: Path) -> None:
    (project / "card.yaml").write_text((project / "p.yaml").read_text() + "card: {licence: mit}\n")
    r = tether("validate", "card.yaml", cwd=project)
    assert r.returncode == 2 and "unknown key 'card.licence'" in r.stderr, r.stderr
    r = tether("run", "card.yaml", "--run-dir", "out", cwd=project)
    assert r.returncode == 2 and "unknown key 'card.licence'" in r.stderr
    assert not (project / "out").exists()  # no run directory, no manifest: nothing ran


def test_validate_parses_a_template_file_relative_to_the_pipeline_from_elsewhere(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "prompts").mkdir(parents=True)
    (project / "tasks.jsonl").write_text('{"instruction": "name a worm"}\n')
    (project / "prompts" / "ask.j2").write_text("For a {{ level }} reader: {{ instruction }}")
    (project / "p.yaml").write_text("llm: {default: {model: m}}\nsteps:\n  - read: {path: tasks.jsonl}\n"
                                    "  - prompt: {template_file: prompts/ask.j2}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = tether("validate", str(project / "p.yaml"), cwd=elsewhere)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "step prompt reads column(s) level, but the records at that point have: instruction" in r.stderr
    # the column is there: valid from anywhere
    (project / "tasks.jsonl").write_text('{"instruction": "name a worm", "level": "new"}\n')
    ok = tether("validate", str(project / "p.yaml"), cwd=elsewhere)
    assert ok.returncode == 0 and "ok:" in ok.stdout, ok.stderr


def test_bad_input_exits_3_with_file_and_line(project: Path) -> None:
    (project / "d.jsonl").write_text('{"body": "a"}\n{"body": \n')
    r = tether("run", "p.yaml", "--run-dir", "out", cwd=project)
    assert r.returncode == 3
    assert "d.jsonl:2: invalid JSON" in r.stderr and "hint:" in r.stderr and "Traceback" not in r.stderr


def test_usage_errors_exit_2(project: Path) -> None:
    assert tether("run", cwd=project).returncode == 2
    assert tether("run", "missing.yaml", cwd=project).returncode == 2
    assert tether("run", "p.yaml", "--set", "noequals", cwd=project).returncode == 2


def test_steps_lists_every_step_with_fields(project: Path) -> None:
    r = tether("steps", cwd=project)
    assert r.returncode == 0
    for name in ("read", "limit", "select"):
        assert f"{name} (" in r.stdout
    one = tether("steps", "read", cwd=project)
    assert "text_field" in one.stdout and "max_record_bytes" in one.stdout


def test_unknown_step_exits_2_with_close_names(project: Path) -> None:
    r = tether("steps", "reed", cwd=project)
    assert r.returncode == 2, r.stderr
    assert "unknown step 'reed'" in r.stderr and "did you mean: read" in r.stderr
    assert "Traceback" not in r.stderr
    none_close = tether("steps", "NOSUCH", cwd=project)
    assert none_close.returncode == 2 and "did you mean" not in none_close.stderr
