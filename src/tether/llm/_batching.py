"""Micro-batching for local engines: requests arriving together are generated together.

Requests are grouped by a key (the sampling parameters that must be equal within one
``generate`` call); a group is run when it has ``max_batch`` requests or after ``wait_s``.
The engine runs in a worker thread, one batch at a time, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable, Sequence

from tether.llm.types import LLMRequest, LLMResponse

# one response per request, or the exception that request alone failed with
RunBatch = Callable[[Sequence[LLMRequest]], Sequence[LLMResponse | Exception]]


class MicroBatcher:
    def __init__(
        self,
        run_batch: RunBatch,
        *,
        max_batch: int,
        wait_s: float,
        group_key: Callable[[LLMRequest], Hashable] = lambda r: 0,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.group_key = group_key
        self._device = threading.Lock()  # one batch on the device at a time, whatever the loop
        self._pending: dict[tuple[int, Hashable], list[tuple[LLMRequest, asyncio.Future[LLMResponse]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches: list[int] = []  # sizes of the batches run (for tests and stats)

    async def submit(self, request: LLMRequest) -> LLMResponse:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[LLMResponse] = loop.create_future()
        key = (id(loop), self.group_key(request))
        group = self._pending.setdefault(key, [])
        group.append((request, fut))
        if len(group) >= self.max_batch:
            self._flush(key)
        elif len(group) == 1:
            loop.call_later(self.wait_s, self._flush, key, group)
        return await fut

    def _flush(self, key: tuple[int, Hashable], expected: list | None = None) -> None:
        group = self._pending.get(key)
        if group is None or (expected is not None and group is not expected):
            return
        del self._pending[key]
        task = asyncio.get_running_loop().create_task(self._run(group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _locked_run(self, requests: list[LLMRequest]) -> Sequence[LLMResponse | Exception]:
        with self._device:
            return self._run_batch(requests)

    async def _run(self, group: list[tuple[LLMRequest, asyncio.Future[LLMResponse]]]) -> None:
        live = [(r, f) for r, f in group if not f.done()]
        if not live:
            return
        self.batches.append(len(live))
        try:
            results = await asyncio.to_thread(self._locked_run, [r for r, _ in live])
        except Exception as exc:  # noqa: BLE001 - handed to every waiter
            for _, f in live:
                if not f.done():
                    f.set_exception(exc)
            return
        for (_, f), res in zip(live, results, strict=True):
            if f.done():
                continue
            if isinstance(res, Exception):
                f.set_exception(res)
            else:
                f.set_result(res)


__all__ = ["MicroBatcher"]
