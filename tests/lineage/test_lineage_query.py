"""SQL over a run: seeds of rejected records, scores, counts that match the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.lineage.query import LineageDB, query

SEEDS_OF_REJECTS = """
select seed_source, reason, count(*) as n from lineage
where status = 'rejected' group by all order by seed_source
"""


def test_which_seeds_produced_rejected_records_and_why(small_run: Path) -> None:
    rows = query(small_run, SEEDS_OF_REJECTS).to_pylist()
    assert rows == [
        {"seed_source": f"docs/{d}", "reason": "too_short", "n": 1}
        for d in ("a-compost.md", "b-worms.md", "c-heat.md")
    ]


def test_tables_agree_with_the_manifest(small_run: Path) -> None:
    manifest = json.loads((small_run / "manifest.json").read_text())
    with LineageDB(small_run) as db:
        n_dataset = db.sql("select count(*) n from dataset").to_pylist()[0]["n"]
        assert n_dataset == manifest["dataset"]["rows"] == 3
        per_step = db.sql("select step_index, status, count(*) n from lineage group by all order by 1, 2").to_pylist()
        got = {(r["step_index"], r["status"]): r["n"] for r in per_step}
        for s in manifest["steps"]:
            c = s["counts"]
            assert got.get((s["index"], "kept"), 0) == c["out"]
            assert got.get((s["index"], "rejected"), 0) == c["rejected"]
        # scores in long form: the filter scored all 6 answers, three of them under 40
        sc = db.sql("select status, count(*) n, max(value) mx from scores where key = 'score' group by 1 order by 1")
        rows = {r["status"]: r for r in sc.to_pylist()}
        assert rows["kept"]["n"] == 3 and rows["rejected"]["n"] == 3 and rows["rejected"]["mx"] < 40
        rej_cols = set(db.sql("select * from rejected").column_names)
        assert {"reject_reason", "reject_score", "instruction"} <= rej_cols and "text" not in rej_cols
        # struct access works on the raw lineage column too
        ok = db.sql("select count(*) n from dataset where lineage.origin = 'synthetic'").to_pylist()[0]["n"]
        assert ok == 3


def test_bad_sql_is_a_config_error(small_run: Path) -> None:
    with pytest.raises(ConfigError, match="SQL error"):
        query(small_run, "select nope from lineage")


def test_cli_lineage_json(small_run: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "tether", "lineage", str(small_run), "--sql", SEEDS_OF_REJECTS,
                        "--format", "json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3 and rows[0]["reason"] == "too_short"
    bad = subprocess.run([sys.executable, "-m", "tether", "lineage", str(small_run), "--sql", "selec 1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "SQL error" in bad.stderr and "Traceback" not in bad.stderr
