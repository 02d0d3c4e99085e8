"""The transformers backend on a tiny GPT-2 built from a config (random weights) and a
word-level tokenizer trained here: no download."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tether.errors import ConfigError, LLMError
from tether.llm import LLMConfig, LLMRequest, LLMResponse, open_client
from tether.llm.backend_transformers import cut_at_stop

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = ["the", "a", "compost", "heap", "needs", "green", "and", "brown", "material", "water", "air", "turn",
         "it", "often", "warm", "cold", "pile", "worms", "user", "assistant", "system", ":", "answer", "briefly"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tinygpt")
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(WORDS)] * 3,
                            trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    cfg = GPT2Config(vocab_size=fast.vocab_size, n_layer=2, n_embd=32, n_head=2, n_positions=128,
                     eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id,
                     pad_token_id=fast.pad_token_id)
    torch.manual_seed(0)
    GPT2LMHeadModel(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def _client(path: Path, **kw):
    cfg = LLMConfig(backend="transformers", model="tiny-gpt2", model_path=str(path), revision="r1",
                    dtype="float32", **kw)
    return open_client(cfg)


def test_batched_generation_with_reference_logprobs(tiny_model: Path) -> None:
    client = _client(tiny_model, batch_size=4, batch_wait_ms=50)
    prompts = ["the compost heap", "warm pile needs water and air", "turn it", "brown material", "worms"]

    async def go():
        return await asyncio.gather(
            *(client.generate(LLMRequest.chat(p, temperature=0.0, max_tokens=6, logprobs=True)) for p in prompts)
        )

    out = asyncio.run(go())
    assert client.model_identity == "transformers:tiny-gpt2@r1"
    assert sorted(client.backend.batcher.batches) == [1, 4]  # batched, not one by one
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model)
    for p, resp in zip(prompts, out, strict=True):
        (lps,) = resp.logprobs
        assert resp.usage.completion_tokens >= len(lps) > 0
        assert resp.finish_reasons[0] in ("stop", "length")
        # reference: score prompt + generated tokens in one forward pass, unpadded
        prompt_ids = tok(f"user: {p}\nassistant:")["input_ids"]
        gen_ids = tok.convert_tokens_to_ids([t.token for t in lps])
        ids = torch.tensor([prompt_ids + gen_ids])
        with torch.no_grad():
            logits = model(ids).logits[0]
        ref = torch.log_softmax(logits, -1)[len(prompt_ids) - 1 : -1].gather(1, torch.tensor(gen_ids)[:, None])[:, 0]
        assert [t.logprob for t in lps] == pytest.approx(ref.tolist(), abs=1e-4)
        # greedy: each generated token is the arg-max of the model's distribution
        assert gen_ids == logits[len(prompt_ids) - 1 : -1].argmax(-1).tolist()
        assert resp.text == tok.decode(gen_ids, skip_special_tokens=True)


def test_seeded_sampling_n_and_cache(tiny_model: Path, tmp_path: Path) -> None:
    cfg = LLMConfig(backend="transformers", model="tiny", model_path=str(tiny_model))
    req = LLMRequest.chat("the heap", temperature=1.0, max_tokens=8, n=3, seed=11)

    def once():
        client = open_client(cfg, cache_path=tmp_path / "c.sqlite")
        r = asyncio.run(client.generate(req))
        client.close()
        return r

    a = once()
    assert len(a.texts) == 3 and not a.cached
    assert len(set(a.texts)) > 1  # three different samples
    b = once()
    assert b.cached and b.texts == a.texts
    fresh = asyncio.run(open_client(cfg).generate(req))  # same seed, no cache: same samples
    assert fresh.texts == a.texts


def test_stop_strings_cut_the_text() -> None:
    assert cut_at_stop("a b. c d", [".", " d"]) == ("a b", True)
    assert cut_at_stop("abc", None) == ("abc", False)


def test_missing_model_dir_is_a_config_error(tmp_path: Path) -> None:
    client = _client(tmp_path / "missing")
    with pytest.raises(ConfigError, match="does not exist"):
        asyncio.run(client.generate(LLMRequest.chat("x", max_tokens=2)))


def test_a_request_past_the_context_fails_alone(tiny_model: Path) -> None:
    client = _client(tiny_model, batch_size=4, batch_wait_ms=50)  # the model has 128 positions
    long_prompt = " ".join(WORDS * 4)  # ~100 tokens: fits alone, not with 50 new ones

    async def go():
        return await asyncio.gather(
            client.generate(LLMRequest.chat("the compost heap", temperature=0.0, max_tokens=50)),
            client.generate(LLMRequest.chat(long_prompt, temperature=0.0, max_tokens=50)),
            client.generate(LLMRequest.chat(long_prompt, temperature=0.0, max_tokens=6)),
            return_exceptions=True,
        )

    short, too_long, fits = asyncio.run(go())
    assert isinstance(short, LLMResponse) and isinstance(fits, LLMResponse)
    assert isinstance(too_long, LLMError)
    assert "plus max_tokens 50 exceed the model's context of 128 tokens" in str(too_long)
    assert sorted(client.backend.batcher.batches) == [1, 2]  # short and too_long came in one batch


def test_context_is_not_checked_for_scaled_positions() -> None:
    from types import SimpleNamespace

    from tether.llm.backend_transformers import TransformersBackend

    backend = TransformersBackend(LLMConfig(backend="transformers", model="x"))
    backend._model = SimpleNamespace(config=transformers.LlamaConfig(max_position_embeddings=2048))
    assert backend._context() == 2048
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048, "rope_theta": 1e4}
    backend._model = SimpleNamespace(config=transformers.LlamaConfig(rope_scaling=yarn))
    assert backend._context() is None  # the usable context is not max_position_embeddings
