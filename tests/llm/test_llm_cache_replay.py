"""The response cache's key, ``tether cache stats/export``, and the replay backend."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from llm_teststeps import answer_for as _answer
from llm_teststeps import pipeline_config as _pipeline
from llm_teststeps import write_seeds as _seeds
from typer.testing import CliRunner

from tether.errors import ConfigError, ReplayMissError
from tether.llm import LLMConfig, LLMRequest, LLMResponse, ResponseCache, open_client, request_key
from tether.llm.testing import FakeOpenAIServer
from tether.pipeline import Pipeline


def test_key_depends_on_model_and_every_parameter_only() -> None:
    base = LLMRequest.chat("hello", system="s", temperature=0.0)
    k = request_key("openai:m", base)
    assert k == request_key("openai:m", LLMRequest.chat("hello", system="s", temperature=0.0))
    assert len(k) == 64
    variants = [
        request_key("openai:other", base),
        request_key("openai:m", base.model_copy(update={"temperature": 0.5})),
        request_key("openai:m", base.model_copy(update={"seed": 1})),
        request_key("openai:m", base.model_copy(update={"max_tokens": 9})),
        request_key("openai:m", base.model_copy(update={"output_schema": {"type": "object"}})),
        request_key("openai:m", LLMRequest.chat("hello!", system="s", temperature=0.0)),
    ]
    assert len({k, *variants}) == 7


def test_cache_stores_json_not_pickle_and_counts_hits(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    req = LLMRequest.chat("q")
    resp = LLMResponse(texts=["a"], finish_reasons=["stop"])
    key = request_key("openai:m", req)
    cache.put(key, "openai:m", req, resp)
    for _ in range(3):
        assert cache.get(key).texts == ["a"]
    assert cache.get("nope") is None
    cache.close()
    db = sqlite3.connect(tmp_path / "cache.sqlite")
    (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    stored, hits = db.execute("SELECT response, hits FROM llm_responses").fetchone()
    db.close()
    assert mode == "wal"
    assert json.loads(stored)["texts"] == ["a"] and hits == 3


def _recorded_run(tmp_path: Path) -> tuple[Path, dict]:
    _seeds(tmp_path, 5)
    with FakeOpenAIServer(_answer) as srv:
        run_dir = tmp_path / "live"
        res = Pipeline.from_dict(_pipeline(tmp_path, srv.llm_config())).run(run_dir)
    return run_dir, {"digest": res.dataset_digest, "rows": res.dataset_rows}


def test_cache_cli_stats_and_export_feed_the_replay_backend(tmp_path: Path) -> None:
    from tether.cli.app import _load_commands, app

    _load_commands()
    run_dir, live = _recorded_run(tmp_path)
    cli = CliRunner()
    r = cli.invoke(app, ["cache", "stats", str(run_dir), "--json"])
    assert r.exit_code == 0, r.output
    stats = json.loads(r.output)
    assert stats["entries"] == 5 and stats["by_model"]["openai:fake-model"]["entries"] == 5
    assert stats["prompt_tokens"] > 0
    r = cli.invoke(app, ["cache", "stats", str(run_dir)])
    assert r.exit_code == 0 and "openai:fake-model" in r.output

    out = tmp_path / "recorded.jsonl"
    r = cli.invoke(app, ["cache", "export", str(run_dir), "--out", str(out)])
    assert r.exit_code == 0 and "5 recorded answers" in r.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 5 and {x["model"] for x in lines} == {"openai:fake-model"}

    # offline, from the recorded file: the same dataset, no server needed
    replay = {"backend": "replay", "model": "fake-model", "replay_file": str(out)}
    res = Pipeline.from_dict(_pipeline(tmp_path, replay)).run(tmp_path / "replayed")
    assert (res.dataset_rows, res.dataset_digest) == (live["rows"], live["digest"])


def test_replay_from_a_cache_file_and_misses_are_errors(tmp_path: Path) -> None:
    run_dir, _ = _recorded_run(tmp_path)
    client = open_client(LLMConfig(backend="replay", model="openai:fake-model",
                                   replay_file=str(run_dir / "cache.sqlite")))

    async def ask(text):
        return await client.generate(LLMRequest.chat(text, system="Answer briefly.", temperature=0.0, max_tokens=32))

    assert asyncio.run(ask("question number 3")).text == "answer to [question number 3]"
    with pytest.raises(ReplayMissError) as info:
        asyncio.run(ask("a question never recorded"))
    assert "a question never recorded" in info.value.message and "no answer for request" in info.value.message
    assert "tether cache export" in info.value.hint


def test_replay_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="replay_file"):
        LLMConfig(backend="replay", model="m")
    with pytest.raises(ConfigError, match="does not exist"):
        open_client(LLMConfig(backend="replay", model="m", replay_file=str(tmp_path / "none.jsonl")))
    f = tmp_path / "r.jsonl"
    entry = {"model": "openai:a", "request": LLMRequest.chat("x").model_dump(),
             "response": {"texts": ["y"]}}
    f.write_text(json.dumps(entry) + "\n")
    with pytest.raises(ConfigError, match="openai:a"):
        open_client(LLMConfig(backend="replay", model="b", replay_file=str(f)))


def test_cache_cli_on_a_folder_without_cache(tmp_path: Path) -> None:
    from tether.cli.app import main

    with pytest.raises(SystemExit) as info:
        main(["cache", "stats", str(tmp_path)])
    assert info.value.code == 3


def test_relative_replay_file_resolves_against_the_pipeline_folder(tmp_path: Path, monkeypatch) -> None:
    from tether.cli.app import main

    run_dir, live = _recorded_run(tmp_path)
    with pytest.raises(SystemExit):
        main(["cache", "export", str(run_dir), "--out", str(tmp_path / "rec" / "answers.jsonl")])
    monkeypatch.chdir(run_dir)  # anywhere but the pipeline's folder
    cfg = _pipeline(tmp_path, {"backend": "replay", "model": "fake-model", "replay_file": "rec/answers.jsonl"})
    res = Pipeline.from_dict(cfg, base_dir=tmp_path).run(tmp_path / "replayed")
    assert res.dataset_rows == live["rows"]
    rows = pq.read_table(tmp_path / "replayed" / "dataset" / "data.parquet").to_pylist()
    assert sorted(r["answer"] for r in rows) == [f"answer to [question number {i}]" for i in range(5)]
