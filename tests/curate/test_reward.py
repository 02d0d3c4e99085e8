"""Reward model: a tiny random BERT classifier saved locally; batched == single; threshold."""

from __future__ import annotations

import pytest
from curate_helpers import run_step
from tiny_models import tiny_bert_classifier

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
