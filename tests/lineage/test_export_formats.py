"""Export formats round-trip through the datasets library, keeping id and origin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lineage_helpers import PIPELINE, make_project, run_project

from tether.errors import ConfigError, InputError
from tether.lineage.export import export_table, parse_format
from tether.records import new_record, to_table

datasets = pytest.importorskip("datasets")


def _load_json(path: Path, cache: Path) -> list[dict]:
    ds = datasets.Dataset.from_json(str(path), cache_dir=str(cache))
    return ds.to_list()


@pytest.fixture
def qa_table():
    recs = [new_record({"instruction": f"What is {i}?", "input": "ctx" if i % 2 else None, "response": f"It is {i}.",
                        "system": "Be brief."}, origin="synthetic" if i < 3 else "real", step="t")
            for i in range(5)]
    return to_table(recs), recs


def test_chat_alpaca_sharegpt_text_round_trip(tmp_path: Path, qa_table) -> None:
    table, recs = qa_table
    cache = tmp_path / "cache"
    chat = _load_json(export_table(table, tmp_path, "chat"), cache)
    assert [r["id"] for r in chat] == [r["id"] for r in recs]
    assert [r["origin"] for r in chat] == ["synthetic"] * 3 + ["real"] * 2
    assert chat[1]["messages"] == [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "What is 1?\n\nctx"},
                                   {"role": "assistant", "content": "It is 1."}]
    alpaca = _load_json(export_table(table, tmp_path, "alpaca"), cache)
    assert alpaca[0] == {"id": recs[0]["id"], "instruction": "What is 0?", "input": "", "output": "It is 0.",
                         "origin": "synthetic"}
    share = _load_json(export_table(table, tmp_path, "sharegpt:no_id"), cache)
    assert "id" not in share[0] and [m["from"] for m in share[0]["conversations"]] == ["system", "human", "gpt"]
    text = _load_json(export_table(table, tmp_path, "text:no_id,no_origin"), cache)
    assert set(text[0]) == {"text"} and text[0]["text"].endswith("It is 0.")


def test_preference_pairs_and_messages_column(tmp_path: Path) -> None:
    recs = [new_record({"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}",
                        "messages": json.dumps([{"role": "user", "content": f"p{i}"},
                                                {"role": "assistant", "content": f"good {i}"}])}, step="t")
            for i in range(4)]
    table = to_table(recs)
    pref = _load_json(export_table(table, tmp_path, "preference"), tmp_path / "c")
    assert pref[2] == {"id": recs[2]["id"], "prompt": "p2", "chosen": "good 2", "rejected": "bad 2", "origin": "synthetic"}
    chat = _load_json(export_table(table, tmp_path, "messages"), tmp_path / "c")  # alias of chat
    assert chat[3]["messages"][1] == {"role": "assistant", "content": "good 3"}


def test_hf_folder_keeps_everything(tmp_path: Path, qa_table) -> None:
    table, recs = qa_table
    ds = datasets.load_from_disk(str(export_table(table, tmp_path, "hf")))
    assert ds.num_rows == 5 and ds["id"] == [r["id"] for r in recs]
    assert ds["origin"] == ["synthetic"] * 3 + ["real"] * 2
    assert ds[0]["lineage"]["step"] == "t" and ds[4]["response"] == "It is 4."


def test_missing_columns_and_bad_formats_are_clear(tmp_path: Path) -> None:
    table = to_table([new_record({"text": "just text"}, step="t")])
    with pytest.raises(InputError, match=r"export preference: 1 of 1 records lack"):
        export_table(table, tmp_path, "preference")
    with pytest.raises(ConfigError, match="unknown export format 'csvx'"):
        parse_format("csvx")
    with pytest.raises(ConfigError, match="unknown option"):
        parse_format("chat:no_idd")


def test_pipeline_export_formats_use_the_hook(tmp_path: Path) -> None:
    body = PIPELINE.replace("formats: [parquet, jsonl]", "formats: [parquet, chat, alpaca, hf]")
    project = make_project(tmp_path, body)
    run = run_project(project, tmp_path / "run")
    chat = _load_json(run / "dataset" / "chat.jsonl", tmp_path / "c")
    assert len(chat) == 3 and all(r["origin"] == "synthetic" for r in chat)
    ds = datasets.load_from_disk(str(run / "dataset" / "hf"))
    assert sorted(ds["id"]) == sorted(r["id"] for r in chat)
