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


# ---------------------------------------------------------------------------- chat reward models
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}")


def tiny_chat_reward_model(path, pairs=None, rewards=None, steps: int = 60):
    """A tiny GPT-2 reward head whose tokenizer has a chat template (role tokens are special
    tokens), optionally regressed onto ``rewards`` for ``pairs`` formatted as chats."""
    import torch
    from tiny_models import SENTENCES
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

    torch.manual_seed(0)
    special = ["[PAD]", "[UNK]", "<|user|>", "<|assistant|>", "<|end|>"]
    tk = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=special))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]",
                                  additional_special_tokens=special[2:])
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(path)
    end = tok.convert_tokens_to_ids("<|end|>")
    cfg = GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2, num_labels=1,
                     pad_token_id=tok.pad_token_id, bos_token_id=end, eos_token_id=end)
    model = GPT2ForSequenceClassification(cfg)
    if pairs:
        from tiny_models import _fit

        from tether.curate.reward import chat_texts

        enc = tok(chat_texts(tok, [p for p, _ in pairs], [r for _, r in pairs]), padding=True,
                  add_special_tokens=False, return_tensors="pt")
        _fit(model, [{**enc, "labels": torch.tensor(rewards, dtype=torch.float32)}], steps)
    model.eval().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def chat_rm_dir(tmp_path_factory):
    return tiny_chat_reward_model(tmp_path_factory.mktemp("chat_rm"))


def test_a_chat_reward_model_scores_the_chat_template_as_its_card_does(chat_rm_dir):
    import torch

    from tether.curate.reward import has_chat_template, resolve_format

    model, tok = load_classifier(str(chat_rm_dir))
    assert has_chat_template(tok) and resolve_format(tok) == "chat"
    prompts, responses = [p for p, _ in PAIRS], [r for _, r in PAIRS]
    got = reward_scores(model, tok, prompts, responses, batch_size=3)
    # the reference: the model card's recipe, one conversation at a time
    ref = []
    for p, r in PAIRS:
        conv = [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
        text = tok.apply_chat_template(conv, tokenize=False)
        assert text.startswith("<|user|> " + p) and "<|assistant|> " + r in text
        ids = tok(text, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            ref.append(float(model(**ids).logits[0, 0]))
    assert got == pytest.approx(ref, abs=1e-4)
    # the text-pair path is another input: forced with input_format, it scores something else
    pair = reward_scores(model, tok, prompts, responses, input_format="pair")
    assert max(abs(a - b) for a, b in zip(pair, ref, strict=True)) > 1e-3


def test_input_format_chat_needs_a_template(rm_dir):
    from tether.curate.reward import resolve_format
    from tether.errors import ConfigError

    _, tok = load_classifier(str(rm_dir))
    assert resolve_format(tok) == "pair"  # a cross-encoder: the text pair, as before
    with pytest.raises(ConfigError, match="no chat template"):
        run_step(RewardModel(model=str(rm_dir), input_format="chat"), [new_record({"instruction": "a", "response": "b"})])


def test_chat_reward_filter_planted_precision_recall(tmp_path):
    # a chat reward model taught that the assistant's turn should hold the answer (+1), and that
    # an assistant turn which begins inside the question is wrong (-1): the same words, only the
    # turn boundary moved. Planted: the well-split pairs are kept and the moved ones rejected.
    # Only the chat input can tell them apart: as a text pair both are the same words in a row.
    moved = []
    for i, r in GOOD:
        q = i.split()
        moved.append((" ".join(q[:-2]), " ".join(q[-2:]) + " " + r))
    rm = tiny_chat_reward_model(tmp_path / "rm", GOOD + moved, [1.0] * len(GOOD) + [-1.0] * len(moved))
    recs = [new_record({"instruction": i, "response": r}) for i, r in GOOD + moved]
    out = run_step(RewardModel(model=str(rm), min_score=0.0), recs)
    rejected = {r["instruction"] for r, _ in out.rejected}
    truth = {i for i, _ in moved}
    tp = len(rejected & truth)
    precision, recall = tp / max(1, len(rejected)), tp / len(truth)
    print(f"chat reward_model planted: precision={precision:.2f} recall={recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    assert all(r["reward_model__score"] > 0 for r in out.kept)
    # the text-pair input gives each moved pair the score of its well-split twin: no threshold separates them
    model, tok = load_classifier(str(rm))
    pair = reward_scores(model, tok, [i for i, _ in GOOD + moved], [r for _, r in GOOD + moved], input_format="pair")
    assert pair[: len(GOOD)] == pytest.approx(pair[len(GOOD):], abs=1e-5)
