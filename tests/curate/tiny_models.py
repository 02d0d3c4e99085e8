"""Tiny random-weight models with locally built tokenizers, saved to a folder (no downloads)."""

from __future__ import annotations

from pathlib import Path

SENTENCES = [
    "what is the capital of france the capital of france is paris",
    "how do i boil an egg put the egg in boiling water for nine minutes",
    "write a short poem about the sea the sea is wide and blue and deep",
    "explain photosynthesis plants use light water and air to make sugar",
    "list three colors red green and blue are three colors",
    "name a fruit an apple is a fruit that grows on trees",
]


def _tokenizer(path: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[BOS]", "[CLS]", "[SEP]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]",
                                   eos_token="[BOS]", cls_token="[CLS]", sep_token="[SEP]")
    fast.save_pretrained(path)
    return fast


def tiny_gpt2(path: Path, seed: int = 0) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tok = _tokenizer(path)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    GPT2LMHeadModel(cfg).eval().save_pretrained(path)
    return path


def tiny_bert_classifier(path: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    tok = _tokenizer(path)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=1, pad_token_id=tok.pad_token_id)
    BertForSequenceClassification(cfg).eval().save_pretrained(path)
    return path


def _fit(model, batches, steps: int, lr: float = 1e-2) -> None:
    import torch

    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        for kwargs in batches:
            opt.zero_grad()
            model(**kwargs).loss.backward()
            opt.step()
    model.eval()


def trained_gpt2(path: Path, pairs: list[tuple[str, str]], steps: int = 40) -> Path:
    """A tiny GPT-2 that has learnt each response after its instruction, and each response on
    its own: a matched pair's instruction predicts its response (IFD < 1); a mismatched
    instruction makes the response less likely than no instruction (IFD > 1)."""
    import torch
    from transformers import GPT2LMHeadModel

    tiny_gpt2(path)
    model = GPT2LMHeadModel.from_pretrained(path)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    seqs = [[tok.bos_token_id, *tok(i + "\n" + r, add_special_tokens=False)["input_ids"]] for i, r in pairs]
    seqs += [[tok.bos_token_id, *tok(r, add_special_tokens=False)["input_ids"]] for _, r in pairs]
    width = max(len(s) for s in seqs)
    ids = torch.tensor([s + [tok.pad_token_id] * (width - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    labels = ids.masked_fill(mask == 0, -100)
    _fit(model, [{"input_ids": ids, "attention_mask": mask, "labels": labels}], steps)
    model.save_pretrained(path)
    return path


def trained_reward_model(path: Path, pairs: list[tuple[str, str]], rewards: list[float], steps: int = 40) -> Path:
    """A tiny BERT reward head regressed onto ``rewards`` for ``pairs``."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    tiny_bert_classifier(path)
    model = BertForSequenceClassification.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    enc = tok([i for i, _ in pairs], [r for _, r in pairs], padding=True, return_tensors="pt")
    _fit(model, [{**enc, "labels": torch.tensor(rewards, dtype=torch.float32)}], steps)
    model.save_pretrained(path)
    return path
