from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from audit_data import make_real

from tether.audit import AuditConfig, audit
from tether.audit.base import wilson_ci
from tether.audit.dataset import AuditData, Corpus
from tether.audit.privacy import closest_distance, dcr_null_sd, dcr_share, mia_auc, run, too_close
from tether.errors import AuditGateError

CODE = Path(__file__).resolve().parents[1] / "data" / "code_alpaca" / "code_alpaca_300.jsonl"


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _corpus(name, emb):
    c = Corpus(name, [{"id": f"{name}{i}", "text": f"{name} record {i}"} for i in range(len(emb))])
    c.set_embeddings(_unit(emb))
    return c


def _run(syn, priv, hold, **cfg):
    data = AuditData(synthetic=_corpus("s", syn), config=AuditConfig(**cfg), private=_corpus("p", priv),
                     holdout=_corpus("h", hold))
    return {r.name.split(".", 1)[1]: r for r in run(data)}


def test_dcr_share_null_value_is_one_half():
    # synthetic, private and holdout drawn independently from one distribution: by symmetry
    # P(closer to private) = 1/2 when private and holdout have the same size
    rng = np.random.default_rng(0)
    syn, priv, hold = (_unit(rng.normal(size=(2000, 8))) for _ in range(3))
    share = dcr_share(closest_distance(syn, priv)[0], closest_distance(syn, hold)[0])
    assert share == pytest.approx(0.5, abs=0.03)
    dm, dn = closest_distance(priv, syn)[0], closest_distance(hold, syn)[0]
    assert mia_auc(dm, dn) == pytest.approx(0.5, abs=0.03)


def _hubby(rng, n=600, m=300):
    """Synthetic records crowding around a few real points (as templated records do): many
    of them share one nearest real record, so their votes are not independent."""
    centres = rng.normal(size=(20, 16))
    syn = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, 16))
    pool = np.r_[centres + 0.3 * rng.normal(size=(20, 16)), rng.normal(size=(2 * m - 20, 16)) * 1.5]
    return _unit(syn), _unit(pool)


def test_dcr_interval_is_the_label_permutation_spread_not_the_binomial_one():
    rng = np.random.default_rng(1)
    syn, pool = _hubby(rng)
    m = len(pool) // 2
    shares = []
    for _ in range(300):  # which real records are private and which are holdout: the null
        perm = rng.permutation(len(pool))
        ep, eh = pool[perm[:m]], pool[perm[m:]]
        shares.append(dcr_share(closest_distance(syn, ep)[0], closest_distance(syn, eh)[0]))
    perm = rng.permutation(len(pool))
    (d_p, i_p), (d_h, i_h) = closest_distance(syn, pool[perm[:m]]), closest_distance(syn, pool[perm[m:]])
    sd = dcr_null_sd(d_p, i_p, d_h, i_h, m)
    assert sd == pytest.approx(np.std(shares), rel=0.2)
    lo, hi = wilson_ci(round(0.5 * len(syn)), len(syn))
    assert (hi - lo) / 2 < 0.5 * 1.96 * sd  # the Wilson interval (the old one) is far too narrow here
    # and so it warns on most nulls of this kind, while the permutation interval seldom does
    wilson_warns = sum(wilson_ci(round(s * len(syn)), len(syn))[0] > 0.5 for s in shares)
    perm_warns = sum(s - 2.5758 * sd > 0.5 for s in shares)
    assert wilson_warns > 0.15 * len(shares) and perm_warns <= 0.02 * len(shares)


def test_dcr_and_membership_warn_when_their_interval_excludes_the_null():
    # 15% of the synthetic records are close copies of private records: DCR share ~0.57 and
    # membership AUC ~0.57, both under the old fixed 0.6 rule but far outside their nulls
    rng = np.random.default_rng(2)
    priv, hold = rng.normal(size=(3000, 32)), rng.normal(size=(3000, 32))
    syn = rng.normal(size=(3000, 32))
    leak = rng.choice(3000, 450, replace=False)
    syn[:450] = priv[leak] + 0.6 * rng.normal(size=(450, 32))
    res = _run(syn, priv, hold)
    dcr, mia = res["dcr_share"], res["mia_auc"]
    assert 0.52 < dcr.value < 0.6 and dcr.ci[0] > 0.5 and dcr.status == "warn"
    assert 0.52 < mia.value < 0.6 and mia.ci[0] > 0.5 and mia.status == "warn"
    assert dcr.details["p_value"] < 0.005 and mia.details["p_value"] < 0.005
    null = _run(rng.normal(size=(3000, 32)), priv, hold)
    assert null["dcr_share"].status == "ok" and null["mia_auc"].status == "ok"
    assert null["dcr_share"].ci[0] < 0.5 < null["dcr_share"].ci[1]


def test_too_close_p_value_is_calibrated_on_exchangeable_records():
    rng = np.random.default_rng(3)
    ps = []
    for _ in range(400):
        d = rng.gamma(2.0, size=500)
        ps.append(too_close(d[:200], d[200:], 0.02)[3])
    ps = np.array(ps)
    assert np.mean(ps < 0.05) <= 0.07 and np.mean(ps < 0.2) > 0.1  # valid, and not dead
    mask, thr, expected, p = too_close(np.r_[np.zeros(20), d[:180]], d[200:], 0.02)
    assert mask[:20].all() and p < 1e-3 and expected == pytest.approx(6 * 200 / 301)


def _code_parts():
    rows = [json.loads(line) for line in CODE.read_text(encoding="utf-8").splitlines()]
    return rows[:100], rows[100:200], rows[200:300]


def test_too_close_finds_private_copies_with_every_number_changed(cfg):
    syn, private, holdout = _code_parts()
    rng = np.random.default_rng(4)
    with_digits = [r for r in private if re.search(r"\d", r["output"] + r["instruction"] + r["input"])]
    syn = list(syn)
    for i, r in enumerate(with_digits[:10]):  # 10% of the synthetic records
        syn[i] = {k: re.sub(r"\d+", lambda mt: str(int(rng.integers(10, 10_000))), v) if k != "id" else f"leak{i}"
                  for k, v in r.items()}
    cfg.families = ["privacy"]
    rep = audit(syn, private=private, holdout=holdout, config=cfg)
    tc = rep.get("privacy.too_close_rate")
    assert tc.status == "warn" and tc.details["p_value"] < 0.005
    assert rep.get("privacy.exact_replay").value == 0  # no copy is exact
    found = {o["id"] for o in tc.offenders}
    assert len(found & {f"leak{i}" for i in range(10)}) >= 8
    assert all(o["private_id"] in {r["id"] for r in private} for o in tc.offenders)
    clean = audit(_code_parts()[0], private=private, holdout=holdout, config=cfg)
    assert clean.get("privacy.too_close_rate").status == "ok"


def test_exact_replay_is_measured_against_the_real_datas_own_duplicates(cfg):
    real = make_real(900, 31, "r")
    syn, private, holdout = real[:300], real[300:600], real[600:]
    dup = [dict(private[i], id=f"d{i}") for i in range(3)]
    natural = syn[:3] = [dict(d, id=f"s{i}") for i, d in enumerate(dup)]  # noqa: F841
    holdout[:3] = [dict(d, id=f"h{i}") for i, d in enumerate(dup)]  # the holdout shares them just as often
    cfg.families = ["privacy"]
    rep = audit(syn, private=private, holdout=holdout, config=cfg)
    ex = rep.get("privacy.exact_replay")
    assert ex.value == 3 and ex.details["holdout_baseline"] == 3 and ex.status == "ok"
    syn = syn[:3] + [dict(private[10 + i], id=f"copy{i}") for i in range(20)] + syn[23:]
    ex = audit(syn, private=private, holdout=holdout, config=cfg).get("privacy.exact_replay")
    assert ex.value == 23 and ex.status == "warn" and ex.details["p_value"] < 1e-3


def _with_pii(records, seed):
    # the same kind of fresh address for every side: random names, so no side stands out
    rng = np.random.default_rng(seed)
    out = []
    for i, r in enumerate(records):
        user = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 7))
        out.append(dict(r, response=r["response"] + f" Contact {user}.{i}@{user[:4]}mail.org for details."))
    return out


def test_family_finds_replayed_records_and_pii(cfg):
    private = _with_pii(make_real(400, 11, "p"), 1)
    holdout = _with_pii(make_real(400, 12, "h"), 2)
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
    ex = rep.get("privacy.exact_replay")
    assert ex.value == 40 and ex.details["holdout_baseline"] == 0 and ex.details["p_value"] < 1e-6
    nr = rep.get("privacy.near_replay_rate")
    assert nr.value == pytest.approx(60 / n, abs=0.01) and nr.details["holdout_baseline"] == 0
    assert nr.status == "warn"
    assert rep.get("privacy.too_close_rate").status == "warn"
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
    cfg.families = ["privacy"]
    for seed in (21, 31):
        private = _with_pii(make_real(400, seed, "p"), seed)
        holdout = _with_pii(make_real(400, seed + 1, "h"), seed + 1)
        rep = audit(make_real(400, seed + 2, "s"), private=private, holdout=holdout, config=cfg)
        assert rep.scorecard()["privacy"] == "ok", [(r.name, r.value, r.notes) for r in rep.results]
        d = rep.get("privacy.dcr_share")
        assert abs(d.value - 0.5) < 0.08 and d.details["null_value"] == 0.5
