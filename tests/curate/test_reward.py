"""Reward model: a tiny random BERT classifier saved locally; batched == single; threshold."""

from __future__ import annotations

import pytest
from curate_helpers import run_step
from tiny_models import tiny_bert_classifier, trained_reward_model

from tether.curate.reward import RewardModel, load_classifier, reward_scores
from tether.records import new_record

PAIRS = [("what is the capital of france", "the capital of france is paris"),
         ("name a fruit", "an apple is a fruit that grows on trees"),
         ("list three colors", "red"),
         ("explain photosynthesis", "plants use light water and air to make sugar")]


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory):
    return tiny_bert_classifier(tmp_path_factory.mktemp("rm"))


def test_reward_batched_matches_single_and_threshold(rm_dir):
    model, tok = load_classifier(str(rm_dir))
    batched = reward_scores(model, tok, [p for p, _ in PAIRS], [r for _, r in PAIRS], batch_size=4)
    single = [reward_scores(model, tok, [p], [r])[0] for p, r in PAIRS]
    assert max(abs(a - b) for a, b in zip(batched, single, strict=True)) < 1e-4
    assert len({round(s, 5) for s in batched}) == len(PAIRS)
    cut = sorted(batched)[1]  # planted: exactly the two lowest-scoring pairs fall below
    recs = [new_record({"instruction": p, "response": r}) for p, r in PAIRS]
    out = run_step(RewardModel(model=str(rm_dir), min_score=cut), recs)
    assert len(out.rejected) == 1 and out.rejected[0][1].reason == "low_reward"
    assert out.rejected[0][1].score == pytest.approx(min(batched), abs=1e-4)
    assert all(r["reward_model__score"] >= cut for r in out.kept)


GOOD = [("what is the capital of france", "the capital of france is paris"),
        ("how do i boil an egg", "put the egg in boiling water for nine minutes"),
        ("write a short poem about the sea", "the sea is wide and blue and deep"),
        ("name a fruit", "an apple is a fruit that grows on trees")]


def test_reward_filter_planted_precision_recall(tmp_path):
    # a reward model taught that an on-topic answer is worth +1 and an answer of unknown
    # words -1; planted: the good pairs, and the same instructions with new unknown-word
    # answers it has not seen (the known answer: those are rejected, the good pairs kept)
    train_bad = [(i, "zork blarg quux") for i, _ in GOOD] + [(i, "florp") for i, _ in GOOD]
    rm = trained_reward_model(tmp_path / "rm", GOOD + train_bad, [1.0] * len(GOOD) + [-1.0] * len(train_bad))
    planted_bad = [(i, w) for (i, _), w in zip(GOOD, ["snark vop", "grue grue grue", "plugh", "xyzzy frob nitz"],
                                                strict=True)]
    recs = [new_record({"instruction": i, "response": r}) for i, r in GOOD + planted_bad]
    out = run_step(RewardModel(model=str(rm), min_score=0.0), recs)
    rejected = {r["response"] for r, _ in out.rejected}
    truth = {r for _, r in planted_bad}
    tp = len(rejected & truth)
    precision, recall = tp / max(1, len(rejected)), tp / len(truth)
    print(f"reward_model planted: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    assert {v.reason for _, v in out.rejected} == {"low_reward"}
    assert all(r["reward_model__score"] > 0 for r in out.kept)
