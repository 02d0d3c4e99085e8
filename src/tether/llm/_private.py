"""What a backend implements, and the internal signal for a failure worth retrying."""

from __future__ import annotations

from tether.llm.types import LLMRequest, LLMResponse


class TransientError(Exception):
    """A failure a retry may fix: 429, 5xx, connection errors, time-outs, broken bodies.

    ``kind`` is one of ``rate_limit``, ``server``, ``connection``, ``timeout``, ``bad_body``.
    """

    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class Backend:
    """One async method, ``call``; the client owns cache, limits, retries and accounting.

    ``call`` raises :class:`TransientError` for what a retry may fix and a
    :class:`tether.errors.TetherError` for what it cannot.
    """

    identity: str = ""
    #: whether the backend asks the server for schema-constrained output itself
    native_structured: bool = False
    #: whether usage of this backend costs money (replay: no)
    billable: bool = True

    async def start(self) -> None:
        """Load what the first call needs (a local model, an engine). The client awaits it
        once before its first attempt, outside ``timeout_s``: loading a model can take
        minutes, and that is not a server failing to answer."""

    async def call(self, request: LLMRequest) -> LLMResponse:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the backend holds on the running event loop."""

    def close(self) -> None:
        """Release what can be released without an event loop."""

    def redact(self, text: str) -> str:
        """``text`` with any secret the backend holds replaced by ``***``."""
        return text


def parse_retry_after(headers: dict[str, str] | object) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    ms = get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def short(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
