"""Families spread over worker processes give the report one process gives."""

from __future__ import annotations

import pytest
from audit_data import make_real

from tether.audit import audit
from tether.audit.base import FAMILIES
from tether.audit.dataset import AuditData, Corpus
from tether.audit.parallel import COST, IMPORT_COST, Worker, default_workers, plan


def test_plan_splits_every_family_once_and_balances_cost():
    for workers in (2, 3):
        groups = plan(list(FAMILIES), workers)
        assert sorted(f for g in groups for f in g) == sorted(FAMILIES)
        assert all(g == sorted(g, key=FAMILIES.index) for g in groups)  # the families' order kept
        load = [sum(COST[f] for f in g) + (IMPORT_COST if i == 0 else 0) for i, g in enumerate(groups)]
        assert max(load) - min(load) <= max(COST.values()) / 2, load
    assert plan(["quality"], 2) == [["quality"]]  # one family: no worker
    assert plan(list(FAMILIES), 1) == [list(FAMILIES)]


def test_default_workers_only_for_big_audits(cfg, monkeypatch):
    import tether.audit.parallel as parallel

    small = AuditData(Corpus("synthetic", make_real(100)), cfg)
    big = AuditData(Corpus("synthetic", make_real(3000)), cfg, reference=Corpus("reference", make_real(2000, seed=1)))
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    assert default_workers(small) == 1 and default_workers(big) == 2
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    assert default_workers(big) == 1


def _strip(report) -> dict:
    d = report.to_dict()
    for k in ("seconds", "family_seconds", "workers", "config"):
        d["meta"].pop(k)
    return d


def test_two_processes_give_the_report_of_one(cfg):
    data = make_real(1400, seed=5)
    syn = [dict(r, response="Sure! " + r["response"]) if i % 4 == 0 else r for i, r in enumerate(data[:600])]
    private, holdout = data[1200:1300], data[1300:]
    syn[:20] = private[:20]  # replayed private records
    kw = {"reference": data[600:1200], "private": private, "holdout": holdout,
          "benchmarks": {"b": [{"question": r["instruction"], "answer": r["response"]} for r in syn[100:110]]}}
    one = audit(syn, config=cfg.model_copy(update={"workers": 1}), **kw)
    two = audit(syn, config=cfg.model_copy(update={"workers": 2}), **kw)
    assert two.meta["workers"] == 2 and len(two.meta["family_seconds"]) == len(FAMILIES)
    assert _strip(two) == _strip(one)
    assert two.get("privacy.exact_replay").value == 20  # the planted defect, found
    assert set(two.plots) == {"token_frequency", "embedding_map"}


def test_a_failure_in_a_worker_is_raised_here(cfg):
    data = AuditData(Corpus("synthetic", make_real(30)), cfg)
    w = Worker(["no_such_family"], threads=1)
    w.send(data)
    with pytest.raises(KeyError, match="no_such_family") as err:
        w.result()
    assert any("audit worker for no_such_family" in n for n in err.value.__notes__)
    w.close()
    dead = Worker(["quality"], threads=1)
    dead.proc.kill()
    dead.send(data)
    with pytest.raises(RuntimeError, match="exited with status"):
        dead.result()
    dead.close()
