"""Forcing a rerun after fixing a cause the fingerprints cannot see: ``--from STEP`` redoes a
step and every later one with the cached answers, ``--fresh`` redoes everything and asks again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tether.errors import ConfigError
from tether.llm.testing import FakeOpenAIServer
from tether.pipeline import Pipeline, RunDir


def _config(tmp_path: Path, llm: dict[str, Any]) -> dict[str, Any]:
    rows = [{"instruction": f"question {i}"} for i in range(10)]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {
        "name": "redo",
        "llm": {"default": llm},
        "steps": [{"read": {"path": str(tmp_path / "q.jsonl")}},
                  {"prompt": {"template": "{{ instruction }}", "temperature": 0.0, "on_error": "quarantine"}},
                  {"length_filter": {"fields": "response", "min_words": 1}}],
    }


def _counts(run_dir: Path, step: str = "prompt") -> dict[str, int]:
    return dict(RunDir(run_dir).step_stores())[step].counts()


def test_from_a_step_retries_what_failed_with_the_answers_already_paid_for(tmp_path: Path) -> None:
    broken = {"on": True}

    def fault(req: dict[str, Any]) -> str | None:
        text = req["messages"][-1]["content"]
        return "500" if broken["on"] and text.endswith(("3", "7")) else None

    with FakeOpenAIServer(fault=fault) as srv:
        cfg = _config(tmp_path, srv.llm_config(max_retries=0, backoff_s=0.01))
        run_dir = tmp_path / "run"
        Pipeline.from_dict(cfg).run(run_dir)
        assert _counts(run_dir)["quarantined"] == 2 and srv.calls == 8
        broken["on"] = False  # the server is fixed; nothing in the pipeline changed
        assert not Pipeline.from_dict(cfg).run(run_dir).did_work  # a plain rerun sees nothing to do
        res = Pipeline.from_dict(cfg).run(run_dir, redo_from="prompt")
        assert _counts(run_dir) == {"in": 10, "out": 10, "rejected": 0, "quarantined": 0}
        assert res.dataset_rows == 10
        assert srv.calls == 10  # only the two that failed were asked again
        assert [s["status"] for s in res.steps] == ["skipped", "ran", "ran"]

        res = Pipeline.from_dict(cfg).run(run_dir, fresh=True)
        assert [s["status"] for s in res.steps] == ["ran", "ran", "ran"] and res.dataset_rows == 10
        assert srv.calls == 20  # every request asked again
        assert len(list(run_dir.glob("cache.*.sqlite"))) == 1  # the old answers were set aside, not deleted


def test_from_an_unknown_step_fails_before_anything_runs(tmp_path: Path) -> None:
    with FakeOpenAIServer() as srv:
        cfg = _config(tmp_path, srv.llm_config())
        with pytest.raises(ConfigError, match=r"--from promt: the pipeline has no step of that name \(its steps: "
                                              r"read, prompt, length_filter\)"):
            Pipeline.from_dict(cfg).run(tmp_path / "run", redo_from="promt")
        assert srv.calls == 0 and not (tmp_path / "run").exists()


def test_cli_from_and_fresh(tmp_path: Path) -> None:
    with FakeOpenAIServer() as srv:
        (tmp_path / "p.json").write_text(json.dumps(_config(tmp_path, srv.llm_config())), encoding="utf-8")
        cmd = [sys.executable, "-m", "tether", "run", str(tmp_path / "p.json"), "--run-dir", str(tmp_path / "run"), "-q"]
        assert subprocess.run(cmd, capture_output=True, text=True, timeout=120).returncode == 0
        r = subprocess.run([*cmd, "--from", "length_filter"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "nothing to do" not in r.stderr and srv.calls == 10
        both = subprocess.run([*cmd, "--fresh", "--from", "prompt"], capture_output=True, text=True, timeout=120)
        assert both.returncode == 2 and "not both" in both.stderr and "Traceback" not in both.stderr
