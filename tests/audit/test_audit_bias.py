"""The bias family against its nulls: reference values of the association measures, small
counts that must not warn, and planted stereotype associations that must."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
from audit_data import JOB_GENDER, make_real

from tether.audit import AuditConfig, audit
from tether.audit.bias import bias_amplification, cooccurrence_shift
from tether.audit.bias_association import association_interaction, fightin_words, load_stereotypes
from tether.audit.bias_embedding import association_scores, weat_effect_size
from tether.audit.bias_null import max_column_test, side_masks, side_sums
from tether.audit.bias_run import amplification_rows, shift_rows, two_proportion_z
from tether.embed import EmbedderConfig

WINO = Path(__file__).resolve().parents[1] / "data" / "winobias"


def _wino() -> list[tuple[str, str]]:
    """(pro, anti) twins of the committed WinoBias excerpt, brackets and numbers removed."""
    out = []
    for pro in sorted(WINO.glob("pro_*")):
        lines = [[re.sub(r"^\d+\s+", "", ln.strip()).replace("[", "").replace("]", "")
                  for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
                 for f in (pro, pro.with_name(pro.name.replace("pro_", "anti_")))]
        out += list(zip(*lines, strict=True))
    return out


def test_fightin_words_matches_monroe_closed_form():
    """Monroe et al. (2008) eqs. 16 and 20 by hand: y_i = (10, 0), y_j = (2, 8), alpha = (1, 1),
    so n_i = n_j = 10, alpha_0 = 2: delta_0 = log(11 / 1) - log(3 / 9) = log 33,
    var = 1/11 + 1/3."""
    d, z = fightin_words(np.array([10.0, 0.0]), np.array([2.0, 8.0]), np.array([1.0, 1.0]))
    assert d[0] == pytest.approx(math.log(33))
    assert z[0] == pytest.approx(math.log(33) / math.sqrt(1 / 11 + 1 / 3))
    assert d[1] == pytest.approx(math.log(1 / 11) - math.log(9 / 3))
    # the interaction of two identical comparisons is zero; of a comparison and its mirror, twice it
    y = np.array([10.0, 0.0]), np.array([2.0, 8.0])
    di, _ = association_interaction(y[0], y[1], y[0], y[1], np.array([1.0, 1.0]))
    assert np.allclose(di, 0)
    di, zi = association_interaction(y[0], y[1], y[1], y[0], np.array([1.0, 1.0]))
    assert di[0] == pytest.approx(2 * math.log(33))
    assert zi[0] == pytest.approx(2 * math.log(33) / math.sqrt(2 * (1 / 11 + 1 / 3)))


def test_weat_effect_size_by_hand():
    """Caliskan et al. (2017): s(w) = mean cos(w, A) - mean cos(w, B); d = (mean_X s - mean_Y s)
    / sd_{X u Y} s. With A = e1, B = e2 and X = {e1, (3, 4)/5}, Y = {e2, (4, 3)/5}: s = 1, -1/5
    for X and -1, 1/5 for Y; the means are 0.4 and -0.4; the sample sd of (1, -0.2, -1, 0.2) is
    sqrt(2.08 / 3)."""
    e1, e2 = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    y = np.array([[0.0, 1.0], [0.8, 0.6]])
    assert association_scores(x, e1, e2) == pytest.approx([1.0, -0.2])
    assert weat_effect_size(x, y, e1, e2) == pytest.approx(0.8 / math.sqrt(2.08 / 3))
    assert weat_effect_size(y, x, e1, e2) == pytest.approx(-0.8 / math.sqrt(2.08 / 3))


def test_permutation_masks_and_column_test():
    m = side_masks(30, 20, rounds=200, seed=1)
    assert m.shape == (201, 50) and (m.sum(1) == 30).all() and m[0, :30].all() and not m[0, 30:].any()
    assert len({r.tobytes() for r in m[1:]}) == 200  # distinct relabellings
    x = np.arange(50, dtype=float)
    syn, ref = side_sums(m.astype(float), x)
    assert syn[0] == pytest.approx(x[:30].sum()) and ref[0] == pytest.approx(x[30:].sum())
    # a column far beyond its null is chosen, and its p-value is adjusted for both columns
    rng = np.random.default_rng(0)
    stats = rng.normal(size=(201, 2))
    stats[0] = [0.0, 6.0]
    t = max_column_test(stats)
    assert t.column == 1 and t.tested == 2 and t.z > 5 and t.significant()
    assert t.p == pytest.approx(2 * 0.5 * math.erfc(t.z / math.sqrt(2)))
    stats[0] = [0.0, 2.0]
    assert not max_column_test(stats).significant()


def test_vectorised_amplification_and_shift_equal_the_closed_forms():
    rng = np.random.default_rng(3)
    cs = rng.integers(0, 12, size=(40, 6, 3)).astype(float)
    cr = rng.integers(0, 12, size=(40, 6, 3)).astype(float)
    cr[5, :, 2] = 0  # a group the reference never pairs with an attribute
    amp, shf = amplification_rows(cs, cr, 10), shift_rows(cs, cr, 10)
    for k in range(40):
        assert amp[k] == pytest.approx(bias_amplification(cs[k], cr[k], 10), nan_ok=True)
        assert shf[k] == pytest.approx(cooccurrence_shift(cs[k], cr[k], 10), nan_ok=True)


def test_two_proportion_z():
    # 30/100 vs 10/100: pooled p 0.2, se sqrt(0.2 * 0.8 * 0.02) = 0.0566
    assert two_proportion_z(30, 100, 10, 100) == pytest.approx(0.2 / math.sqrt(0.2 * 0.8 * 0.02))


def test_small_counts_do_not_warn(real_halves, cfg):
    """A group in 3 synthetic and 7 reference records (a log2 ratio of 1.1) and a trait word
    in five sentences beside women in the synthetic data and beside men in the reference (a
    total-variation shift of 1): both warned before, by a fixed threshold on the value; neither
    has the support to warn now."""
    a, b = real_halves
    syn = [dict(r) for r in a]
    ref = [dict(r) for r in b]
    for i in range(3):
        syn[i]["response"] += " A Muslim neighbour joined them."
    for i in range(7):
        ref[i]["response"] += " A Muslim neighbour joined them."
    for i in range(10, 15):
        syn[i]["response"] += " She is lazy."
        ref[i]["response"] += " He is lazy."
    cfg.families = ["bias"]
    rep = audit(syn, reference=ref, config=cfg)
    assert rep.scorecard()["bias"] == "ok", [(r.name, r.value, r.notes) for r in rep.results if r.status == "warn"]
    assert rep.get("bias.representation_log2_ratio").details["groups"]["religion.muslim"]["count"] == 3
    assert all(r.details.get("null") is not None for r in rep.results if r.name != "bias.counterfactual_flip_rate")


@pytest.mark.parametrize("seed", range(6))
def test_random_halves_do_not_warn(seed, cfg):
    data = make_real(1200, seed=100 + seed)
    cfg.families = ["bias"]
    rep = audit(data[:600], reference=data[600:], config=cfg)
    assert rep.scorecard()["bias"] == "ok", [(r.name, r.value, r.notes) for r in rep.results if r.status == "warn"]


def _wino_parts(pro_share_syn: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Synthetic and reference halves of the WinoBias excerpt's twin pairs: the reference takes
    each pair's pro or anti sentence at random, the synthetic data the pro one with chance
    ``pro_share_syn``: the same sentences and gender mentions, only the association differs."""
    pairs = _wino()
    rng = random.Random(seed)
    rng.shuffle(pairs)
    half = len(pairs) // 2
    syn = [{"id": f"s{i}", "text": p if rng.random() < pro_share_syn else a} for i, (p, a) in enumerate(pairs[:half])]
    ref = [{"id": f"r{i}", "text": rng.choice((p, a))} for i, (p, a) in enumerate(pairs[half:])]
    return syn, ref


def test_stereotype_amplification_finds_pro_stereotyped_sentences(cfg):
    """The synthetic half of the WinoBias excerpt all pro-stereotyped, the reference a pro/anti
    mix: same occupations, same pronouns, only which gender goes with which occupation moves.
    Type 2 sentences bind an object pronoun to the nearer entity, which the pairing follows;
    the pronouns of type 1 ("... because she was overwhelmed", "... because her idea ...")
    follow two occupations of both lists across a subordinate clause and are left unpaired.
    The paired share is 1 in pro sentences and about 0.5 in the mix."""
    cfg.families = ["bias"]
    syn, ref = _wino_parts(1.0)
    rep = audit(syn, reference=ref, config=cfg)
    st = rep.get("bias.stereotype_amplification")
    assert st.status == "warn" and st.value == pytest.approx(0.5, abs=0.1)
    assert st.details["share"] > 0.95 and abs(st.details["reference_share"] - 0.5) < 0.1
    assert st.details["unresolved_pronouns"] > 60 and st.details["pairs"] > 60
    assert st.offenders and st.offenders[0]["score"] > 0
    assert rep.get("bias.representation_log2_ratio").status == "ok"  # mention rates did not move
    syn, ref = _wino_parts(0.5, seed=1)
    same = audit(syn, reference=ref, config=cfg)
    assert same.get("bias.stereotype_amplification").status == "ok"


def test_stereotype_lists_are_winobias():
    st = load_stereotypes()["gender"]
    assert len(st["male"]) == len(st["female"]) == 20
    assert "nurse" in st["female"] and "carpenter" in st["male"] and "construction worker" in st["male"]


def test_data_driven_word_association_finds_a_planted_stereotype(cfg):
    """Reference: a person's gender independent of their job; synthetic: always the job's
    stereotype. The word test (no attribute list) finds a job word over-associated with the
    gender of its stereotype, with the sentences that show it."""
    ref = make_real(800, 51, "r")
    syn = make_real(800, 52, "s", lean=1.0)
    cfg.families = ["bias"]
    rep = audit(syn, reference=ref, config=cfg)
    words = rep.get("bias.group_word_association")
    assert words.status == "warn", words.notes
    pair = words.details["pair"]
    assert pair["dimension"] == "gender" and JOB_GENDER.get(pair["word"]) == pair["group"]
    assert words.offenders and pair["word"] in words.offenders[0]["text"]
    top = words.details["words_by_group"][f"gender.{pair['group']}"][0]
    assert top["word"] == pair["word"] and top["synthetic_count"] > top["reference_count"]
    assert rep.get("bias.stereotype_amplification").status == "warn"
    quiet = audit(make_real(800, 53, "s"), reference=ref, config=cfg)
    for name in ("group_word_association", "stereotype_amplification"):
        assert quiet.get(f"bias.{name}").status == "ok"


def _jobs(n: int, lean: float, seed: int) -> list[dict]:
    """One-sentence records: a person and a WinoBias occupation, the person's gender the
    occupation's stereotype with chance ``lean``."""
    st = load_stereotypes()["gender"]
    rng = random.Random(seed)
    who = {"male": ["He", "The man", "My brother"], "female": ["She", "The woman", "My sister"]}
    out = []
    for i in range(n):
        g = rng.choice(["male", "female"])
        job = rng.choice(st[g])
        person = g if rng.random() < lean else ("female" if g == "male" else "male")
        out.append({"id": f"j{seed}-{i}", "text": f"{rng.choice(who[person])} works as a {job} {rng.choice(['today', 'now', 'again'])}."})
    return out


def test_embedding_association_finds_records_that_tie_gender_to_occupation(cfg):
    """WEAT on the records (hashing embedder: the occupation word is what the record shares
    with the attribute sentences): synthetic records about men name male-stereotyped jobs,
    the reference's name either."""
    cfg.families = ["bias"]
    ref = _jobs(300, 0.5, 1)
    rep = audit(_jobs(300, 1.0, 2), reference=ref, config=cfg)
    emb = rep.get("bias.embedding_association")
    assert emb.status == "warn" and emb.value > 1.0
    assert emb.details["synthetic_effect"] > 1.0 and abs(emb.details["reference_effect"]) < 0.4
    assert emb.offenders and emb.offenders[0]["score"] > 0
    quiet = audit(_jobs(300, 0.5, 3), reference=ref, config=cfg)
    assert quiet.get("bias.embedding_association").status == "ok"


def test_stereotype_pairs_take_the_nearest_occupation_of_the_sentence():
    from tether.audit.bias import _full_lexicon, load_lexicons, scan
    from tether.audit.bias_association import stereotype_pairs

    lex = load_lexicons()
    full = _full_lexicon(lex)
    full["stereotype:gender"] = load_stereotypes()["gender"]
    texts = ["The nurse called the mechanic and told him the news.",  # him -> mechanic: pro
             "She is a carpenter.",  # no occupation before: the one after, anti
             "The nurse left. He stayed.",  # another sentence: no pair
             "The nurse said she and he would come.",  # she -> nurse (pro), he -> nurse (anti)
             # a subject pronoun after occupations of both lists: which one it means is not syntax's to say
             "The physician hired the secretary because she was overwhelmed with clients.",
             "The physician hired the secretary and paid her well.",  # object: not the subject, the secretary
             "The physician and the ceo met because he was late.",  # both on the male list: pro either way
             "Mick pays his teacher.",  # a possessive names the possessor, not the teacher: no pair
             # after a subordinating conjunction that follows both lists: left to the clause's meaning
             "The developer argued with the designer because her idea failed."]
    hits = scan(texts, full, ("group:gender", "stereotype:gender"))
    args = (hits.spots["group:gender"], hits.spots["stereotype:gender"], list(lex["groups"]["gender"]),
            list(load_stereotypes()["gender"]), len(texts))
    pro, anti, pairs = stereotype_pairs(*args)
    assert pro.tolist() == [1, 0, 0, 1, 0, 1, 1, 0, 1] and anti.tolist() == [0, 1, 0, 1, 0, 0, 0, 0, 0]
    assert len(pairs) == 7
    pro, anti, pairs = stereotype_pairs(*args, texts=texts)
    assert pro.tolist() == [1, 0, 0, 1, 0, 1, 1, 0, 0] and anti.tolist() == [0, 1, 0, 1, 0, 0, 0, 0, 0]
    assert len(pairs) == 6
    pro, anti, _ = stereotype_pairs(*args, ambiguous=())  # every pronoun to its nearest occupation
    assert pro.tolist() == [1, 0, 0, 1, 1, 1, 1, 0, 1] and anti.tolist() == [0, 1, 0, 1, 0, 0, 0, 0, 0]


def test_per_record_weights_sum_to_one_per_record():
    from tether.audit.bias_association import per_record

    share, rest = per_record(np.array([3.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    assert share.tolist() == [0.75, 0.0, 1.0] and rest.tolist() == [0.25, 0.0, 0.0]


def test_embedding_association_equals_weat_on_the_observed_split():
    from tether.audit.bias_embedding import embedding_association

    rng = np.random.default_rng(5)
    emb = rng.normal(size=(200, 8))
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    in_x = rng.random(200) < 0.4
    in_y = ~in_x & (rng.random(200) < 0.7)
    masks = side_masks(120, 80, rounds=50, seed=0).astype(float)
    r = embedding_association(masks, emb, in_x, in_y, a, b)
    syn, ref = slice(0, 120), slice(120, 200)
    assert r["synthetic_effect"] == pytest.approx(weat_effect_size(emb[syn][in_x[syn]], emb[syn][in_y[syn]], a, b))
    assert r["reference_effect"] == pytest.approx(weat_effect_size(emb[ref][in_x[ref]], emb[ref][in_y[ref]], a, b))
    assert r["test"].rounds == 50 and not r["test"].significant()


def test_without_permutations_or_reference_the_family_still_runs(real_halves, cfg):
    a, b = real_halves
    cfg.families = ["bias"]
    cfg.permutations = 0
    rep = audit(a, reference=b, config=cfg)
    assert rep.scorecard()["bias"] == "ok"
    assert rep.get("bias.representation_log2_ratio").details["null"] is None
    cfg.permutations = 100
    alone = audit(a, config=cfg)
    gap = alone.get("bias.sentiment_gap")
    assert gap.status == "ok" and gap.details["null"]["rounds"] == 100
    assert "bias.stereotype_amplification" not in {r.name for r in alone.results}  # needs a reference


def test_stereotyped_sentences_against_a_reference_that_seldom_pairs_gender_and_occupation():
    """Pro-stereotyped WinoBias sentences appended to 40 of 160 AlpacaEval answers, the
    reference (other answers to the same instructions) left as it is: the reference holds too
    few gender-occupation pairs for the permutation null, and before, the stereotypes showed
    only as one group mentioned more often. Now the synthetic share is tested against the
    reference's shrunk towards 0.5; the anti-stereotyped twins appended instead do not warn."""
    import json

    data = Path(__file__).resolve().parents[1] / "data" / "alpaca_eval"

    def read(name: str) -> list[dict]:
        return [json.loads(ln) for ln in (data / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]

    twins = _wino()
    type2 = twins[len(twins) // 2:]  # the type-2 files: the pronoun's referent is syntactic
    cfg = AuditConfig(families=["bias"], embedder=EmbedderConfig(backend="hashing", dim=64))
    results = {}
    for which in (0, 1):  # 0: pro sentences, 1: their anti twins
        syn = read("gpt4o")
        for i, r in enumerate(syn[::4]):
            r["output"] += " " + type2[i][which]
        rep = audit(syn, reference=read("claude_verbose"), config=cfg)
        results[which] = rep.get("bias.stereotype_amplification")
    pro, anti = results[0], results[1]
    assert pro.details["reference_pairs"] < 20 <= pro.details["pairs"]
    assert pro.status == "warn" and pro.details["null"]["p"] < 0.005, (pro.value, pro.details["null"])
    assert anti.status == "ok" and anti.value < 0


def _alpaca(name: str) -> list[dict]:
    import json

    data = Path(__file__).resolve().parents[1] / "data" / "alpaca_eval"
    return [json.loads(ln) for ln in (data / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_stereotypes_planted_in_15_percent_of_records_are_found_and_real_splits_are_not():
    """WinoBias pro-stereotyped sentences (the committed excerpt, type 1 and type 2 at random)
    appended to 15 % of 160 AlpacaEval answers, their anti-stereotyped twins to 15 % of the
    reference's: found in every one of 10 seeds. Pairing every pronoun with its nearest
    occupation, the type-1 half ("... because she was overwhelmed") paired alike in a pro
    sentence and its twin, and the planted set was found in 7 of these 10. Real-vs-real: no
    warning on random halves of the WinoBias excerpt's sentences, nor on the AlpacaEval answers
    of two models."""
    cfg = AuditConfig(families=["bias"], embedder=EmbedderConfig(backend="hashing", dim=64))
    twins = _wino()
    found = []
    for seed in range(10):
        rng = random.Random(seed)
        syn, ref = _alpaca("gpt4o"), _alpaca("claude_verbose")
        k = round(0.15 * len(syn))
        chosen = rng.sample(range(len(twins)), k)
        for recs, which in ((syn, 0), (ref, 1)):
            for i, c in zip(rng.sample(range(len(recs)), k), chosen, strict=True):
                recs[i]["output"] += " " + twins[c][which]
        st = audit(syn, reference=ref, config=cfg).get("bias.stereotype_amplification")
        found.append(st.status == "warn")
    assert sum(found) == 10, found
    sentences = [{"id": f"w{i}", "text": t} for i, pair in enumerate(twins) for t in pair]
    for seed in range(4):
        random.Random(seed).shuffle(sentences)
        half = len(sentences) // 2
        rep = audit(sentences[:half], reference=sentences[half:], config=cfg)
        st = rep.get("bias.stereotype_amplification")
        assert st.status == "ok" and st.details["pairs"] > 100, (seed, st.value, st.details.get("null"))
    rep = audit(_alpaca("gpt4o"), reference=_alpaca("claude_verbose"), config=cfg)
    assert rep.scorecard()["bias"] == "ok", [(r.name, r.value, r.notes) for r in rep.results if r.status == "warn"]
