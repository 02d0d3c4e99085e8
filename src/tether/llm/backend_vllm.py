"""``backend: vllm``: the vLLM offline engine (an optional extra: ``pip install 'tether[vllm]'``).

Requests arriving together go to the engine as one ``LLM.chat`` call (each with its own
``SamplingParams``); vLLM batches them continuously on the GPU. Structured requests use
vLLM's guided decoding (``structured_outputs``, or ``guided_decoding`` on older versions).
``load_format: dummy`` gives random weights from the model's config, for throughput checks.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tether.errors import ConfigError, LLMError
from tether.llm._batching import MicroBatcher
from tether.llm._private import Backend, short
from tether.llm.config import LLMConfig
from tether.llm.types import LLMRequest, LLMResponse, TokenLogprob, Usage

log = logging.getLogger(__name__)


def import_vllm() -> Any:
    """The ``vllm`` module, or a ConfigError naming the extra to install."""
    try:
        import vllm
    except ImportError as exc:
        raise ConfigError(
            f"backend 'vllm' needs the vllm package, which is not installed ({exc})",
            hint="pip install 'tether[vllm]' (on a machine with a CUDA GPU), or use backend: transformers",
        ) from None
    return vllm


def sampling_params(request: LLMRequest, vllm: Any, *, guided: bool = True) -> Any:
    """The ``vllm.SamplingParams`` of a request (``guided``: constrain to its output schema)."""
    kw: dict[str, Any] = {
        "n": request.n,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
    }
    if request.seed is not None:
        kw["seed"] = request.seed
    if request.stop:
        kw["stop"] = list(request.stop)
    if request.logprobs:
        kw["logprobs"] = 0  # the sampled token's log-probability only
    if request.output_schema is not None and guided:
        sp = getattr(vllm, "sampling_params", None)
        structured = getattr(sp, "StructuredOutputsParams", None)
        legacy = getattr(sp, "GuidedDecodingParams", None)
        if structured is not None:
            kw["structured_outputs"] = structured(json=request.output_schema)
        elif legacy is not None:
            kw["guided_decoding"] = legacy(json=request.output_schema)
    return vllm.SamplingParams(**kw)


def to_response(output: Any, identity: str) -> LLMResponse:
    """A ``vllm.RequestOutput`` to a response."""
    texts, reasons, lps = [], [], []
    completion = 0
    any_lp = False
    for c in output.outputs:
        texts.append(c.text)
        reasons.append(c.finish_reason)
        completion += len(c.token_ids)
        if c.logprobs is not None:
            any_lp = True
            row = []
            for tok_id, step in zip(c.token_ids, c.logprobs, strict=False):
                lp = step[tok_id]
                row.append(TokenLogprob(token=lp.decoded_token or str(tok_id), logprob=float(lp.logprob)))
            lps.append(row)
    return LLMResponse(
        texts=texts,
        finish_reasons=reasons,
        usage=Usage(prompt_tokens=len(output.prompt_token_ids or []), completion_tokens=completion),
        logprobs=lps if any_lp else None,
        model=identity,
    )


class VLLMBackend(Backend):
    """The vLLM engine, built by ``start`` before the first request (in a worker thread)."""

    native_structured = True

    def __init__(self, config: LLMConfig, *, base_dir: Path | None = None) -> None:
        self.vllm = import_vllm()
        # what vLLM raises for a request it will not run: VLLMValidationError (not a
        # ValueError) on recent versions, ValueError on older ones
        try:
            client_error = getattr(importlib.import_module("vllm.exceptions"), "VLLMClientError", None)
        except ImportError:
            client_error = None
        self._invalid: tuple[type[BaseException], ...] = (
            (ValueError, client_error) if isinstance(client_error, type) else (ValueError,))
        self.config = config
        self.identity = config.identity
        path = config.model_path or config.model
        if base_dir is not None and not Path(path).is_absolute() and (base_dir / path).exists():
            path = str(base_dir / path)
        self.path = path
        self._engine: Any = None
        self._lock = threading.Lock()
        self.batcher = MicroBatcher(self._generate_batch, max_batch=config.batch_size,
                                    wait_s=config.batch_wait_ms / 1000.0)

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                cfg = self.config
                kw: dict[str, Any] = {"model": self.path, "dtype": cfg.dtype,
                                      "gpu_memory_utilization": cfg.gpu_memory_utilization}
                if cfg.revision:
                    kw["revision"] = cfg.revision
                if cfg.load_format:
                    kw["load_format"] = cfg.load_format
                self._engine = self.vllm.LLM(**kw)
                log.info("vLLM engine ready: %s", self.path)
            return self._engine

    def _rejected(self, exc: BaseException) -> LLMError:
        return LLMError(f"llm {self.config.model}: vLLM rejected the request: {short(str(exc), 300)}",
                        hint="vLLM's message says what it refused: a sampling parameter, the output "
                             "schema, or a prompt longer than the model's context")

    def _generate_batch(self, requests: Sequence[LLMRequest]) -> list[LLMResponse | Exception]:
        """One ``LLM.chat`` call for the batch. A request vLLM rejects (a parameter out of
        range, a schema its grammar compiler refuses, a prompt over the context) fails alone:
        vLLM rejects the whole call, so the batch is then sent again one request at a time."""
        engine = self.engine()
        guided = self.config.structured_mode != "prompt"
        out: list[LLMResponse | Exception | None] = [None] * len(requests)
        todo: list[tuple[int, list[dict[str, str]], Any]] = []
        for i, r in enumerate(requests):
            try:
                params = sampling_params(r, self.vllm, guided=guided)
            except self._invalid as exc:
                out[i] = self._rejected(exc)
                continue
            todo.append((i, [{"role": m.role, "content": m.content} for m in r.messages], params))
        if todo:
            try:
                outputs = engine.chat([c for _, c, _ in todo], sampling_params=[p for _, _, p in todo],
                                      use_tqdm=False)
                for (i, _, _), o in zip(todo, outputs, strict=True):
                    out[i] = to_response(o, self.identity)
            except self._invalid as exc:
                if len(todo) == 1:
                    out[todo[0][0]] = self._rejected(exc)
                else:
                    for i, conv, params in todo:
                        out[i] = self._generate_one(engine, conv, params)
        return [o for o in out if o is not None]

    def _generate_one(self, engine: Any, conv: list[dict[str, str]], params: Any) -> LLMResponse | Exception:
        try:
            (o,) = engine.chat([conv], sampling_params=[params], use_tqdm=False)
        except self._invalid as exc:
            return self._rejected(exc)
        return to_response(o, self.identity)

    async def start(self) -> None:
        if self._engine is None:
            await asyncio.to_thread(self.engine)

    async def call(self, request: LLMRequest) -> LLMResponse:
        return await self.batcher.submit(request)

    def close(self) -> None:
        self._engine = None


__all__ = ["VLLMBackend", "import_vllm", "sampling_params", "to_response"]
