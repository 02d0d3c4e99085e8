"""Client-side limits: an AIMD concurrency cap and token buckets.

Written here rather than taken from a library (aiolimiter, for one): the concurrency cap must
shrink and grow while requests are in flight (AIMD), and the tokens-per-minute bucket
reserves an estimate before a call and settles with the real usage after it; neither is in
aiolimiter's API.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time


class AIMDLimiter:
    """An asyncio semaphore whose size moves: halved on a rate-limit signal (at most once per
    cool-down: ``cooldown_s``, or the server's Retry-After when longer), grown by one after
    each success, between 1 and ``maximum``.

    A 429 pauses the request that got it (for its Retry-After), not every request: a server
    that rate-limits a share of its requests whatever the load (a hostile or noisy one) would
    otherwise hold the whole run to one request per pause, and one that is truly saturated
    is answered by the halving. Growing back by one per success (not one per ``limit``
    successes) brings the cap back within a few answers once the 429s stop.
    """

    def __init__(self, maximum: int, *, cooldown_s: float = 1.0) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self.cooldown_s = cooldown_s
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._next_decrease = -1e9
        self.decreases = 0

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # we were handed a slot and then cancelled: pass it on
                self.in_flight -= 1
                self._wake()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise
        # a slot was handed over to us (in_flight already counted)

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

    def on_success(self) -> None:
        if self.limit < self.maximum:
            self.limit += 1
            self._wake()

    def on_rate_limit(self, retry_after: float | None = None) -> None:
        now = time.monotonic()
        if now >= self._next_decrease:
            self._next_decrease = now + max(self.cooldown_s, retry_after or 0.0)
            self.limit = max(1, self.limit // 2)
            self.decreases += 1


class TokenBucket:
    """A bucket of ``rate_per_min`` units refilled continuously; holds up to ``burst`` units.

    ``take(n)`` waits until ``n`` units are there (a request larger than the bucket waits
    for a full bucket and goes, so it is never stuck). ``settle(reserved, actual)`` gives back
    or takes the difference once the real size is known.
    """

    def __init__(self, rate_per_min: float, *, burst_s: float = 10.0) -> None:
        self.rate = rate_per_min / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self._t = time.monotonic()
        self._lock: asyncio.Lock | None = None

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._t) * self.rate)
        self._t = now

    async def take(self, n: float = 1.0) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        need = min(n, self.capacity)
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self.level >= need:
                    self.level -= n
                    return
                await asyncio.sleep((need - self.level) / self.rate)

    def settle(self, reserved: float, actual: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + reserved - actual)


__all__ = ["AIMDLimiter", "TokenBucket"]
