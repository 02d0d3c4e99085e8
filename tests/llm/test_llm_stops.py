"""A run stopped by a budget or by the error rate keeps its committed batches and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_teststeps import answer_for, pipeline_config, write_seeds

from tether.errors import BudgetExceededError, ErrorRateExceededError
from tether.llm.testing import FakeOpenAIServer
from tether.pipeline import Pipeline, RunDir


def _answered(srv: FakeOpenAIServer) -> list[str]:
    return [r["messages"][-1]["content"] for r in srv.answered]


def test_budget_stops_the_run_and_a_raised_budget_resumes_it(tmp_path: Path) -> None:
    write_seeds(tmp_path, 24)
    usage = {"prompt_tokens": 10, "completion_tokens": 10}
    with FakeOpenAIServer(lambda r: {"content": answer_for(r), "usage": usage}) as srv:
        llm = srv.llm_config(concurrency=1, max_tokens_budget=200)
        run_dir = tmp_path / "run"
        with pytest.raises(BudgetExceededError) as info:
            Pipeline.from_dict(pipeline_config(tmp_path, llm, batch_size=4)).run(run_dir)
        assert "max_tokens_budget is 200" in info.value.message and "rerun" in info.value.hint
        assert srv.calls == 10  # 20 tokens each: the 11th call is not made
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "failed" and manifest["error"] == "BudgetExceededError"
        store = dict(RunDir(run_dir).step_stores())["llm_ask_test"]
        assert store.counts()["in"] == 8  # two whole batches committed; the third was cut short

        # the same budget again: stops at once, no call
        with pytest.raises(BudgetExceededError):
            Pipeline.from_dict(pipeline_config(tmp_path, llm, batch_size=4)).run(run_dir)
        assert srv.calls == 10

        llm["max_tokens_budget"] = 10_000
        res = Pipeline.from_dict(pipeline_config(tmp_path, llm, batch_size=4)).run(run_dir)
        assert res.dataset_rows == 24
        answered = _answered(srv)
        assert len(answered) == 24 and len(set(answered)) == 24  # nothing asked twice


def test_error_rate_stops_the_run_and_a_rerun_resumes(tmp_path: Path) -> None:
    write_seeds(tmp_path, 24)
    broken = {"on": False}

    def fault(req):
        return "500" if broken["on"] else None

    def responder(req):
        if srv.calls >= 6:  # the server breaks down after six answers
            broken["on"] = True
        return answer_for(req)

    with FakeOpenAIServer(responder, fault=fault) as srv:
        llm = srv.llm_config(concurrency=2, max_retries=1, backoff_s=0.01, error_window=4)
        run_dir = tmp_path / "run"
        with pytest.raises(ErrorRateExceededError) as info:
            Pipeline.from_dict(pipeline_config(tmp_path, llm, batch_size=4)).run(run_dir)
        assert info.value.aborts_run and "of the last 4 requests failed" in info.value.message
        before = _answered(srv)
        stopped_at = len(srv.requests)
        assert 6 <= len(before) < 24
        assert len(srv.requests) < 24 + 12  # it stopped instead of failing every record

        broken["on"] = False  # the server is fixed
        srv.responder = answer_for
        res = Pipeline.from_dict(pipeline_config(tmp_path, llm, batch_size=4)).run(run_dir)
        store = dict(RunDir(run_dir).step_stores())["llm_ask_test"]
        quarantined = list(store.iter_records("quarantine"))
        # a record that failed before the stop, in a batch already committed, stays quarantined
        assert all("server error 500" in q["error_message"] for q in quarantined)
        assert res.dataset_rows + len(quarantined) == 24
        assert len(quarantined) <= 2
        again = [r["messages"][-1]["content"] for r in srv.answered[len(before):]]
        assert not set(again) & set(before) and len(before) + len(again) == res.dataset_rows
        assert len(srv.requests) - stopped_at == len(again)
