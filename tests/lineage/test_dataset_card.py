"""The dataset card: HF header, how it was made, what was filtered, audit, disclosure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from lineage_helpers import PIPELINE, make_project, run_project

from tether.errors import ConfigError
from tether.lineage.card import size_category, write_card
from tether.pipeline import RunDir


def _header(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_card_is_written_for_every_run_and_discloses(small_run: Path) -> None:
    text = (small_run / "card.md").read_text()
    head = _header(text)
    assert head["license"] == "other" and "synthetic" in head["tags"]
    assert head["size_categories"] == ["n<1K"] and head["task_categories"] == ["text-generation"]
    assert "**This dataset is synthetic.** 3 of 3 records (100.0%) were generated" in text
    assert "## Disclosure" in text and "## Intended use" in text and "## Known risks and limitations" in text
    # filtering: the filter step rejected 3 of 6, with the reason and its count
    assert "| lt_min_len | 6 | 3 | 0 | 50.0% | rejected: too_short (3) |" in text
    assert "Recipes of the final records: `lt_qa` (3)." in text
    assert "run seed: `7`" in text and "temperature: 0.5" in text
    assert "No audit was run" in text


def test_card_section_and_audit_report(tmp_path: Path, small_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["card"] = {"license": "cc-by-4.0", "tags": ["compost"], "intended_use": "Teaching a garden assistant.",
                   "known_limitations": ["Answers are one sentence long."],
                   "model_terms": {"test/echo": "https://example.org/terms"}}
    cfg["llm"] = {"default": {"backend": "openai", "model": "test/echo"}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run / "audit").mkdir()
    report = {"metrics": [{"family": "diversity", "name": "distinct_2", "value": 0.8123, "higher_is_better": True},
                          {"family": "privacy", "name": "pii_rate", "value": 0.0}],
              "gates": [{"name": "pii_rate<=0.01", "passed": True}, {"name": "distinct_2>=0.9", "passed": False}]}
    (run / "audit" / "report.json").write_text(json.dumps(report))
    write_card(RunDir(run))
    text = (run / "card.md").read_text()
    head = _header(text)
    assert head["license"] == "cc-by-4.0" and head["tags"][:3] == ["synthetic", "tether", "compost"]
    assert "| diversity | distinct_2 | 0.8123 | True |" in text and "| privacy | pii_rate | 0 |" in text
    assert "The audit gate `distinct_2>=0.9` failed" in text
    assert "Teaching a garden assistant." in text and "- Answers are one sentence long." in text
    assert "https://example.org/terms" in text


def test_card_from_a_real_audit_report_names_gates_and_shows_the_scorecard(tmp_path: Path, small_run: Path) -> None:
    from tether.audit import AuditConfig, audit
    from tether.embed import EmbedderConfig

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    records = [{"text": f"record number {i} about compost"} for i in range(30)]
    cfg = AuditConfig(families=["quality", "diversity"], embedder=EmbedderConfig(backend="hashing"), bootstrap=0,
                      gates={"quality.empty_rate": "== 0", "diversity.distinct_2": ">= 0.99"})
    report = audit(records, config=cfg)
    report.write(run / "audit")
    scorecard = report.scorecard()
    assert scorecard["diversity"] == "fail" and scorecard["quality"] in ("ok", "warn")  # the planted failure

    text = write_card(RunDir(run)).read_text()
    got = report.get("diversity.distinct_2").value
    assert f"Gates: `quality.empty_rate == 0` passed, `diversity.distinct_2 >= 0.99` FAILED (got {got:.4g})." in text
    assert "None passed" not in text and "`None`" not in text
    assert f"- The audit gate `diversity.distinct_2 >= 0.99` failed for this dataset (got {got:.4g})." in text
    # the scorecard: one row per measured family with its status; the others named as not measured
    assert "| family | status |" in text
    assert "| diversity | **FAIL** |" in text and f"| quality | {scorecard['quality']} |" in text
    assert "Not measured: fidelity (not in audit.families);" in text
    # each metric with its status
    for res in report.results:
        status = "**FAIL**" if res.status == "fail" else res.status
        assert f"| {res.info.family} | {res.info.name} | " in text
        row = next(line for line in text.splitlines() if line.startswith(f"| {res.info.family} | {res.info.name} | "))
        assert row.endswith(f"| {status} |"), row
    assert "No audit was run" not in text


def test_bad_card_key_names_the_field(tmp_path: Path) -> None:
    project = make_project(tmp_path, PIPELINE + "card: {licence: mit}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'card.licence'"):
        run_project(project, tmp_path / "run")
    assert not (tmp_path / "run" / "manifest.json").exists()  # checked before anything ran


def test_size_categories() -> None:
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]
