"""``backend: transformers``: a local causal LM, batched generation on CPU or GPU, with the
model's own token log-probabilities (for quality scoring and private generation).

torch and transformers are imported when the model is first used, never at ``import tether``.

Log-probabilities are those of the model's distribution (log-softmax of the raw logits), not
of the distribution after temperature/top-p, so they mean the same whatever the sampling.
Stop strings are applied to the decoded text (the answer is cut at the first one).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tether.errors import ConfigError, LLMError
from tether.llm._batching import MicroBatcher
from tether.llm._private import Backend
from tether.llm.config import LLMConfig
from tether.llm.types import LLMRequest, LLMResponse, Message, TokenLogprob, Usage

log = logging.getLogger(__name__)


def render_prompt(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The prompt text: the tokenizer's chat template when it has one, else ``role: content``
    lines ending with ``assistant:``."""
    msgs = [{"role": m.role, "content": m.content} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
    return "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant:"


def cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """``text`` up to the first stop string, and whether one was found."""
    cut = len(text)
    for s in stop or ():
        i = text.find(s)
        if s and i != -1:
            cut = min(cut, i)
    return text[:cut], cut < len(text)


class TransformersBackend(Backend):
    """A local model directory (``model_path``, else ``model``), loaded by ``start`` before
    the first request."""

    def __init__(self, config: LLMConfig, *, base_dir: Path | None = None) -> None:
        self.config = config
        self.identity = config.identity
        path = Path(config.model_path or config.model).expanduser()
        if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
            path = base_dir / path
        self.path = path
        self._load_lock = threading.Lock()
        self._model: Any = None
        self._tok: Any = None
        self._device: Any = None
        self.batcher = MicroBatcher(
            self._generate_batch,
            max_batch=config.batch_size,
            wait_s=config.batch_wait_ms / 1000.0,
            group_key=lambda r: (r.n, r.temperature, r.top_p, r.max_tokens, r.seed, r.logprobs),
        )

    def _load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as exc:
                raise ConfigError(
                    f"backend 'transformers' needs torch and transformers ({exc.name} is missing)",
                    hint="pip install 'tether[ml]'",
                ) from None
            cfg = self.config
            if not self.path.exists():
                raise ConfigError(
                    f"llm model '{cfg.model}': model_path {self.path} does not exist",
                    hint="point model_path at a local model directory (config.json, weights, tokenizer)",
                )
            dtype = {"auto": "auto", "float32": torch.float32, "float16": torch.float16,
                     "bfloat16": torch.bfloat16}[cfg.dtype]
            kw: dict[str, Any] = {"revision": cfg.revision} if cfg.revision else {}
            tok = AutoTokenizer.from_pretrained(str(self.path), **kw)
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            device = cfg.device
            model = AutoModelForCausalLM.from_pretrained(
                str(self.path), dtype=dtype, device_map="auto" if device == "auto" else None, **kw
            )
            if device != "auto":
                model.to(device)  # type: ignore[arg-type]
            model.eval()
            self._device = model.device
            self._tok, self._model = tok, model
            log.info("loaded %s on %s", self.path, self._device)

    def _context(self) -> int | None:
        """The model's context in tokens, or None when it names none, or when its positions
        are scaled (``rope_scaling``), where the usable context is not that number."""
        cfg = self._model.config
        rope = getattr(cfg, "rope_scaling", None)
        if isinstance(rope, dict) and rope.get("rope_type", rope.get("type")) not in (None, "default"):
            return None
        for name in ("max_position_embeddings", "n_positions"):
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def _generate_batch(self, requests: Sequence[LLMRequest]) -> list[LLMResponse | Exception]:
        """Generate a batch. A request whose prompt plus ``max_tokens`` exceeds the model's
        context fails alone with an LLMError (generating past it fails the whole batch, or
        degrades silently, depending on the model)."""
        self._load()
        prompts = [render_prompt(self._tok, r.messages) for r in requests]
        out: list[LLMResponse | Exception | None] = [None] * len(requests)
        ctx = self._context()
        fits = list(range(len(requests)))
        if ctx is not None:
            lengths = [len(ids) for ids in self._tok(prompts)["input_ids"]]
            fits = []
            for i, (r, n) in enumerate(zip(requests, lengths, strict=True)):
                if n + r.max_tokens > ctx:
                    out[i] = LLMError(
                        f"llm {self.config.model}: the prompt's {n} tokens plus max_tokens {r.max_tokens} "
                        f"exceed the model's context of {ctx} tokens",
                        hint="lower max_tokens, shorten the prompt (a smaller chunk_size), or use a model "
                             "with a longer context")
                else:
                    fits.append(i)
        if fits:
            done = self._generate([requests[i] for i in fits], [prompts[i] for i in fits])
            for i, resp in zip(fits, done, strict=True):
                out[i] = resp
        return [o for o in out if o is not None]

    def _generate(self, requests: Sequence[LLMRequest], prompts: list[str]) -> list[LLMResponse]:
        import torch

        tok, model = self._tok, self._model
        first = requests[0]  # a batch shares its sampling parameters (the batcher's group key)
        enc = tok(prompts, return_tensors="pt", padding=True).to(self._device)
        n = first.n
        sample = first.temperature > 0
        gen: dict[str, Any] = {
            "max_new_tokens": first.max_tokens,
            "do_sample": sample,
            "num_return_sequences": n,
            "return_dict_in_generate": True,
            "output_logits": first.logprobs,
            "pad_token_id": tok.pad_token_id,
        }
        if sample:
            gen.update(temperature=first.temperature, top_p=first.top_p)
        if first.seed is not None:
            torch.manual_seed(first.seed)
        with torch.inference_mode():
            out = model.generate(**enc, **gen)
        width = enc["input_ids"].shape[1]
        new = out.sequences[:, width:]
        eos = tok.eos_token_id
        logps = None
        if first.logprobs:
            steps = torch.stack(out.logits, dim=1).float()  # [B*n, T, V]
            logps = torch.log_softmax(steps, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        responses = []
        for i, req in enumerate(requests):
            texts: list[str] = []
            reasons: list[str | None] = []
            lps: list[list[TokenLogprob]] = []
            completion = 0
            for j in range(n):
                row = i * n + j
                ids = new[row].tolist()
                length = len(ids)
                finished = False
                if eos is not None and eos in ids:
                    length = ids.index(eos)
                    finished = True
                text = tok.decode(ids[:length], skip_special_tokens=True)
                text, stopped = cut_at_stop(text, req.stop)
                texts.append(text)
                reasons.append("stop" if (finished or stopped) else "length")
                completion += length + (1 if finished else 0)
                if logps is not None:
                    lps.append([TokenLogprob(token=tok.decode([t]), logprob=float(logps[row, k]))
                                for k, t in enumerate(ids[:length])])
            responses.append(LLMResponse(
                texts=texts,
                finish_reasons=reasons,
                usage=Usage(prompt_tokens=int(prompt_lens[i]), completion_tokens=completion),
                logprobs=lps if logps is not None else None,
                model=self.identity,
            ))
        return responses

    async def start(self) -> None:
        if self._model is None:
            await asyncio.to_thread(self._load)

    async def call(self, request: LLMRequest) -> LLMResponse:
        return await self.batcher.submit(request)


__all__ = ["TransformersBackend", "cut_at_stop", "render_prompt"]
