"""``tether validate`` catches, before anything runs, what would stop a run part-way: each
problem on one line with its place in the YAML and a hint, and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def tether(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "TETHER_TEST_KEY"} | (env or {})
    return subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=full)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"question": f"q{i}"}) + "\n" for i in range(5)))
    return tmp_path


BAD = """
llm:
  teacher: {model: m, base_url: http://localhost:1/v1, api_key_env: TETHER_TEST_KEY}
steps:
  - read: {path: d.jsonl}
  - distill: {prompt_column: question, llm: teacher, n: 2, preference: judge, judge_llm: judge}
  - select: {keep: [prompt]}
  - length_filter: {fields: chosen, min_words: 1}
export: {formats: [parquet, chat]}
"""


def test_validate_lists_every_problem_and_exits_2(project: Path) -> None:
    (project / "p.yaml").write_text(BAD)
    r = tether("validate", "p.yaml", cwd=project)
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: steps[3].length_filter: step length_filter reads column(s) chosen, but the records at that point "
        "have: prompt",
        "error: steps[1].distill.judge_llm: step distill names llm 'judge', which the llm section does not define "
        "(it defines: teacher)",
        "error: llm.teacher.api_key_env: environment variable TETHER_TEST_KEY is not set (llm 'teacher', used by "
        "steps[1].distill.llm, reads its API key from it)",
        "error: export.formats[1]: export format 'chat' needs columns messages or instruction+response or "
        "instruction+output or question+answer or prompt+completion or prompt+response, but the last step's records "
        "have: length_filter__chars, length_filter__score, prompt",
    ], r.stderr
    assert r.stderr.count("hint:") == 4 and "Traceback" not in r.stderr and "ok:" not in r.stdout
    assert "4 problems; nothing was run" in r.stderr


def test_validate_names_a_missing_input_instead_of_skipping_the_column_check(project: Path) -> None:
    (project / "p.yaml").write_text("steps:\n  - read: {path: data/missing.jsonl}\n  - length_filter: {min_words: 1}\n")
    r = tether("validate", "p.yaml", cwd=project)
    assert r.returncode == 2, r.stdout
    assert f"error: steps[0].read.path: input 'data/missing.jsonl' does not exist (resolved to {project}" in r.stderr
    assert "ok:" not in r.stdout


def test_validate_is_ok_when_everything_is_there(project: Path) -> None:
    (project / "p.yaml").write_text(BAD.replace("judge_llm: judge", "judge_llm: teacher")
                                    .replace("keep: [prompt]", "keep: [prompt, chosen, rejected]")
                                    .replace("chat]", "preference]"))
    r = tether("validate", "p.yaml", cwd=project, env={"TETHER_TEST_KEY": "sk-test"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: p.yaml (4 steps: read, distill, select, length_filter)")
