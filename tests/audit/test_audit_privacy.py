from __future__ import annotations

import numpy as np
import pytest
from audit_data import make_real

from tether.audit import audit
from tether.audit.privacy import closest_distance, dcr_share, mia_auc, pii_values
from tether.errors import AuditGateError


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_dcr_share_null_value_is_one_half():
    # synthetic, private and holdout drawn independently from one distribution: by symmetry
    # P(closer to private) = 1/2 when private and holdout have the same size
    rng = np.random.default_rng(0)
    syn, priv, hold = (_unit(rng.normal(size=(2000, 8))) for _ in range(3))
    share = dcr_share(closest_distance(syn, priv)[0], closest_distance(syn, hold)[0])
    assert share == pytest.approx(0.5, abs=0.03)
    dm, dn = closest_distance(priv, syn)[0], closest_distance(hold, syn)[0]
    assert mia_auc(dm, dn) == pytest.approx(0.5, abs=0.03)


def test_pii_values_uses_pattern_recognizers():
    vals = pii_values("Write to jane.doe@example.com or call 212-555-0187 today.")
    kinds = {v.split(":")[0] for v in vals}
    assert "EMAIL_ADDRESS" in kinds and "PHONE_NUMBER" in kinds
    assert pii_values("No personal data here at all.") == set()


def _with_pii(records, prefix):
    return [dict(r, response=r["response"] + f" Contact {prefix}{i}.person{i}@{prefix}mail{i}.org for details.")
            for i, r in enumerate(records)]


def test_family_finds_replayed_records_and_pii(cfg):
    private = _with_pii(make_real(400, 11, "p"), "priv")
    holdout = _with_pii(make_real(400, 12, "h"), "hold")
    fresh = make_real(400, 13, "s")
    replayed = [dict(private[i], id=f"copy{i}") for i in range(40)]  # 40 exact copies
    near = [dict(private[100 + i], id=f"near{i}", response=private[100 + i]["response"] + " Indeed.")
            for i in range(20)]  # 20 near copies
    syn = fresh + replayed + near
    cfg.canaries = ["zebra-canary-7781", "owl-canary-1234", "never-planted-0000"]
    syn[0] = dict(syn[0], response=syn[0]["response"] + " zebra-canary-7781")
    syn[1] = dict(syn[1], response=syn[1]["response"] + " owl-canary-1234")
    cfg.families = ["privacy"]
    cfg.gates = {"privacy.exact_replay": "== 0"}
    rep = audit(syn, private=private, holdout=holdout, config=cfg)
    n = len(syn)
    assert rep.get("privacy.exact_replay").value == 40
    assert rep.get("privacy.exact_replay").details["holdout_baseline"] == 0
    nr = rep.get("privacy.near_replay_rate")
    assert nr.value == pytest.approx(60 / n, abs=0.01) and nr.details["holdout_baseline"] == 0
    assert rep.get("privacy.dcr_share").value > 0.5 + 0.5 * 60 / n - 0.03
    mia = rep.get("privacy.mia_auc")
    assert mia.value > 0.54
    # the members the attack finds most surely are replayed ones, each beside its copy
    planted = {f"p{i}" for i in range(40)} | {f"p{100 + i}" for i in range(20)}
    assert len(mia.offenders) == 10 and all(o["id"] in planted and o["set"] == "private" for o in mia.offenders)
    assert all(o["synthetic_id"].startswith(("copy", "near")) for o in mia.offenders)
    pii = rep.get("privacy.pii_replay_rate")
    assert pii.value == pytest.approx(60 / n, abs=0.005) and pii.details["holdout_baseline"] == 0
    assert pii.status == "warn" and "EMAIL_ADDRESS" in pii.offenders[0]["entities"]
    can = rep.get("privacy.canary_replay")
    assert can.value == 2 and set(can.details["replayed"]) == {"zebra-canary-7781", "owl-canary-1234"}
    assert rep.scorecard()["privacy"] == "fail"
    with pytest.raises(AuditGateError) as exc:
        rep.raise_for_gates()
    assert exc.value.exit_code == 5


def test_family_reports_nothing_on_fresh_data(cfg):
    private = _with_pii(make_real(400, 21, "p"), "priv")
    holdout = _with_pii(make_real(400, 22, "h"), "hold")
    cfg.families = ["privacy"]
    rep = audit(make_real(400, 23, "s"), private=private, holdout=holdout, config=cfg)
    assert rep.scorecard()["privacy"] == "ok", [(r.name, r.value, r.notes) for r in rep.results]
    d = rep.get("privacy.dcr_share")
    assert abs(d.value - 0.5) < 0.08 and d.details["null_value"] == 0.5
