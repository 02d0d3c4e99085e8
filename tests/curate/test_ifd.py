"""IFD: batched == one-at-a-time on a tiny GPT-2, the closed form, and the selection rules."""

from __future__ import annotations

import math

import pytest
from curate_helpers import make_ctx, run_step
from tiny_models import SENTENCES, tiny_gpt2, trained_gpt2

from tether.curate.ifd import IFDSelect, ifd_one, ifd_scores, load_causal_lm
from tether.errors import ConfigError
from tether.records import new_record

PAIRS = [
    ("what is the capital of france", "the capital of france is paris"),
    ("how do i boil an egg", "put the egg in boiling water for nine minutes"),
    ("write a short poem about the sea", "the sea is wide and blue and deep"),
    ("list three colors", "red green and blue"),
    ("name a fruit", "an apple is a fruit"),
    ("explain photosynthesis", "plants use light water and air to make sugar"),
    ("what is the capital of france", "blue"),
]


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return tiny_gpt2(tmp_path_factory.mktemp("gpt2"))


def test_batched_matches_one_at_a_time(gpt2_dir):
    model, tok = load_causal_lm(str(gpt2_dir))
    prompts = [p + "\n" for p, _ in PAIRS]
    batched = ifd_scores(model, tok, prompts, [r for _, r in PAIRS], batch_size=3)
    single = [ifd_one(model, tok, p, r) for p, (_, r) in zip(prompts, PAIRS, strict=True)]
    assert max(abs(a - b) for a, b in zip(batched, single, strict=True)) < 1e-4
    assert len({round(x, 6) for x in batched}) > 3  # not a constant


def test_ifd_closed_form(gpt2_dir):
    """IFD equals the ratio of perplexities computed directly with the model's own loss."""
    import torch

    model, tok = load_causal_lm(str(gpt2_dir))
    prompt, resp = "name a fruit\n", "an apple is a fruit"
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    r_ids = tok(resp, add_special_tokens=False)["input_ids"]
    bos = tok.bos_token_id

    def ppl(ctx_ids):
        ids = torch.tensor([ctx_ids + r_ids])
        labels = ids.clone()
        labels[0, : len(ctx_ids)] = -100
        with torch.no_grad():
            return math.exp(float(model(input_ids=ids, labels=labels).loss))

    expected = ppl([bos, *p_ids]) / ppl([bos])
    assert ifd_one(model, tok, prompt, resp) == pytest.approx(expected, rel=1e-4)


def test_ifd_step_selection(gpt2_dir):
    recs = [new_record({"instruction": p, "response": r}) for p, r in PAIRS]
    recs.append(new_record({"instruction": "anything", "response": ""}))
    ctx = make_ctx("ifd")
    out = run_step(IFDSelect(model=str(gpt2_dir), top_percent=50, drop_ge_1=True), recs, ctx)
    assert len(out.kept) + len(out.rejected) == len(recs)
    scores = {r["id"]: r["ifd__score"] for r in out.kept + [r for r, _ in out.rejected]}
    kept = [scores[r["id"]] for r in out.kept]
    assert all(s < 1 for s in kept) and len(kept) <= math.ceil(len(recs) / 2)
    reasons = {v.reason for _, v in out.rejected}
    assert reasons <= {"ifd_ge_1", "below_top_percent", "ifd_undefined"} and "ifd_undefined" in reasons
    below = [v.score for _, v in out.rejected if v.reason == "below_top_percent"]
    assert not below or max(below) <= min(kept)  # the kept ones are the highest
    out2 = run_step(IFDSelect(model=str(gpt2_dir), min_ifd=0.0, drop_ge_1=False), recs)
    assert len(out2.kept) == len(recs) - 1


def test_missing_model_folder():
    with pytest.raises(ConfigError, match="does not exist"):
        IFDSelect(model="/nonexistent/model").setup(make_ctx("ifd"))


def test_sentences_cover_vocab():
    # the tokenizer is trained on SENTENCES: every word of the planted pairs must be in them,
    # or the tiny model would see unknown tokens and the planted answers would not hold
    vocab = {w for s in SENTENCES for w in s.split()}
    used = {w for pair in MATCHED for text in pair for w in text.split()}
    assert used <= vocab, sorted(used - vocab)


MATCHED = [("what is the capital of france", "the capital of france is paris"),
           ("how do i boil an egg", "put the egg in boiling water for nine minutes"),
           ("write a short poem about the sea", "the sea is wide and blue and deep"),
           ("explain photosynthesis", "plants use light water and air to make sugar"),
           ("name a fruit", "an apple is a fruit that grows on trees")]


@pytest.mark.slow
def test_ifd_drop_ge_1_planted_precision_recall(tmp_path):
    # a tiny LM that learnt each response after its instruction and on its own: planted
    # mismatched pairs (a response under another pair's instruction) are the ones where the
    # instruction does not help (IFD >= 1, rejected); the matched pairs have IFD < 1
    lm = trained_gpt2(tmp_path / "lm", MATCHED)
    mismatched = [(MATCHED[k][0], MATCHED[(k + 2) % len(MATCHED)][1]) for k in range(len(MATCHED))]
    recs = [new_record({"instruction": i, "response": r}) for i, r in MATCHED + mismatched]
    out = run_step(IFDSelect(model=str(lm), drop_ge_1=True), recs)
    rejected = {(r["instruction"], r["response"]) for r, _ in out.rejected}
    truth = set(mismatched)
    tp = len(rejected & truth)
    precision, recall = tp / max(1, len(rejected)), tp / len(truth)
    scores = {(r["instruction"], r["response"]): r["ifd__score"] for r in out.kept + [r for r, _ in out.rejected]}
    print(f"ifd planted: precision={precision:.2f} recall={recall:.2f}; matched max "
          f"{max(scores[p] for p in MATCHED):.2f}, mismatched min {min(scores[p] for p in mismatched):.2f}")
    assert precision == 1.0 and recall == 1.0
    assert {v.reason for _, v in out.rejected} == {"ifd_ge_1"}
