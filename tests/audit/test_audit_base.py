from __future__ import annotations

import math

import numpy as np
import pytest

from tether.audit import REGISTRY, AuditConfig, AuditReport, audit, load_audit_config, load_families
from tether.audit.base import bootstrap_ci, compare, parse_rule, wilson_ci
from tether.audit.gates import apply_gates, parse_gates
from tether.errors import AuditGateError, ConfigError


def test_rules():
    assert parse_rule(">= 0.3") == (">=", 0.3)
    assert compare(0.3, ">= 0.3") and not compare(0.29, ">= 0.3")
    assert compare(0, "== 0") and not compare(1, "== 0")
    with pytest.raises(ValueError):
        parse_rule("about 3")


def test_bootstrap_ci_covers_the_mean():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 1.0, 2000)
    lo, hi = bootstrap_ci(x, n_boot=300)
    assert lo < 2.0 < hi and hi - lo < 0.2


def test_wilson_ci_reference_value():
    # Wilson interval for 10/100 at 95%: [0.0552, 0.1744] (Newcombe 1998, table I method 3)
    lo, hi = wilson_ci(10, 100)
    assert math.isclose(lo, 0.0552, abs_tol=5e-4) and math.isclose(hi, 0.1744, abs_tol=5e-4)


def test_every_metric_has_metadata():
    load_families()
    assert len(REGISTRY) >= 35
    for key, info in REGISTRY.items():
        assert key == f"{info.family}.{info.name}"
        assert info.bounds[0] <= info.bounds[1]
        assert info.description.strip()
        if info.warn:
            parse_rule(info.warn)


def test_bad_audit_key_names_its_path():
    with pytest.raises(ConfigError, match=r"audit\.bogus"):
        load_audit_config({"bogus": 1})
    with pytest.raises(ConfigError, match=r"audit\.k"):
        load_audit_config({"k": "many"})
    with pytest.raises(ConfigError, match="unknown family"):
        AuditConfig(families=["vibes"])


def test_gates_check_names_and_fail_missing_metrics():
    with pytest.raises(ConfigError, match="unknown metric"):
        parse_gates({"diversity": {"distinct_9": ">= 1"}})
    with pytest.raises(ConfigError, match="OP NUMBER"):
        parse_gates({"diversity.distinct_2": "big"})
    gates = parse_gates({"privacy": {"exact_replay": "== 0"}})
    res = apply_gates([], gates)
    assert not res[0].passed and "not measured" in res[0].note


def test_a_failed_gate_on_an_unmeasured_metric_fails_its_family(cfg):
    # privacy needs --private; the gate on it fails, and so does the family on the scorecard
    cfg.families = ["quality"]
    cfg.gates = {"privacy.exact_replay": "== 0", "quality.empty_rate": "<= 0.5"}
    rep = audit([{"id": f"r{i}", "text": f"Record number {i} is fine."} for i in range(20)], config=cfg)
    card = rep.scorecard()
    assert card["privacy"] == "fail" and card["quality"] == "ok" and card["bias"] == "skipped"
    assert "privacy" in rep.skipped
    assert [g.metric for g in rep.failed_gates] == ["privacy.exact_replay"]
    with pytest.raises(AuditGateError):
        rep.raise_for_gates()
    assert AuditReport([], [], {}, {}).scorecard()["privacy"] == "skipped"


def test_gates_accept_metrics_named_after_a_score_column(cfg):
    # quality.judge_score_mean.<column> registers only when the family runs on that column
    gates = parse_gates({"quality": {"judge_score_mean": {"reward": ">= 3"}}})
    assert gates == {"quality.judge_score_mean.reward": ">= 3"}
    for bad in ("quality.judge_score_mean.", "quality.judge_score_meanx", "quality.reward"):
        with pytest.raises(ConfigError, match="unknown metric"):
            parse_gates({bad: ">= 3"})
    cfg.families = ["quality"]
    cfg.gates = {"quality.judge_score_mean.reward": ">= 3", "quality.judge_score_mean.rating": ">= 1"}
    recs = [{"id": f"r{i}", "text": f"Record number {i} is fine.", "reward": float(i % 4)} for i in range(20)]
    rep = audit(recs, config=cfg)
    by = {g.metric: g for g in rep.gates}
    assert by["quality.judge_score_mean.reward"].value == pytest.approx(1.5)
    assert not by["quality.judge_score_mean.reward"].passed
    assert rep.get("quality.judge_score_mean.reward").status == "fail"
    assert not by["quality.judge_score_mean.rating"].passed  # no such column: not measured
    assert "not measured" in by["quality.judge_score_mean.rating"].note
