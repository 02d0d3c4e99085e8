"""The whole audit: on two halves of one real dataset nothing is flagged; the CLI and the
pipeline hook write the reports and turn a failed gate into exit code 5."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from audit_data import make_real

from tether.audit import audit
from tether.cli.app import main


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _bench(n):
    rng = random.Random(9)
    return [{"id": f"b{i}", "question": f"Compute {rng.randint(100, 999)} times {rng.randint(100, 999)} and then add "
             f"{rng.randint(1, 99)} to the product of the two numbers before rounding it.", "answer": "x"}
            for i in range(n)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit_data")
    data = make_real(2000, seed=3)
    (d / "bench").mkdir()
    _write(d / "bench" / "arith.jsonl", _bench(100))
    return {
        "synthetic": _write(d / "syn.jsonl", data[:700]),
        "reference": _write(d / "ref.jsonl", data[700:1400]),
        "private": _write(d / "private.jsonl", data[1400:1700]),
        "holdout": _write(d / "holdout.jsonl", data[1700:2000]),
        "benchmarks": d / "bench",
        "dir": d,
    }


def test_full_audit_on_halves_flags_nothing(files, cfg):
    rep = audit(files["synthetic"], reference=files["reference"], private=files["private"],
                holdout=files["holdout"], benchmarks=files["benchmarks"], config=cfg)
    card = rep.scorecard()
    flagged = [(r.name, r.value, r.notes) for r in rep.results if r.status != "ok"]
    assert set(card.values()) == {"ok"}, flagged
    assert not rep.skipped
    for r in rep.results:  # every metric is inside its declared bounds
        lo, hi = r.info.bounds
        assert r.value != r.value or lo - 1e-9 <= r.value <= hi + 1e-9, r.name


def _cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr()


def test_cli_writes_reports_and_gates_exit_5(files, tmp_path, capsys):
    out = tmp_path / "out"
    gates = tmp_path / "gates.yaml"
    gates.write_text(yaml.safe_dump({"diversity.distinct_2": ">= 0.01", "privacy": {"exact_replay": "== 0"}}))
    base = ["audit", "--synthetic", str(files["synthetic"]), "--reference", str(files["reference"]),
            "--embedder", "hashing", "--family", "diversity", "--family", "privacy", "--out", str(out)]
    code, io = _cli(base + ["--private", str(files["private"]), "--holdout", str(files["holdout"]),
                            "--gates", str(gates)], capsys)
    assert code == 0, io.err
    report = json.loads((out / "report.json").read_text())
    assert {g["metric"] for g in report["gates"]} == {"diversity.distinct_2", "privacy.exact_replay"}
    assert all(g["passed"] for g in report["gates"])
    m = next(m for m in report["metrics"] if m["name"] == "diversity.near_duplicate_rate")
    assert {"value", "ci", "n", "offenders", "description", "higher_is_better", "bounds"} <= set(m)
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")

    # the private file is audited as synthetic: every record is replayed, the gate fails
    code, io = _cli(["audit", "--synthetic", str(files["private"]), "--private", str(files["private"]),
                     "--holdout", str(files["holdout"]), "--embedder", "hashing", "--family", "privacy",
                     "--gates", str(gates), "--out", str(out)], capsys)
    assert code == 5
    assert "privacy.exact_replay" in io.err and "Traceback" not in io.err
    report = json.loads((out / "report.json").read_text())
    assert report["scorecard"]["privacy"] == "fail"


def test_cli_bad_input_is_one_line(files, tmp_path, capsys):
    code, io = _cli(["audit", "--synthetic", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)], capsys)
    assert code == 3 and "no such file" in io.err and "Traceback" not in io.err
    bad = tmp_path / "bad.yaml"
    bad.write_text("distinct_77: '>= 1'\n")
    code, io = _cli(["audit", "--synthetic", str(files["synthetic"]), "--gates", str(bad), "--out", str(tmp_path)],
                    capsys)
    assert code == 2 and "unknown metric" in io.err
    cfgf = tmp_path / "cfg.yaml"
    cfgf.write_text("audit:\n  bogus: 1\n")
    code, io = _cli(["audit", "--synthetic", str(files["synthetic"]), "--config", str(cfgf), "--out", str(tmp_path)],
                    capsys)
    assert code == 2 and "audit.bogus" in io.err


def test_pipeline_runs_the_audit_after_export(files, tmp_path):
    from tether.errors import AuditGateError, ConfigError
    from tether.pipeline import Pipeline

    spec = {
        "name": "audited",
        "embedder": {"backend": "hashing"},
        "steps": [{"read": {"path": str(files["synthetic"])}}],
        "audit": {"reference": str(files["reference"]), "families": ["quality", "diversity"],
                  "gates": {"diversity.distinct_2": ">= 0.01"}},
    }
    p = tmp_path / "pipe.yaml"
    p.write_text(yaml.safe_dump(spec))
    Pipeline.from_yaml(p).run(tmp_path / "run")
    report = json.loads((tmp_path / "run" / "audit" / "report.json").read_text())
    assert report["meta"]["sizes"] == {"synthetic": 700, "reference": 700}
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["audit"]["scorecard"]["diversity"] in ("ok", "warn")

    spec["audit"]["gates"] = {"diversity.distinct_2": ">= 0.99"}
    p.write_text(yaml.safe_dump(spec))
    with pytest.raises(AuditGateError):
        Pipeline.from_yaml(p).run(tmp_path / "run2")
    spec["audit"] = {"bogus": 1}
    p.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"audit\.bogus"):
        Pipeline.from_yaml(p).run(tmp_path / "run3")
