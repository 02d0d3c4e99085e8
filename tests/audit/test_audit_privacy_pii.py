from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tether.audit import audit
from tether.audit.privacy_pii import (
    excess_p,
    pii_entities,
    pii_values,
    presence_result,
    replay_result,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def _rows(path):
    return [json.loads(line) for line in (DATA / path).read_text(encoding="utf-8").splitlines()]


def test_pii_values_uses_pattern_recognizers():
    vals = pii_values("Write to jane.doe@acme-mail.com or call 212-867-0187 today.")
    kinds = {v.split(":")[0] for v in vals}
    assert "EMAIL_ADDRESS" in kinds and "PHONE_NUMBER" in kinds
    assert pii_values("No personal data here at all.") == set()


def test_pii_values_are_whole_values_not_fragments():
    # the domain of an e-mail address, a bare module name and a file name are not URLs
    assert pii_entities("Mail john.smith@gmail.com now.") == (("EMAIL_ADDRESS", "john.smith@gmail.com"),)
    assert pii_entities("Call df.info() and run setup.py; see os.path.") == ()
    assert pii_entities('See "https://www.python.org/".') == (("URL", "https://www.python.org"),)
    assert pii_entities("SSN 536-22-8351, card 4539 1488 0343 6467") == (
        ("CREDIT_CARD", "4539148803436467"), ("US_SSN", "536228351"))


def test_pii_replay_counts_only_values_the_holdout_lacks():
    private = [f"Ask {u}@gmail.com or read https://www.python.org/ first." for u in ("ann", "bob", "cy", "dee")]
    holdout = [f"Write to {u}@yahoo.com; docs at https://www.python.org." for u in ("eve", "fay", "gus", "hal")]
    syn = [f"Contact {u}@gmail.com, see https://www.python.org/" for u in ("ivy", "jon", "kim", "lee", "mo")]
    syn += ["Nothing personal here."] * 95
    res = replay_result([str(i) for i in range(100)], syn, private, holdout)
    # the shared URL is public and fresh gmail addresses are not private values
    assert res.value == 0 and res.status == "ok" and res.details["public_pii_values"] == 1
    leaked = syn[:90] + [f"Mail {u}@gmail.com please." for u in ("ann", "bob", "cy", "dee", "ann") * 2]
    res = replay_result([str(i) for i in range(100)], leaked, private, holdout)
    assert res.value == pytest.approx(0.1) and res.status == "warn"
    assert res.offenders[0]["entities"] == ["EMAIL_ADDRESS"]


def _fresh_pii(rng, k):
    kinds = [f"Reach me at maria.{k}gonzalez@outlook.com.", f"Call ({212 + k}) 867-{1000 + k}.",
             f"My SSN is {536 + k}-22-{8351 + k}.", "Card 4539 1488 0343 6467 was charged."]
    return str(rng.choice(kinds))


def test_pii_presence_finds_fresh_pii_beside_natural_urls_and_emails():
    code = _rows("code_alpaca/code_alpaca_300.jsonl")
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in code]
    syn, ref = texts[:150], texts[150:]
    ids = [str(i) for i in range(150)]
    clean = presence_result(ids, syn, ref)
    assert clean.status == "ok" and any(e == "URL" for t in ref for e, _ in pii_entities(t))  # URLs of its own
    rng = np.random.default_rng(0)
    planted = list(syn)
    for k, i in enumerate(rng.choice(150, 12, replace=False)):  # 8% of the records
        planted[i] += " " + _fresh_pii(rng, k)
    res = presence_result(ids, planted, ref)
    assert res.status == "warn" and res.value >= 12 / 150 and res.details["p_value"] < 0.005
    by = res.details["by_type"]
    assert sum(by[t]["records"] for t in ("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD")) >= 12
    assert all(by[t]["baseline_rate"] == 0 for t in ("US_SSN", "CREDIT_CARD") if by[t]["records"])
    assert res.offenders and all(o["entities"] for o in res.offenders)
    # without real data to compare with, only card numbers, SSNs and IBANs are flagged
    alone = presence_result(ids, planted, None)
    assert alone.details["baseline"] is None
    assert alone.status == ("warn" if by["US_SSN"]["records"] >= 3 or by["CREDIT_CARD"]["records"] >= 3 else "ok")
    assert presence_result(ids, syn, None).status == "ok"


def test_pii_presence_survives_real_urls_and_emails_in_alpaca_eval(cfg):
    # AlpacaEval answers hold URLs and support addresses: two halves of one answer set agree
    rows = _rows("alpaca_eval/gpt4o.jsonl") + _rows("alpaca_eval/claude_verbose.jsonl")
    rng = np.random.default_rng(1)
    cfg.families = ["privacy"]
    for _ in range(3):
        perm = rng.permutation(len(rows))
        parts = [[rows[j] for j in perm[k::4]] for k in range(4)]
        rep = audit(parts[0], reference=parts[1], private=parts[2], holdout=parts[3], config=cfg)
        pres = rep.get("privacy.pii_presence_rate")
        assert pres.status == "ok" and pres.details["baseline_size"] == 240
        assert rep.get("privacy.pii_replay_rate").status == "ok"


def test_excess_p_is_fishers_one_sided_test():
    from scipy.stats import fisher_exact

    assert excess_p(8, 161, 0, 322) == pytest.approx(fisher_exact([[8, 153], [0, 322]], alternative="greater")[1])
    assert excess_p(0, 10, 5, 10) == 1.0


def test_presidio_reads_only_windows_around_hints():
    from tether.audit.privacy_pii import _windows

    long = "word " * 2000
    assert _windows(long + "the year 2024 and 3.5 percent") == []  # no number long enough, no @, no URL
    text = long + "call 415-867-5309 now " + long
    (a, b, kinds), = _windows(text)
    assert b - a < 200 and "PHONE_NUMBER" in kinds and text[a:b].count("415-867-5309") == 1
    assert pii_entities(text) == (("PHONE_NUMBER", "4158675309"),)
