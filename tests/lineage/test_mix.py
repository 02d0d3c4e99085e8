"""Hybrid mixing and phased ordering: exact shares on planted skews, seeded, nothing lost."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from lineage_helpers import PIPELINE, make_project, run_project

from tether.errors import ConfigError
from tether.lineage.mix import mix_records, phase_order
from tether.lineage.trace import trace
from tether.pipeline import RunDir
from tether.records import new_record


def _recs(origin: str, topics: dict[str, int]) -> list[dict]:
    out = []
    for topic, n in topics.items():
        out += [new_record({"text": f"{origin} {topic} {i}", "topic": topic}, origin=origin, step="t") for i in range(n)]
    return out


def _share(recs: list[dict], topic: str | None = None) -> float:
    sel = [r for r in recs if topic is None or r["topic"] == topic]
    return sum(r["lineage"]["origin"] == "synthetic" for r in sel) / len(sel)


# planted skew: real is 75% topic a, synthetic is 80% topic b
REAL = {"a": 150, "b": 50}
SYN = {"a": 100, "b": 400}


def test_ratio_is_met_and_nothing_is_lost() -> None:
    real, syn = _recs("real", REAL), _recs("synthetic", SYN)
    res = mix_records(real, syn, ratio=0.3, rng=random.Random(1))
    # 200 real / 0.7 = 285 records at most: 86 synthetic + 199 real
    assert res.report["selected"] == {"real": 199, "synthetic": 86}
    assert abs(_share(res.selected) - 0.3) <= 1 / 285
    assert len(res.selected) + len(res.unselected) == 700
    assert {r["id"] for r in res.selected}.isdisjoint({r["id"] for r in res.unselected})


def test_stratified_mix_holds_the_share_in_every_stratum() -> None:
    real, syn = _recs("real", REAL), _recs("synthetic", SYN)
    plain = mix_records(real, syn, ratio=0.3, rng=random.Random(1))
    strat = mix_records(real, syn, ratio=0.3, rng=random.Random(1), stratify_by="topic")
    # without strata, the synthetic side's skew shows: topic b is far more synthetic than a
    assert _share(plain.selected, "b") - _share(plain.selected, "a") > 0.2
    assert abs(_share(strat.selected, "a") - 0.3) <= 1 / 214 and abs(_share(strat.selected, "b") - 0.3) <= 1 / 71
    assert strat.report["strata"]["a"] == {"real": 150, "synthetic": 100, "real_selected": 150, "synthetic_selected": 64}
    # the topic distribution of the result follows the real data (75% a), not the synthetic one
    topics = Counter(r["topic"] for r in strat.selected)
    assert abs(topics["a"] / len(strat.selected) - 0.75) < 0.01


def test_size_and_seed() -> None:
    real, syn = _recs("real", REAL), _recs("synthetic", SYN)
    a = mix_records(real, syn, ratio=0.5, rng=random.Random(3), size=100, stratify_by="topic")
    b = mix_records(real, syn, ratio=0.5, rng=random.Random(3), size=100, stratify_by="topic")
    c = mix_records(real, syn, ratio=0.5, rng=random.Random(4), size=100, stratify_by="topic")
    assert [r["id"] for r in a.selected] == [r["id"] for r in b.selected] != [r["id"] for r in c.selected]
    assert len(a.selected) == 100 and a.report["selected"] == {"real": 50, "synthetic": 50}
    with pytest.raises(ConfigError, match="ratio"):
        mix_records(real, syn, ratio=1.5, rng=random.Random(0))


def test_phases_with_replay() -> None:
    recs = [new_record({"text": f"{p}{i}", "taxonomy": f"{p}/leaf{i % 3}"}, step="t", model="m1", prompt_hash=f"h{i}")
            for p, n in (("knowledge", 10), ("foundational", 20), ("compositional", 40), ("other", 5)) for i in range(n)]
    order = ["Knowledge", "foundational", "compositional"]
    with pytest.raises(ConfigError, match=r"not in the phase order .*'other' \(5 records\)") as err:
        phase_order(recs, by="taxonomy", order=order, replay=0.1, rng=random.Random(0))
    assert "unlisted: last" in (err.value.hint or "") and "unlisted: reject" in (err.value.hint or "")
    out, left, rep = phase_order(recs, by="taxonomy", order=order, replay=0.1, rng=random.Random(0), unlisted="reject")
    assert len(left) == 5 and rep["phases"]["foundational"] == {"records": 20, "replayed": 2}
    assert {r["taxonomy"].split("/")[0] for r in left} == {"other"} and "phase" not in left[0]
    assert rep["phases"]["compositional"] == {"records": 40, "replayed": 4}
    assert [r["phase"] for r in out] == ["knowledge"] * 10 + ["foundational"] * 22 + ["compositional"] * 44
    firsts = {r["id"] for r in out[:10]}
    replays = [r for r in out if r["replay"]]
    assert len(replays) == 6 and all(r["lineage"]["recipe"] == "replay" for r in replays)
    assert all(r["lineage"]["model"] == "m1" and r["lineage"]["prompt_hash"].startswith("h") for r in replays)
    assert all(r["lineage"]["parents"][0] in firsts for r in out[10:32] if r["replay"])
    assert len({r["id"] for r in out}) == len(out)  # copies have their own ids
    assert [r["phase_index"] for r in out] == [0] * 10 + [1] * 22 + [2] * 44


def test_unlisted_phases_last_form_one_phase_of_their_own() -> None:
    recs = [new_record({"text": f"{p}{i}", "taxonomy": p}, step="t")
            for p, n in (("misc", 4), ("knowledge", 6), ("extra", 2), ("foundational", 6)) for i in range(n)]
    recs.append(new_record({"text": "no phase", "taxonomy": None}, step="t"))
    out, left, rep = phase_order(recs, by="taxonomy", order=["knowledge", "foundational"], replay=0.5,
                                 rng=random.Random(1), unlisted="last")
    assert left == [] and rep["not_listed"] == 0
    assert list(rep["phases"]) == ["knowledge", "foundational", "(unlisted)"]
    assert rep["phases"]["(unlisted)"] == {"records": 7, "replayed": 4}  # round(0.5 * 7) from the 12 before
    assert [r["phase_index"] for r in out] == [0] * 6 + [1] * 9 + [2] * 11
    tail = [r for r in out[15:] if not r["replay"]]
    assert sorted(str(r["taxonomy"]) for r in tail) == ["None"] + ["extra"] * 2 + ["misc"] * 4
    assert {r["phase"] for r in out[15:]} == {"(unlisted)"}
    assert all(r["lineage"]["parents"][0] in {x["id"] for x in out[:15]} for r in out[15:] if r["replay"])
    with pytest.raises(ConfigError, match="unlisted must be one of"):
        phase_order(recs, by="taxonomy", order=["knowledge"], replay=0.0, rng=random.Random(0), unlisted="drop")  # type: ignore[arg-type]


def test_mix_step_in_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "real.jsonl").write_text("".join(
        json.dumps({"instruction": f"Real question {i}?", "response": f"A real answer number {i} that is long enough.",
                    "level": "knowledge/x" if i < 5 else "foundational/y"}) + "\n" for i in range(10)))
    body = PIPELINE.replace(
        "  - lt_min_len: {min_chars: 40}\n",
        "  - lt_min_len: {min_chars: 40}\n  - mix: {path: real.jsonl, ratio: 0.25}\n")
    project = make_project(tmp_path, body)
    run = run_project(project, tmp_path / "run")
    m = json.loads((run / "manifest.json").read_text())
    mix = m["steps"][3]
    # 3 synthetic answers limit the mix: 12 records at 25% synthetic; one real record left out
    assert mix["counts"] == {"in": 3, "out": 12, "rejected": 1, "quarantined": 0}
    assert mix["stats"]["mix"]["selected"] == {"real": 9, "synthetic": 3} and mix["stats"]["mix"]["other_read"] == 10
    assert "3 of 12 records (25.0%) were generated" in (run / "card.md").read_text()
    kept = RunDir(run).store(3, "mix").table().to_pylist()
    real_rec = next(r for r in kept if r["lineage"]["origin"] == "real")
    t = trace(run, real_rec["id"])
    assert t.source.startswith("real.jsonl:") and t.seeds()[0].id == real_rec["id"]


def test_cli_mix_with_phases(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    syn = tmp_path / "syn.jsonl"
    real.write_text("".join(json.dumps({"text": f"r{i}", "tax": ["knowledge", "foundational"][i % 2]}) + "\n"
                            for i in range(40)))
    syn.write_text("".join(json.dumps({"text": f"s{i}", "tax": ["knowledge", "foundational"][i % 2] + "/x"}) + "\n"
                           for i in range(100)))
    out = tmp_path / "mixed"
    args = ["--real", str(real), "--synthetic", str(syn), "--ratio", "0.5", "--out", str(out), "--stratify-by", "tax",
            "--phase-field", "tax", "--phases", "knowledge,foundational", "--replay", "0.25", "-f", "text"]
    r = subprocess.run([sys.executable, "-m", "tether", "mix", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "mix_report.json").read_text())
    rows = [json.loads(x) for x in (out / "data.jsonl").read_text().splitlines()]
    # "tax" differs between sides ("knowledge" vs "knowledge/x"): strata do not meet, nothing is mixed ...
    assert report["selected"] == {"real": 0, "synthetic": 0} and rows == []
    i = args.index("--stratify-by")
    args2 = args[:i] + args[i + 2:]
    r = subprocess.run([sys.executable, "-m", "tether", "mix", *args2], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "mix_report.json").read_text())
    rows = [json.loads(x) for x in (out / "data.jsonl").read_text().splitlines()]
    assert report["selected"] == {"real": 40, "synthetic": 40}
    ph = report["phases"]["phases"]
    n_k, n_f = ph["knowledge"]["records"], ph["foundational"]["records"]
    assert n_k + n_f == 80 and ph["knowledge"]["replayed"] == 0 and ph["foundational"]["replayed"] == round(0.25 * n_f)
    assert [r["phase"] for r in rows] == ["knowledge"] * n_k + ["foundational"] * (n_f + round(0.25 * n_f))
    assert Counter(r["lineage"]["origin"] for r in rows if not r["replay"]) == {"real": 40, "synthetic": 40}
    assert all(r["lineage"]["parents"][0] in {x["id"] for x in rows[:n_k]} for r in rows if r["replay"])
    assert len((out / "text.jsonl").read_text().splitlines()) == len(rows)
    # one phase left out of --phases: an error by default, or set aside with --unlisted reject
    args3 = [a if a != "knowledge,foundational" else "knowledge" for a in args2]
    r = subprocess.run([sys.executable, "-m", "tether", "mix", *args3], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and f"'foundational' ({n_f} records)" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "tether", "mix", *args3, "--unlisted", "reject"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    aside = pq.read_table(out / "unselected.parquet").to_pylist()
    assert Counter(x["reject_reason"] for x in aside)["phase_not_listed"] == n_f
