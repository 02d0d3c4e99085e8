"""The one LLM client: cache, limits, retries, error-rate and budget stops, usage accounting,
structured output. Backends only implement ``call`` (see :mod:`tether.llm._private`).

Example:
    >>> from tether.llm import LLMConfig, LLMRequest, open_client
    >>> client = open_client(LLMConfig(backend="openai", model="m", base_url="http://127.0.0.1:8000/v1"))
    >>> resp = await client.generate(LLMRequest.chat("Say hi", temperature=0))   # doctest: +SKIP
    >>> resp.text, resp.cached, resp.request_hash                                 # doctest: +SKIP
    >>> client.close()
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from tether.errors import (
    BudgetExceededError,
    ErrorRateExceededError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
    TetherError,
)
from tether.llm._private import Backend, TransientError, short
from tether.llm.cache import ResponseCache, request_key
from tether.llm.config import LLMConfig
from tether.llm.limits import AIMDLimiter, TokenBucket
from tether.llm.structured import (
    describe_error,
    parse_structured,
    schema_of,
    with_correction,
    with_schema,
)
from tether.llm.types import LLMRequest, LLMResponse

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


@dataclass
class UsageCounter:
    """Usage of one client, or of one step on it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    cost_usd: float = 0.0


def estimate_tokens(request: LLMRequest) -> int:
    """A rough size of a request for the tokens-per-minute bucket (4 characters a token)."""
    chars = sum(len(m.content) for m in request.messages)
    return chars // 4 + 4 * len(request.messages) + request.max_tokens * request.n


class _LoopState:
    """Limits live on one event loop (asyncio primitives do)."""

    def __init__(self, config: LLMConfig) -> None:
        self.limiter = AIMDLimiter(config.concurrency)
        self.rpm = TokenBucket(config.rpm) if config.rpm else None
        self.tpm = TokenBucket(config.tpm) if config.tpm else None
        self.inflight: dict[str, asyncio.Future[LLMResponse]] = {}
        self.starting: asyncio.Future[None] | None = None  # the backend's start(), shared


class LLMClient:
    """A cached, rate-limited, retried client over one backend. Build with
    :func:`tether.llm.open_client`; in a step, use ``ctx.llm("default")``.

    Attributes:
        model_identity: backend + model (+ revision): lineage's ``model``.
    """

    def __init__(
        self,
        config: LLMConfig,
        backend: Backend,
        *,
        name: str = "default",
        cache_path: str | Path | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.name = name
        self.model_identity = backend.identity or config.identity
        self._cache = ResponseCache(cache_path) if (cache_path is not None and config.cache) else None
        self._states: dict[int, tuple[asyncio.AbstractEventLoop, _LoopState]] = {}
        self._total = UsageCounter()
        self._by_step: dict[str, UsageCounter] = {}
        self._window: collections.deque[bool] = collections.deque(maxlen=config.error_window)
        self._stopped: LLMError | None = None
        self._rate_limited = 0
        self._priced = config.price_per_1k_prompt is not None or config.price_per_1k_completion is not None
        self._spent_before = (0, 0)
        if self._cache is not None and backend.billable:
            self._spent_before = self._cache.spent(self.model_identity)
        self._closed = False
        self._started = False
        # the back-off's jitter: the client's own generator (seedable in tests), not the global one
        self._jitter = random.Random()

    # ------------------------------------------------------------------ public API
    def for_step(self, step: str) -> StepClient:
        """A view of this client that attributes usage to ``step``."""
        return StepClient(self, step)

    async def generate(self, request: LLMRequest, *, record_id: str | None = None) -> LLMResponse:
        """Answer ``request``: from the cache, else from the backend (limited, retried).

        Raises:
            LLMError: a subclass saying what failed after retries (time-out, rate limit,
                unusable answer), or that the run must stop (budget, error rate).
        """
        return await self._generate(request, record_id=record_id, step=None)

    async def generate_structured(
        self,
        request: LLMRequest,
        schema: type[M],
        *,
        record_id: str | None = None,
        max_attempts: int = 3,
    ) -> tuple[M, LLMResponse]:
        """Answer with an instance of ``schema``; an invalid answer is asked again with the
        validation error shown to the model.

        Raises:
            LLMResponseError: no valid answer after ``max_attempts``; ``raw`` is the last text.
        """
        return await self._generate_structured(request, schema, record_id, max_attempts, None)

    def usage_report(self) -> dict[str, Any]:
        """Usage of this client in this process, for the manifest."""
        t = self._total
        spent_p = self._spent_before[0] + t.prompt_tokens
        spent_c = self._spent_before[1] + t.completion_tokens
        return {
            "model": self.model_identity,
            "backend": self.config.backend,
            **asdict(t),
            "total_tokens": t.prompt_tokens + t.completion_tokens,
            "priced": self._priced,
            "rate_limited": self._rate_limited,
            "run_dir_tokens": spent_p + spent_c,
            "run_dir_cost_usd": self._cost(spent_p, spent_c),
            "by_step": self.usage_by_step(),
        }

    def usage_by_step(self) -> dict[str, dict[str, Any]]:
        """Usage per step name: prompt_tokens, completion_tokens, calls, cached_calls, cost_usd..."""
        return {step: asdict(c) for step, c in self._by_step.items()}

    def cache_stats(self) -> dict[str, Any] | None:
        return None if self._cache is None else self._cache.stats()

    async def aclose(self) -> None:
        """Close the backend's connections on the running loop, and the cache."""
        await self.backend.aclose()
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            # called from inside a run: close connections on this loop once it gets to it
            task = loop.create_task(self.backend.aclose())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self.backend.close()
        if self._cache is not None:
            self._cache.close()

    # ------------------------------------------------------------------ internals
    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        entry = self._states.get(id(loop))
        if entry is None or entry[0] is not loop:
            entry = (loop, _LoopState(self.config))
            self._states = {k: v for k, v in self._states.items() if not v[0].is_closed()}
            self._states[id(loop)] = entry
        return entry[1]

    def _counter(self, step: str | None) -> UsageCounter | None:
        if step is None:
            return None
        c = self._by_step.get(step)
        if c is None:
            c = self._by_step[step] = UsageCounter()
        return c

    def _cost(self, prompt: int, completion: int) -> float:
        p = self.config.price_per_1k_prompt or 0.0
        c = self.config.price_per_1k_completion or 0.0
        return (prompt * p + completion * c) / 1000.0

    def _redact(self, text: str) -> str:
        return self.backend.redact(text)

    def _check_stops(self) -> None:
        if self._stopped is not None:
            raise self._stopped
        cfg = self.config
        if not self.backend.billable:
            return
        spent_p = self._spent_before[0] + self._total.prompt_tokens
        spent_c = self._spent_before[1] + self._total.completion_tokens
        if cfg.max_tokens_budget is not None and spent_p + spent_c >= cfg.max_tokens_budget:
            self._stopped = BudgetExceededError(
                f"llm {self.name}: token budget reached: {spent_p + spent_c} tokens spent in this run"
                f" directory, max_tokens_budget is {cfg.max_tokens_budget}",
                hint=f"raise it (--set llm.{self.name}.max_tokens_budget=N) and rerun the same command to resume",
            )
            raise self._stopped
        if cfg.max_cost_usd is not None:
            cost = self._cost(spent_p, spent_c)
            if cost >= cfg.max_cost_usd:
                self._stopped = BudgetExceededError(
                    f"llm {self.name}: cost budget reached: ${cost:.4f} spent in this run directory,"
                    f" max_cost_usd is {cfg.max_cost_usd}",
                    hint=f"raise it (--set llm.{self.name}.max_cost_usd=X) and rerun the same command to resume",
                )
                raise self._stopped

    def _record_outcome(self, ok: bool, step: str | None, error: LLMError | None = None) -> None:
        self._window.append(ok)
        if ok:
            return
        self._total.failed_calls += 1
        c = self._counter(step)
        if c is not None:
            c.failed_calls += 1
        w = self._window
        failures = w.count(False)
        if self._stopped is None and len(w) == w.maxlen and failures / len(w) >= self.config.error_rate_threshold:
            last = error.message if error is not None else "unknown"
            self._stopped = ErrorRateExceededError(
                f"llm {self.name} ({self.model_identity}): {failures} of the last {len(w)} requests failed"
                f" (error_rate_threshold {self.config.error_rate_threshold:g}); last error: {last}",
                hint="fix the cause (server, key, limits), then rerun the same command to resume:"
                " answers already received are cached",
            )

    def _account(self, resp: LLMResponse, step: str | None, *, cached: bool) -> None:
        for c in (self._total, self._counter(step)):
            if c is None:
                continue
            if cached:
                c.cached_calls += 1
                continue
            c.calls += 1
            c.prompt_tokens += resp.usage.prompt_tokens
            c.completion_tokens += resp.usage.completion_tokens
            if self.backend.billable:
                c.cost_usd += self._cost(resp.usage.prompt_tokens, resp.usage.completion_tokens)

    async def _generate(self, request: LLMRequest, *, record_id: str | None, step: str | None) -> LLMResponse:
        if self._stopped is not None:
            raise self._stopped
        key = request_key(self.model_identity, request)
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None:
                self._account(hit, step, cached=True)
                return hit.model_copy(update={"cached": True, "request_hash": key})
        st = self._state()
        pending = st.inflight.get(key)
        if pending is not None:  # the same request is on its way: share its answer
            resp = await asyncio.shield(pending)
            self._account(resp, step, cached=True)
            return resp.model_copy(update={"cached": True})
        fut: asyncio.Future[LLMResponse] = asyncio.get_running_loop().create_future()
        st.inflight[key] = fut
        try:
            resp = await self._call(request, st, record_id=record_id, step=step)
            resp = resp.model_copy(
                update={"cached": False, "request_hash": key, "model": resp.model or self.model_identity}
            )
            if self._cache is not None:
                self._cache.put(key, self.model_identity, request, resp)
            self._account(resp, step, cached=False)
            fut.set_result(resp)
            return resp
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
                fut.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            st.inflight.pop(key, None)

    async def _start_backend(self, st: _LoopState) -> None:
        """The backend's ``start`` (loading a local model), once, before any attempt is timed."""
        if self._started:
            return
        if st.starting is None:
            st.starting = asyncio.ensure_future(self.backend.start())
        await asyncio.shield(st.starting)
        self._started = True

    def _fail(self, err: TransientError, attempts: int, record_id: str | None) -> LLMError:
        what = f"llm {self.name} ({self.model_identity})"
        msg = self._redact(str(err))
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        exc: LLMError
        if err.kind == "rate_limit":
            exc = LLMRateLimitError(
                f"{what}: still rate-limited after {tries}: {msg}",
                hint="lower concurrency or rpm/tpm, or raise max_rate_limit_retries",
            )
        elif err.kind == "timeout":
            exc = LLMTimeoutError(
                f"{what}: {msg} ({tries})",
                hint="raise timeout_s / total_timeout_s, or check that the server is answering",
            )
        elif err.kind == "bad_body":
            exc = LLMResponseError(f"{what}: unusable answer after {tries}: {msg}", raw=None,
                                   hint="check the server's logs; the body was not an OpenAI chat completion")
        else:
            exc = LLMError(f"{what}: {msg} ({tries})", hint="check that the server at base_url is up")
        exc.record_id = record_id  # type: ignore[attr-defined]
        return exc

    async def _call(
        self, request: LLMRequest, st: _LoopState, *, record_id: str | None, step: str | None
    ) -> LLMResponse:
        """One request: attempts and back-off until an answer, or a limit is reached.

        ``total_timeout_s`` counts this request's own time (its attempts and the waits between
        them), never the time it spends queued for a slot or a bucket: a request that was
        never sent has not failed. A 429 is the server asking to wait; its retries are counted
        apart (``max_rate_limit_retries``), so a busy server does not use up ``max_retries``.
        """
        cfg = self.config
        await self._start_backend(st)
        est = estimate_tokens(request)
        spent = 0.0  # this request's own time: attempts and back-off
        attempt = 0  # failed attempts other than 429
        limited = 0  # 429s
        while True:
            self._check_stops()
            if st.rpm is not None:
                await st.rpm.take(1)
            if st.tpm is not None:
                await st.tpm.take(est)
            await st.limiter.acquire()
            try:  # stopped, or out of budget, while this request waited for a slot?
                self._check_stops()
            except BaseException:
                st.limiter.release()
                raise
            err: TransientError
            budget = min(cfg.timeout_s, cfg.total_timeout_s - spent)
            t_attempt = time.monotonic()
            try:
                async with asyncio.timeout(budget):
                    resp = await self.backend.call(request)
            except TimeoutError:
                err = TransientError(f"no answer within {budget:.3g}s", kind="timeout")
            except TransientError as exc:
                err = exc
            except TetherError as exc:
                st.limiter.release()
                if st.tpm is not None:
                    st.tpm.settle(est, 0)
                exc.message = self._redact(exc.message)
                self._record_outcome(False, step, exc if isinstance(exc, LLMError) else None)
                if self._stopped is not None and not exc.aborts_run:
                    raise self._stopped from exc
                raise
            except BaseException as exc:  # a bug in a backend, or the task cancelled: the slot goes back
                st.limiter.release()
                if st.tpm is not None:
                    st.tpm.settle(est, 0)
                if not isinstance(exc, Exception):
                    raise
                bug: LLMError = LLMResponseError(
                    f"llm {self.name} ({self.model_identity}): the backend failed unexpectedly: "
                    f"{type(exc).__name__}: {self._redact(str(exc))}",
                    hint="this request failed alone (on_error decides its record); if every request fails, "
                         "check the backend's settings (base_url, model)")
                self._record_outcome(False, step, bug)
                if self._stopped is not None:
                    raise self._stopped from bug
                raise bug from exc
            else:
                st.limiter.release()
                st.limiter.on_success()
                if st.tpm is not None:
                    st.tpm.settle(est, resp.usage.total_tokens)
                self._record_outcome(True, step)
                return resp
            # a failure a retry may fix
            spent += time.monotonic() - t_attempt
            st.limiter.release()
            if st.tpm is not None:
                st.tpm.settle(est, 0)
            if err.kind == "rate_limit":
                self._rate_limited += 1
                st.limiter.on_rate_limit(err.retry_after)
                limited += 1
                over, k = limited > cfg.max_rate_limit_retries, limited
            else:
                attempt += 1
                over, k = attempt > cfg.max_retries, attempt
            if err.retry_after is not None:
                delay = min(err.retry_after, cfg.max_backoff_s)
            else:
                # full jitter: uniform in [0, min(max_backoff_s, backoff_s * 2^(k-1))]
                delay = self._jitter.uniform(0, min(cfg.max_backoff_s, cfg.backoff_s * 2 ** (k - 1)))
            out_of_time = spent + delay >= cfg.total_timeout_s
            if over or out_of_time:
                if out_of_time and not over:
                    err = TransientError(
                        f"{err} (total_timeout_s {cfg.total_timeout_s:g} of this request's own attempts and"
                        " waits reached)", kind=err.kind
                    )
                final = self._fail(err, attempt + limited, record_id)
                self._record_outcome(False, step, final)
                if self._stopped is not None:
                    raise self._stopped from final
                raise final
            for c in (self._total, self._counter(step)):
                if c is not None:
                    c.retries += 1
            log.debug("llm %s: %s; retry %d in %.2fs", self.name, short(self._redact(str(err))), attempt + limited,
                      delay)
            await asyncio.sleep(delay)
            spent += delay

    async def _generate_structured(
        self,
        request: LLMRequest,
        schema: type[M],
        record_id: str | None,
        max_attempts: int,
        step: str | None,
    ) -> tuple[M, LLMResponse]:
        req = with_schema(request, schema_of(schema))
        last_text, last_err, cut = "", "", False
        for _ in range(max_attempts):
            resp = await self._generate(req, record_id=record_id, step=step)
            last_text = resp.text
            try:
                return parse_structured(last_text, schema), resp
            except ValueError as exc:
                last_err = describe_error(exc)
                cut = bool(resp.finish_reasons) and resp.finish_reasons[0] == "length"
                if cut:
                    last_err = f"the answer was cut off at max_tokens ({req.max_tokens}): {last_err}"
                req = with_correction(req, last_text, last_err, cut=cut)
        hint = "the record is set aside with the raw answer; "
        hint += "raise max_tokens, or ask for a shorter answer" if cut else "a clearer prompt or a stronger model may help"
        raise LLMResponseError(
            f"no valid {schema.__name__} from {self.model_identity} after {max_attempts} attempts: {short(last_err)}",
            raw=self._redact(last_text),
            hint=hint,
        )


class StepClient:
    """The client as one step sees it: same cache and limits, usage attributed to the step."""

    def __init__(self, client: LLMClient, step: str) -> None:
        self._client = client
        self.step = step

    @property
    def model_identity(self) -> str:
        return self._client.model_identity

    @property
    def config(self) -> LLMConfig:
        return self._client.config

    def for_step(self, step: str) -> StepClient:
        return StepClient(self._client, step)

    async def generate(self, request: LLMRequest, *, record_id: str | None = None) -> LLMResponse:
        return await self._client._generate(request, record_id=record_id, step=self.step)

    async def generate_structured(
        self,
        request: LLMRequest,
        schema: type[M],
        *,
        record_id: str | None = None,
        max_attempts: int = 3,
    ) -> tuple[M, LLMResponse]:
        return await self._client._generate_structured(request, schema, record_id, max_attempts, self.step)

    def usage_report(self) -> dict[str, Any]:
        return self._client.usage_report()

    def usage_by_step(self) -> dict[str, dict[str, Any]]:
        return self._client.usage_by_step()

    def close(self) -> None:
        """The shared client is closed by whoever opened it (the run); a view closes nothing."""


__all__ = ["LLMClient", "StepClient", "UsageCounter", "estimate_tokens"]
