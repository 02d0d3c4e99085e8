"""LLM steps in whole pipelines against the loopback server: nothing lost, reruns free,
secrets nowhere, a SIGKILL mid-step costs no repeated call."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from llm_teststeps import answer_for as _answer
from llm_teststeps import pipeline_config as _pipeline
from llm_teststeps import write_seeds as _seeds

from tether.llm.testing import FakeOpenAIServer
from tether.pipeline import Pipeline, RunDir
from tether.pipeline.progress import Progress

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

FAKE_KEY = "sk-tether-FAKE-7f3a9c21e5d84b60"


def _outcome(run_dir: Path, step: str = "llm_ask_test") -> tuple[list[str], list[str], list[dict[str, Any]]]:
    store = dict(RunDir(run_dir).step_stores())[step]
    kept = [r["id"] for r in store.iter_records("kept")]
    quarantined = list(store.iter_records("quarantine"))
    rejected = [r["id"] for r in store.iter_records("rejected")]
    assert rejected == []
    return kept, [r["id"] for r in quarantined], quarantined


def _input_ids(run_dir: Path) -> list[str]:
    return [r["id"] for r in dict(RunDir(run_dir).step_stores())["read"].iter_records()]


def test_faults_end_kept_or_quarantined_once_and_rerun_makes_no_calls(tmp_path: Path) -> None:
    _seeds(tmp_path, 40, poison={5, 17, 33})

    def fault(req):
        return "500" if "poison" in req["messages"][-1]["content"] else None

    with FakeOpenAIServer(_answer, rate_limit_first_n=3, error_500_first_n=3, hang_first_n=1,
                          malformed_first_n=2, truncated_first_n=2, fault=fault) as srv:
        llm = srv.llm_config(timeout_s=0.5, backoff_s=0.01, max_retries=3, concurrency=4)
        run_dir = tmp_path / "run"
        res = Pipeline.from_dict(_pipeline(tmp_path, llm)).run(run_dir)
        kept, quarantined, qrows = _outcome(run_dir)
        inputs = _input_ids(run_dir)
        assert len(kept) == 37 and len(quarantined) == 3
        assert sorted(kept + quarantined) == sorted(inputs)  # every record once, none twice
        assert len(set(kept)) == len(kept)
        assert {r["error_type"] for r in qrows} == {"LLMError"}
        assert all("server error 500" in r["error_message"] for r in qrows)
        assert all("poison" in r["text"] for r in qrows)
        assert res.dataset_rows == 37
        answered = srv.calls
        assert answered == 37

        manifest = json.loads((run_dir / "manifest.json").read_text())
        step = next(s for s in manifest["steps"] if s["name"] == "llm_ask_test")
        assert step["llm_usage"]["calls"] == 37 and step["llm_usage"]["prompt_tokens"] > 0
        assert manifest["llm"]["default"]["model"] == "openai:fake-model"

        # an edit of an unrelated step upstream reruns the LLM step: every answer is a cache hit
        n_requests = len(srv.requests)
        res2 = Pipeline.from_dict(_pipeline(tmp_path, llm, drop=["unused"])).run(run_dir)
        assert srv.calls == answered  # zero new answered calls
        new = srv.requests[n_requests:]
        assert new and all("poison" in r["messages"][-1]["content"] for r in new)  # only failures retried
        assert res2.dataset_rows == 37
        manifest = json.loads((run_dir / "manifest.json").read_text())
        step = next(s for s in manifest["steps"] if s["name"] == "llm_ask_test")
        assert step["llm_usage"]["cached_calls"] == 37 and step["llm_usage"]["calls"] == 0


def test_structured_step_quarantines_with_raw_text(tmp_path: Path) -> None:
    _seeds(tmp_path, 6, poison={2})

    def responder(req):
        q = next(m["content"] for m in req["messages"] if m["role"] == "user")
        if "poison" in q:
            return "I cannot answer that in JSON, sorry."
        return {"question": q, "answer": "yes"}

    with FakeOpenAIServer(responder) as srv:
        run_dir = tmp_path / "run"
        Pipeline.from_dict(_pipeline(tmp_path, srv.llm_config(), structured=True)).run(run_dir)
        kept, quarantined, qrows = _outcome(run_dir)
        assert len(kept) == 5 and len(quarantined) == 1
        assert qrows[0]["error_type"] == "LLMResponseError"
        assert qrows[0]["error_raw"] == "I cannot answer that in JSON, sorry."
        assert srv.calls == 5 + 3  # the bad one was asked three times


def test_the_api_key_appears_in_no_file_log_or_error(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("TETHER_TEST_KEY", FAKE_KEY)
    _seeds(tmp_path, 12, poison={3})

    def responder(req):
        if "poison" in req["messages"][-1]["content"]:  # a server that echoes the key back
            return {"status": 400, "body": {"error": {"message": f"Incorrect API key provided: {FAKE_KEY}"}}}
        return _answer(req)

    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(responder, expect_key=FAKE_KEY, error_500_first_n=2) as srv:
        llm = srv.llm_config(api_key_env="TETHER_TEST_KEY", backoff_s=0.01, price_per_1k_prompt=0.01)
        run_dir = tmp_path / "run"
        Pipeline.from_dict(_pipeline(tmp_path, llm)).run(run_dir)
        assert all(h["Authorization"] == f"Bearer {FAKE_KEY}" for h in srv.headers)  # it was used
    kept, quarantined, qrows = _outcome(run_dir)
    assert len(kept) == 11 and len(quarantined) == 1
    assert "***" in qrows[0]["error_message"]
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "cache.sqlite" for p in files) and len(files) > 8
    for p in files:
        assert FAKE_KEY.encode() not in p.read_bytes(), p
    assert FAKE_KEY not in caplog.text
    assert "TETHER_TEST_KEY" in (run_dir / "config.yaml").read_text()  # the variable's name, not its value


_KILL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from tether.pipeline import Pipeline
    cfg = json.loads(open(sys.argv[1]).read())
    res = Pipeline.from_dict(cfg).run(sys.argv[2])
    print("done", res.dataset_digest)
    """
)


def _run_in_a_process(tmp_path: Path, cfg: dict[str, Any], run_dir: Path, *, stdout: int) -> subprocess.Popen:
    """The pipeline run by a child process, to be killed."""
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    (tmp_path / "go.py").write_text(_KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    return subprocess.Popen([sys.executable, str(tmp_path / "go.py"), str(tmp_path / "cfg.json"), str(run_dir)],
                            env=env, stdout=stdout, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_mid_step_then_rerun_repeats_no_answered_call(tmp_path: Path) -> None:
    import threading

    _seeds(tmp_path, 32)
    lock = threading.Lock()
    state = {"arrived": 0, "armed": True}

    def freeze_after_13(req):  # requests after the 13th are held unanswered: the run freezes
        with lock:
            state["arrived"] += 1
            return "hang" if state["armed"] and state["arrived"] > 13 else None

    with FakeOpenAIServer(_answer, delay=0.02, fault=freeze_after_13) as srv:
        cfg = _pipeline(tmp_path, srv.llm_config(concurrency=2), batch_size=4)
        run_dir = tmp_path / "killed"
        proc = _run_in_a_process(tmp_path, cfg, run_dir, stdout=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while srv.faults["hang"] < 2 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.3)  # the client stores what it received
            before = [r["messages"][-1]["content"] for r in srv.answered]
            attempt1 = run_dir / "steps" / "01-llm_ask_test" / "_usage" / "attempt-001.json"
            while time.monotonic() < deadline and (not attempt1.exists() or
                                                   json.loads(attempt1.read_text())["default"]["calls"] < len(before)):
                time.sleep(0.01)  # the run writes its usage while the step runs
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        state["armed"] = False
        assert len(before) == 13
        store = dict(RunDir(run_dir).step_stores())["llm_ask_test"]
        assert store.success() is None  # killed mid-step
        committed = store.counts()["in"]
        assert committed < len(before)  # some answers arrived for a batch not yet committed

        n_answered = srv.calls
        res = Pipeline.from_dict(cfg).run(run_dir)
        again = [r["messages"][-1]["content"] for r in srv.answered[n_answered:]]
        assert not set(again) & set(before)  # no answered request was made again
        assert len(before) + len(again) == 32
        manifest = json.loads((run_dir / "manifest.json").read_text())
        step = next(s for s in manifest["steps"] if s["name"] == "llm_ask_test")
        usage = step["llm_usage"]
        # every answered call counts once: the killed attempt's and the resumed one's
        assert usage["calls"] == len(before) + len(again) == 32
        assert usage["cached_calls"] == len(before) - committed  # answered before the kill, not yet committed
        assert [a["calls"] for a in step["llm_attempts"]] == [len(before), len(again)]
        assert usage["prompt_tokens"] == sum(a["prompt_tokens"] for a in step["llm_attempts"]) > 0
        assert manifest["llm"]["default"]["calls"] == 32
        assert manifest["llm"]["default"]["prompt_tokens"] == usage["prompt_tokens"]

        # a rerun of the finished run keeps the usage that made it
        Pipeline.from_dict(cfg).run(run_dir)
        again_manifest = json.loads((run_dir / "manifest.json").read_text())
        step2 = next(s for s in again_manifest["steps"] if s["name"] == "llm_ask_test")
        assert step2["status"] == "skipped" and step2["llm_usage"] == usage
        assert again_manifest["llm"]["default"]["calls"] == 32

        # the same dataset as a run that was never interrupted
        fresh = Pipeline.from_dict(cfg).run(tmp_path / "fresh")
        assert res.dataset_rows == fresh.dataset_rows == 32
        assert res.dataset_digest == fresh.dataset_digest
        a = pq.read_table(run_dir / "dataset" / "data.parquet").to_pylist()
        assert sorted(r["answer"] for r in a) == sorted(f"answer to [question number {i}]" for i in range(32))


def test_a_slow_record_does_not_hold_the_next_batches_back(tmp_path: Path) -> None:
    # 8 batches of 4; the first record of every batch takes 1 s. Batch by batch this run takes
    # over 8 s; with batches overlapping, the slow records wait together.
    _seeds(tmp_path, 32)

    def answer(req: dict[str, Any]) -> Any:
        q = req["messages"][-1]["content"]
        n = int(q.split()[-1])
        return {"content": _answer(req), "delay": 1.0 if n % 4 == 0 else 0.0}

    class Counting(Progress):
        def __init__(self) -> None:
            self.steps: dict[str, list[int]] = {}
            self._cur = ""

        def step_started(self, index: int, name: str, kind: str, total: int | None) -> None:
            self._cur = name
            self.steps[name] = []

        def advance(self, n: int) -> None:
            self.steps[self._cur].append(n)

    with FakeOpenAIServer(answer) as srv:
        llm = srv.llm_config(timeout_s=5.0, concurrency=16)
        run_dir = tmp_path / "run"
        progress = Counting()
        t0 = time.monotonic()
        Pipeline.from_dict(_pipeline(tmp_path, llm, batch_size=4)).run(run_dir, progress=progress)
        took = time.monotonic() - t0
        kept, quarantined, _ = _outcome(run_dir)
        assert kept == _input_ids(run_dir) and quarantined == []  # every record, in input order
        assert took < 5.0, took
        # progress counts records as they finish, not whole batches
        ticks = progress.steps["llm_ask_test"]
        assert sum(ticks) == 32 and ticks.count(1) >= 24


@pytest.mark.slow
def test_sigkill_at_full_speed_repays_only_answers_still_on_the_wire(tmp_path: Path) -> None:
    # 400 prompts at concurrency 16, killed (SIGKILL, no grace) while answers stream in: every
    # answer the client had time to receive is in the cache, so the rerun asks again only for
    # those in flight at the kill (answers whose bytes left the server in the last moments)
    _seeds(tmp_path, 400)
    with FakeOpenAIServer(_answer, delay=0.03) as srv:
        cfg = _pipeline(tmp_path, srv.llm_config(concurrency=16), batch_size=64)
        run_dir = tmp_path / "killed"
        proc = _run_in_a_process(tmp_path, cfg, run_dir, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while srv.calls < 160 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.002)
        t_kill = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        answered = list(srv.answered)
        settled = {r["messages"][-1]["content"] for r in answered if srv.sent_at.get(id(r), 1e18) < t_kill - 0.1}
        n0 = len(srv.requests)
        Pipeline.from_dict(cfg).run(run_dir)
        asked_again = {r["messages"][-1]["content"] for r in srv.requests[n0:]}
        repaid = asked_again & {r["messages"][-1]["content"] for r in answered}
        assert len(answered) >= 160 and settled
        assert not (asked_again & settled)  # nothing received 0.1 s before the kill was asked again
        assert len(repaid) <= 16  # at most the requests in flight
        kept, quarantined, _ = _outcome(run_dir)
        assert len(kept) == 400 and quarantined == []


def test_answers_lost_from_the_cache_are_named_before_they_are_paid_again(tmp_path: Path, caplog) -> None:
    import sqlite3

    _seeds(tmp_path, 12)
    with FakeOpenAIServer(_answer) as srv:
        cfg = _pipeline(tmp_path, srv.llm_config(concurrency=4), batch_size=4)
        run_dir = tmp_path / "run"
        Pipeline.from_dict(cfg).run(run_dir)
        assert srv.calls == 12
        db = sqlite3.connect(run_dir / "cache.sqlite")  # as if the -wal file holding 5 answers was lost
        db.execute("DELETE FROM llm_responses WHERE rowid IN (SELECT rowid FROM llm_responses LIMIT 5)")
        db.commit()
        db.close()
        with caplog.at_level(logging.WARNING, logger="tether.pipeline.runner"):
            Pipeline.from_dict(cfg).run(run_dir, redo_from="llm_ask_test")
        line = "holds 7 answers of openai:fake-model, but earlier attempts at this run received 12: 5 were lost"
        assert any(line in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
        assert srv.calls == 17  # the 5 lost answers were asked again, and said so beforehand
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert any(line in w for w in manifest["warnings"])
