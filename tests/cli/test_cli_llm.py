"""The CLI with LLM steps against the loopback server: tokens survive a rerun, an LLM failure
exits 4, a bug exits 1 with its traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tether.llm.testing import FakeOpenAIServer

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


def tether(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def _project(tmp_path: Path, llm: dict, steps: list[dict], n: int = 6) -> Path:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": f"question {i}"}) + "\n" for i in range(n)))
    cfg = {"name": "cli-llm", "batch_size": 4, "plugins": ["cli_steps"], "llm": {"default": llm},
           "steps": [{"read": {"path": "d.jsonl"}}, *steps]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def _answer(req: dict) -> dict:
    return {"content": "answer to " + req["messages"][-1]["content"], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


@pytest.mark.slow
def test_inspect_shows_tokens_after_a_rerun(tmp_path: Path) -> None:
    with FakeOpenAIServer(_answer) as srv:
        project = _project(tmp_path, srv.llm_config(), [{"cli_ask": {}}])
        r = tether("run", "p.yaml", "--run-dir", "out", cwd=project)
        assert r.returncode == 0, r.stderr
        assert srv.calls == 6
        r2 = tether("run", "p.yaml", "--run-dir", "out", cwd=project)
        assert r2.returncode == 0 and "nothing to do" in r2.stderr, r2.stderr
        assert srv.calls == 6
    j = json.loads(tether("inspect", "out", "--json", cwd=project).stdout)
    ask = next(s for s in j["steps"] if s["name"] == "cli_ask")
    assert ask["status"] == "skipped"
    assert ask["llm_usage"]["calls"] == 6 and ask["llm_usage"]["prompt_tokens"] == 42
    assert ask["llm_usage"]["completion_tokens"] == 18
    table = tether("inspect", "out", cwd=project).stdout
    row = next(line for line in table.splitlines() if "cli_ask" in line)
    assert row.rstrip(" │|").split()[-1] == "60", row  # 42 + 18 tokens
    manifest = json.loads((project / "out" / "manifest.json").read_text())
    assert manifest["llm"]["default"]["calls"] == 6 and manifest["llm"]["default"]["total_tokens"] == 60


def test_a_server_that_keeps_failing_exits_4(tmp_path: Path) -> None:
    with FakeOpenAIServer(_answer, fault=lambda req: "500") as srv:
        llm = srv.llm_config(max_retries=1, backoff_s=0.01, timeout_s=5)
        project = _project(tmp_path, llm, [{"cli_ask": {"on_error": "raise"}}])
        r = tether("run", "p.yaml", "--run-dir", "out", cwd=project)
        assert srv.calls == 0 and len(srv.requests) >= 2  # it was asked, and retried
    assert r.returncode == 4, r.stderr
    assert "error:" in r.stderr and "500" in r.stderr and "Traceback" not in r.stderr
    assert json.loads((project / "out" / "manifest.json").read_text())["status"] == "failed"


def test_a_replay_miss_exits_4(tmp_path: Path) -> None:
    with FakeOpenAIServer(_answer) as srv:
        project = _project(tmp_path, srv.llm_config(), [{"cli_ask": {}}], n=3)
        assert tether("run", "p.yaml", "--run-dir", "rec", cwd=project).returncode == 0
        model = srv.llm_config()["model"]
    exp = tether("cache", "export", "rec", "--out", "answers.jsonl", cwd=project)
    assert exp.returncode == 0, exp.stderr
    # one more record than was recorded: its request has no recorded answer
    project = _project(tmp_path, {"backend": "replay", "model": model, "replay_file": "answers.jsonl"},
                       [{"cli_ask": {}}], n=4)
    r = tether("run", "p.yaml", "--run-dir", "replayed", cwd=project)
    assert r.returncode == 4, r.stderr
    assert "no answer for request" in r.stderr and "Traceback" not in r.stderr


def test_a_bug_exits_1_with_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "p.yaml").write_text("plugins: [cli_steps]\nsteps:\n  - read: {path: d.jsonl}\n  - cli_bug: {}\n")
    r = tether("run", "p.yaml", "--run-dir", "out", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Traceback" in r.stderr and "RuntimeError: planted bug in cli_bug" in r.stderr



def test_rerun_of_an_llm_run_replays_the_cache_with_the_server_gone(tmp_path: Path) -> None:
    with FakeOpenAIServer(_answer) as srv:
        project = _project(tmp_path, srv.llm_config(), [{"cli_ask": {}}], n=5)
        r = tether("run", "p.yaml", "--run-dir", "out", cwd=project)
        assert r.returncode == 0, r.stderr
        assert srv.calls == 5
    # the server is stopped: a rerun that asked the model would fail to connect
    r = tether("rerun", "out", "--out", "again", "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["identical"] is True
    assert res["dataset"]["original"] == res["dataset"]["rerun"] and res["dataset"]["rows"] == 5
    assert [s["step"] for s in res["steps"]] == ["00-read", "01-cli_ask"] and all(s["same"] for s in res["steps"])
    again = json.loads((project / "again" / "manifest.json").read_text())
    ask = next(s for s in again["steps"] if s["name"] == "cli_ask")
    assert ask["llm_usage"]["calls"] == 0 and ask["llm_usage"]["cached_calls"] == 5
    assert yaml.safe_load((project / "again" / "config.yaml").read_text())["llm"]["default"]["backend"] == "replay"
    original = json.loads((project / "out" / "manifest.json").read_text())
    assert again["dataset"]["digest"] == original["dataset"]["digest"]
