"""Which text the audit measures, and the undefined status.

On real records: AlpacaEval answers of three models to the same 160 instructions
(tests/data/alpaca_eval, Apache-2.0). Before, Alpaca-shaped records (instruction, input,
output) were measured by their prompt only, so the three models got identical fidelity.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from tether.audit import AuditConfig, audit
from tether.audit.base import OK, UNDEFINED, WARN, MetricInfo, MetricResult
from tether.audit.dataset import Corpus, prompt_text, record_text, text_columns
from tether.embed import EmbedderConfig

DATA = Path(__file__).resolve().parents[1] / "data" / "alpaca_eval"


def _read(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_alpaca_record_is_measured_with_its_answer():
    r = {"instruction": "Sort the list.", "input": "3, 1, 2", "output": "1, 2, 3"}
    assert record_text(r) == "Sort the list.\n3, 1, 2\n1, 2, 3"
    assert text_columns(r) == ["instruction", "input", "output"]
    assert prompt_text(r) == "Sort the list.\n3, 1, 2"
    # an empty input is left out; question + answer + response-like extras are all kept
    assert record_text({"instruction": "Say hi.", "input": "", "output": "Hi."}) == "Say hi.\nHi."
    assert record_text({"question": "Why?", "answer": "Because.", "context": "ignored"}) == "Why?\nBecause."
    # text_fields still choose exactly
    assert record_text({"question": "Why?", "answer": "Because.", "context": "C"}, ["context", "answer"]) == "C\nBecause."


def test_three_models_get_different_fidelity_and_the_report_names_the_columns(tmp_path):
    cfg = AuditConfig(families=["fidelity"], embedder=EmbedderConfig(backend="hashing", dim=256), bootstrap=0)
    ref = _read("gpt4o")
    values = {}
    for name in ("claude_verbose", "qwen_1_8b"):
        rep = audit(_read(name), reference=ref, config=cfg)
        values[name] = rep.get("fidelity.unigram_jsd").value
        assert rep.meta["text_columns"]["synthetic"] == {"instruction": 160, "output": 160}
    page = tmp_path / "page"
    rep.write(page)
    assert "text measured (column: records): synthetic: instruction (160), output (160)" in (
        page / "report.html").read_text(encoding="utf-8")
    # the prompts are identical: measured on the prompt alone both divergences were 0
    assert min(values.values()) > 0.05
    assert values["claude_verbose"] != pytest.approx(values["qwen_1_8b"], abs=0.01)


def test_group_keys_pair_answers_to_one_instruction():
    a = Corpus("synthetic", _read("claude_verbose")[:20])
    b = Corpus("reference", _read("gpt4o")[:20])
    assert a.group_keys() == b.group_keys()
    assert len(set(a.group_keys())) == 20
    by_field = Corpus("s", [{"text": "x", "topic": "t1"}, {"text": "y"}]).group_keys("topic")
    assert by_field == ["topic:t1", ""]
    lineage = Corpus("s", [{"text": "x", "lineage": {"parents": ["p2", "p1"]}}]).group_keys()
    assert lineage == ["parent:p1"]


def test_nan_metric_is_undefined_not_ok():
    info = MetricInfo("thing", "quality", True, (0.0, 1.0), "a thing", warn="< 0.5")
    res = MetricResult.of(info, float("nan"), n=0)
    assert res.status == UNDEFINED and res.notes
    res.warn_if(True, "ignored")
    assert res.status == UNDEFINED
    assert MetricResult.of(info, 0.2, n=3).status == WARN
    assert MetricResult.of(info, 0.7, n=3).status == OK


def test_beyond_null_reads_the_interval():
    info = MetricInfo("share", "privacy", False, (0.0, 1.0), "a share")
    assert MetricResult.of(info, 0.58, n=100, ci=(0.53, 0.63)).beyond_null(0.5, worse="above")
    assert not MetricResult.of(info, 0.55, n=100, ci=(0.45, 0.65)).beyond_null(0.5, worse="above")
    assert MetricResult.of(info, 0.3, n=100, ci=(0.2, 0.4)).beyond_null(0.5, worse="below")
    assert not MetricResult.of(info, 0.3, n=100).beyond_null(0.5, worse="below")


def test_family_with_only_undefined_metrics_reads_undefined(tmp_path):
    # one record: distinct-n over one short record is defined, but the family-level
    # comparison metrics are not; build a report directly to pin the scorecard rule
    from tether.audit.runner import AuditReport

    info = MetricInfo("thing", "integrity", False, (0.0, 1.0), "a thing")
    res = MetricResult.of(info, math.nan, n=0)
    rep = AuditReport([res], [], {}, {})
    card = rep.scorecard()
    assert card["integrity"] == UNDEFINED and card["quality"] == "skipped"
    ok = MetricResult.of(MetricInfo("other", "integrity", False, (0.0, 1.0), "x"), 0.1, n=5)
    assert AuditReport([res, ok], [], {}, {}).scorecard()["integrity"] == OK
    rep.write(tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert ">undefined<" in page and "1 undefined" in page


def test_undefined_metric_in_a_real_audit():
    # three records a side: the classifier tests cannot run 5 folds, so their AUCs are undefined
    cfg = AuditConfig(families=["fidelity"], embedder=EmbedderConfig(backend="hashing", dim=64), bootstrap=0)
    syn = [{"text": f"the cat sat on mat {i}"} for i in range(3)]
    ref = [{"text": f"the dog sat on rug {i}"} for i in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rep = audit(syn, reference=ref, config=cfg)
    auc = rep.get("fidelity.c2st_tfidf_auc")
    assert math.isnan(auc.value) and auc.status == UNDEFINED
    assert rep.to_dict()["metrics"][0]["status"] == UNDEFINED


def test_cli_group_field_reaches_the_audit(tmp_path, capsys):
    from tether.cli.app import main

    syn = tmp_path / "syn.jsonl"
    syn.write_text("".join(json.dumps(r) + "\n" for r in _read("claude_verbose")[:40]), encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--synthetic", str(syn), "--family", "quality", "--embedder", "hashing",
              "--group-field", "dataset", "--out", str(tmp_path / "out")])
    assert exc.value.code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["config"]["group_field"] == "dataset"


def test_pii_presence_runs_without_a_private_set():
    # fresh PII in 15% of the records, with only a reference given: before, the privacy
    # family was skipped without --private, so the PII went unreported
    syn = _read("gpt4o")
    for i, r in enumerate(syn[::7]):
        r["output"] += f" Contact Dana Whitfield at dana.whitfield{i}@northmail.net or 415-{300 + i:03d}-{7100 + i:04d}."
    cfg = AuditConfig(families=["privacy"], embedder=EmbedderConfig(backend="hashing", dim=64))
    rep = audit(syn, reference=_read("claude_verbose"), config=cfg)
    assert "privacy" not in rep.skipped
    res = rep.get("privacy.pii_presence_rate")
    assert res.status == WARN and res.value >= 0.14
    clean = audit(_read("gpt4o"), reference=_read("claude_verbose"), config=cfg)
    assert clean.get("privacy.pii_presence_rate").status == OK


def test_docs_state_every_metric():
    """docs/audit.md lists every registered metric, and states a false-alarm count for each
    family measured on real data."""
    from tether.audit import REGISTRY, load_families

    load_families()
    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text(encoding="utf-8")
    missing = [k for k in REGISTRY if not k.startswith("quality.judge_score_mean.") and f"`{k}`" not in doc]
    assert not missing, missing
    section = doc.split("## Nulls, warn rules and false alarms on real data", 1)[1]
    for fam in ("quality", "diversity", "fidelity", "utility", "bias", "privacy", "contamination", "integrity"):
        assert f"### {fam}" in section and f"| {fam} |" in section, fam
