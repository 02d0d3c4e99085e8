"""A broken response cache stops the run with one line; no record is quarantined for it.

Before, SQLite's DatabaseError reached the step as a per-record error: every record still
waiting for the model was quarantined and committed, the rerun never retried them, and the
run exited 0 with part of its records (or, with the file corrupt from the start, a
traceback)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from llm_teststeps import answer_for, pipeline_config, write_seeds

from tether.errors import RunStateError
from tether.llm import LLMConfig, LLMRequest, LLMResponse, open_client
from tether.llm._private import Backend
from tether.llm.testing import FakeOpenAIServer

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


class Echo(Backend):
    identity = "local:echo"

    async def call(self, request: LLMRequest) -> LLMResponse:
        return LLMResponse(texts=[request.messages[-1].content.upper()], finish_reasons=["stop"])


class Malformed:
    """A SQLite connection whose file went bad after it was opened."""

    def __init__(self, db: sqlite3.Connection, after: int) -> None:
        self.db, self.left = db, after

    def execute(self, *a, **kw):  # noqa: ANN002, ANN003, ANN201
        self.left -= 1
        if self.left < 0:
            raise sqlite3.DatabaseError("database disk image is malformed")
        return self.db.execute(*a, **kw)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.db, name)


def test_a_cache_that_breaks_mid_run_raises_a_run_stopping_error(tmp_path):
    client = open_client(LLMConfig(model="echo"), backend=Echo(), cache_path=tmp_path / "cache.sqlite")
    client._cache._db = Malformed(client._cache._db, after=3)  # noqa: SLF001

    async def go():  # noqa: ANN202
        try:
            return await asyncio.gather(*(client.generate(LLMRequest.chat(f"q{i}", temperature=0))
                                          for i in range(6)), return_exceptions=True)
        finally:
            await client.aclose()

    out = asyncio.run(go())
    errors = [e for e in out if isinstance(e, BaseException)]
    assert errors and all(isinstance(e, RunStateError) and e.aborts_run for e in errors), errors
    assert "malformed" in str(errors[0]) and "cache.sqlite" in str(errors[0])


def test_a_corrupt_cache_file_is_one_line_and_quarantines_nothing(tmp_path):
    write_seeds(tmp_path, 12)
    with FakeOpenAIServer(answer_for, delay=0.0) as srv:
        cfg = pipeline_config(tmp_path, srv.llm_config(concurrency=2), batch_size=4)
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        (run_dir / "cache.sqlite").write_bytes(b"not a database " * 200)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(SRC)])}
        proc = subprocess.run([sys.executable, "-m", "tether.cli.app", "run", str(tmp_path / "p.yaml"),
                               "--run-dir", str(run_dir), "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "cache" in proc.stderr and "unusable" in proc.stderr and "Traceback" not in proc.stderr
    assert srv.calls == 0
    for q in run_dir.glob("steps/*/quarantine/*"):
        pytest.fail(f"a record was quarantined for the broken cache: {q}")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed"
