"""Trace: any record goes back to its seed document, rejected ones included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tether.errors import InputError
from tether.lineage.trace import format_trace, trace
from tether.pipeline import RunDir


def _dataset_ids(run: Path) -> list[str]:
    return pq.read_table(run / "dataset" / "data.parquet").column("id").to_pylist()


def test_every_kept_record_traces_to_its_seed_document(small_run: Path) -> None:
    ids = _dataset_ids(small_run)
    assert len(ids) == 3  # one long answer per document survives the filter
    sources = set()
    for rid in ids:
        t = trace(small_run, rid)
        assert t.final_status == "kept" and t.lineage["origin"] == "synthetic"
        assert t.lineage["model"] == "test/echo" and t.lineage["prompt_hash"] and t.lineage["template_hash"]
        assert t.step_config is not None and "lt_expand" in t.step_config
        assert t.step_config["lt_expand"]["temperature"] == 0.5
        assert [a.step for a in t.appearances] == ["lt_expand", "lt_min_len"]
        assert t.scores["lt_min_len__score"] >= 40
        (seed,) = t.seeds()
        assert seed.origin == "real" and seed.source.startswith("docs/")
        assert seed.payload["text"].endswith(t.payload["response"])
        sources.add(seed.source)
    assert sources == {"docs/a-compost.md", "docs/b-worms.md", "docs/c-heat.md"}


def test_rejected_record_shows_its_verdict_and_seed(small_run: Path) -> None:
    rejected = RunDir(small_run).store(2, "lt_min_len").table("rejected").to_pylist()
    assert len(rejected) == 3
    t = trace(small_run, rejected[0]["id"][:10])  # a unique prefix is enough
    assert t.id == rejected[0]["id"]
    last = t.appearances[-1]
    assert (last.status, last.reason, last.score) == ("rejected", "too_short", float(len(t.payload["response"])))
    assert t.seeds()[0].source.startswith("docs/")
    text = format_trace(t)
    assert "rejected (too_short)" in text and "seeds:" in text and "docs/" in text


def test_unknown_record_is_one_clear_error(small_run: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not in run"):
        trace(small_run, "nope-not-an-id")
    with pytest.raises(InputError, match="not a tether run directory|no such run directory"):
        trace(tmp_path, "x")


def test_cli_trace_json(small_run: Path) -> None:
    rid = _dataset_ids(small_run)[0]
    r = subprocess.run([sys.executable, "-m", "tether", "trace", str(small_run), rid, "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["id"] == rid and data["parents"][0]["lineage"]["origin"] == "real"
    bad = subprocess.run([sys.executable, "-m", "tether", "trace", str(small_run), "zzz"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 3 and "error:" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_quickstart_records_trace_to_their_seed_documents(tmp_path: Path) -> None:
    from tether.pipeline import Pipeline

    example = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "pipeline.yaml"
    res = Pipeline.from_yaml(example).run(tmp_path / "qs")
    ids = _dataset_ids(tmp_path / "qs")
    assert len(ids) == res.dataset_rows > 0
    for rid in ids:
        seeds = trace(tmp_path / "qs", rid).seeds()
        assert len(seeds) == 1 and seeds[0].source.startswith("docs/") and seeds[0].source.endswith(".md")


def test_raw_response_comes_from_the_llm_cache(small_run: Path, tmp_path: Path) -> None:
    cache_mod = pytest.importorskip("tether.llm.cache")
    if not hasattr(cache_mod, "ResponseCache"):
        pytest.skip("the LLM response cache is not in this build")
    import shutil

    from tether.llm.types import LLMRequest, LLMResponse

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    rid = _dataset_ids(run)[0]
    t = trace(run, rid)
    assert t.raw_response is None  # no cache yet
    cache = cache_mod.ResponseCache(run / "cache.sqlite")
    req = LLMRequest.chat("Ask question 0")
    cache.put(t.lineage["prompt_hash"], "test/echo", req, LLMResponse(texts=["RAW ANSWER TEXT"]))
    cache.close()
    assert trace(run, rid).raw_response == "RAW ANSWER TEXT"
    assert "raw response: RAW ANSWER TEXT" in format_trace(trace(run, rid))


def _prompt_run(tmp_path: Path, run: str, step: dict) -> Path:
    import yaml

    from tether.generate.testing import scripted_server
    from tether.pipeline import Pipeline

    project = tmp_path / "proj"
    (project / "prompts").mkdir(parents=True, exist_ok=True)
    (project / "prompts" / "ask.j2").write_text("Please answer: {{ instruction }}", encoding="utf-8")
    (project / "tasks.jsonl").write_text('{"instruction": "name a worm"}\n', encoding="utf-8")
    with scripted_server(lambda req: "a red wiggler", model="scripted") as srv:
        cfg = {"name": "tt", "llm": {"default": srv.llm_config()},
               "steps": [{"read": {"path": "tasks.jsonl"}}, {"prompt": step}]}
        (project / f"{run}.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        Pipeline.from_yaml(project / f"{run}.yaml").run(tmp_path / run)
    return tmp_path / run


def test_trace_names_the_template_file_or_the_shipped_default(tmp_path: Path) -> None:
    default_run = _prompt_run(tmp_path, "default", {})
    t = trace(default_run, _dataset_ids(default_run)[0])
    assert t.lineage["template_hash"] and t.templates == {"template": "prompt.j2 (shipped default)"}
    assert "  template: prompt.j2 (shipped default)" in format_trace(t).splitlines()

    file_run = _prompt_run(tmp_path, "file", {"template_file": "prompts/ask.j2"})
    t = trace(file_run, _dataset_ids(file_run)[0])
    resolved = tmp_path / "proj" / "prompts" / "ask.j2"
    assert t.templates == {"template": f"prompts/ask.j2 ({resolved})"}
    assert f"  template: prompts/ask.j2 ({resolved})" in format_trace(t).splitlines()

    inline_run = _prompt_run(tmp_path, "inline", {"template": "Q: {{ instruction }}"})
    assert trace(inline_run, _dataset_ids(inline_run)[0]).templates == {"template": "inline"}

    # the file gone since the run: the trace still names the configured file
    resolved.unlink()
    t = trace(file_run, _dataset_ids(file_run)[0])
    assert t.templates == {"template": f"prompts/ask.j2 ({resolved})"}
    r = subprocess.run([sys.executable, "-m", "tether", "trace", str(default_run), _dataset_ids(default_run)[0],
                        "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["templates"] == {"template": "prompt.j2 (shipped default)"}


def test_a_step_without_templates_names_none(small_run: Path) -> None:
    t = trace(small_run, _dataset_ids(small_run)[0])
    assert t.templates is None and "template:" not in format_trace(t)
