"""A real OpenAI-compatible HTTP server on loopback, with fault injection, for tests.

It runs :class:`http.server.ThreadingHTTPServer` (HTTP/1.1, keep-alive) in a background
thread on ``127.0.0.1`` and a free port, and serves:

- ``POST /v1/chat/completions``: a chat completion whose content comes from ``responder``;
- ``GET /v1/models``: the one model it serves.

Example:
    >>> from tether.llm.testing import FakeOpenAIServer
    >>> def answer(req):                      # the request JSON -> content (str) or a dict
    ...     return "echo: " + req["messages"][-1]["content"]
    >>> with FakeOpenAIServer(answer, rate_limit_first_n=2, retry_after=0.05) as srv:
    ...     cfg = {"backend": "openai", "model": srv.model, "base_url": srv.base_url}
    ...     # ... run a pipeline with llm: {default: cfg} ...
    ...     answered, received = srv.calls, srv.requests  # answered with 200; every request (faulty ones too)
    >>> answered, received       # no pipeline ran here
    (0, [])

``responder(request_json)`` returns the assistant text, or a dict with any of ``content``
(str), ``contents`` (list, one per ``n``), ``finish_reason``, ``usage``
(``{"prompt_tokens", "completion_tokens"}``), ``logprobs`` (list of ``(token, logprob)``
per choice), ``status`` and ``body`` (a raw reply, e.g. a 400), ``delay`` (seconds before
answering). The default responder echoes the last user message. A dict without
``content``/``contents``/``status`` is itself the answer, as JSON text (handy for structured
requests: ``return {"question": "...", "answer": "..."}``); if your object has a field
named like a knob above, return ``{"content": json.dumps(obj)}`` instead.

Faults (counted over all requests, in arrival order; each fault takes its own request):

- ``rate_limit_first_n``: the first N requests get 429 with ``Retry-After: retry_after``;
- ``error_500_first_n``: the next N get 500;
- ``hang_first_n``: the next N are read and never answered (until the server closes);
- ``malformed_first_n``: the next N get 200 with a body that is not JSON;
- ``truncated_first_n``: the next N get 200 whose body stops short of its Content-Length;
- ``fault(request_json) -> str | None``: a per-request fault by content, one of
  ``"429"``, ``"500"``, ``"hang"``, ``"malformed"``, ``"truncated"`` (every time it matches);
- ``every``: periodic faults by arrival number, e.g. ``{"429": 5, "500": 7, "hang": 11,
  "malformed": 13}``: request k (counting from 1) gets the first fault whose period divides
  k (a hostile server that never gets better);
- ``hang_s``: how long a ``hang`` lasts before the request is answered normally (default:
  until the server closes);
- ``delay``: seconds every answer waits (simulated latency);
- ``gate``: a :class:`threading.Event`; while it is set, new requests are held, then dropped
  unanswered (used to freeze a run at a known point before killing it).
- ``reject_response_format``: answer 400 to requests with ``response_format`` (a server
  without structured-output mode).

Counters: ``calls`` (200 answers sent), ``requests`` (every request received, as JSON),
``answered`` (the requests that got a 200, in order), ``sent_at`` (when each answer's bytes
were all written, by ``id()`` of its request), ``faults`` (a count per fault kind).
``expect_key``: when set, a request without ``Authorization: Bearer <expect_key>`` gets 401.
The server can also run on its own: ``python -m tether.llm.testing --port 8123``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]
FaultFn = Callable[[dict[str, Any]], "str | None"]


def echo(request: dict[str, Any]) -> str:
    """The default responder: ``echo: <last user message>``."""
    users = [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"]
    return "echo: " + (users[-1] if users else "")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    owner: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that went away (killed, timed out): nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK
        # add ~40 ms to every keep-alive answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              content_length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        srv = self.server.owner
        if self.path.rstrip("/").endswith("/models"):
            body = {"object": "list", "data": [{"id": srv.model, "object": "model", "owned_by": "tether-test"}]}
            self._send(200, json.dumps(body).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:  # noqa: N802 - stdlib's name
        srv = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        try:
            req = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error": {"message": "bad JSON"}}')
            return
        srv._note_request(req, dict(self.headers))
        if srv.expect_key is not None and self.headers.get("Authorization") != f"Bearer {srv.expect_key}":
            self._send(401, b'{"error": {"message": "Incorrect API key provided."}}')
            return
        if srv.reject_response_format and "response_format" in req:
            self._send(400, b'{"error": {"message": "response_format json_schema is not supported"}}')
            return
        fault = srv._next_fault(req)
        if fault == "429":
            self._send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": f"{srv.retry_after:g}"})
            return
        if fault == "500":
            self._send(500, b'{"error": {"message": "internal error"}}')
            return
        if fault == "hang":
            if srv.hang_s is None:
                srv._closing.wait()
                self.close_connection = True
                return
            if srv._closing.wait(srv.hang_s):
                self.close_connection = True
                return
            fault = None  # a slow answer, not a lost one
        if fault == "malformed":
            self._send(200, b'{"id": "x", "choices": [ {"message": ')
            return
        if srv.gate.is_set():  # held while the gate is set, then dropped unanswered
            with srv._lock:
                srv.faults["gated"] += 1
            while srv.gate.is_set() and not srv._closing.is_set():
                time.sleep(0.01)
            self.close_connection = True
            return
        result = srv.responder(req)
        spec: dict[str, Any] = {"content": result} if isinstance(result, str) else dict(result)
        wait = float(spec.get("delay", srv.delay) or 0)
        if wait:
            time.sleep(wait)
        if "status" in spec:
            self._send(int(spec["status"]), json.dumps(spec.get("body", {})).encode())
            return
        body = json.dumps(srv._completion(req, spec)).encode()
        if fault == "truncated":
            self._send(200, body[: len(body) // 2], content_length=len(body))
            self.close_connection = True
            return
        # Counted before the bytes go out: a client that has its answer must see it counted.
        srv._note_answer(req)
        self._send(200, body)
        with srv._lock:
            srv.sent_at[id(req)] = time.monotonic()


class FakeOpenAIServer:
    """An OpenAI-compatible chat completions server on loopback, for tests (see the module
    docstring for every knob). Use as a context manager; ``base_url`` ends in ``/v1``."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        model: str = "fake-model",
        rate_limit_first_n: int = 0,
        retry_after: float = 0.05,
        error_500_first_n: int = 0,
        hang_first_n: int = 0,
        malformed_first_n: int = 0,
        truncated_first_n: int = 0,
        fault: FaultFn | None = None,
        every: dict[str, int] | None = None,
        hang_s: float | None = None,
        delay: float = 0.0,
        expect_key: str | None = None,
        reject_response_format: bool = False,
        port: int = 0,
    ) -> None:
        self.responder: Responder = responder or echo
        self.model = model
        self.retry_after = retry_after
        self.fault = fault
        self.every = dict(every or {})
        self.hang_s = hang_s
        self.delay = delay
        self.expect_key = expect_key
        self.reject_response_format = reject_response_format
        self._plan = (
            ["429"] * rate_limit_first_n
            + ["500"] * error_500_first_n
            + ["hang"] * hang_first_n
            + ["malformed"] * malformed_first_n
            + ["truncated"] * truncated_first_n
        )
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.gate = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answered: list[dict[str, Any]] = []
        #: when each answered request's bytes were all written (``time.monotonic()``), by ``id(request)``
        self.sent_at: dict[int, float] = {}
        self.faults: Counter[str] = Counter()
        self._arrivals = 0
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- life cycle
    def start(self) -> FakeOpenAIServer:
        httpd = _Server(("127.0.0.1", self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start the server first"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        """Requests answered with a 200 completion."""
        with self._lock:
            return len(self.answered)

    def llm_config(self, **extra: Any) -> dict[str, Any]:
        """An ``llm`` entry pointing at this server (``backend: openai``)."""
        return {"backend": "openai", "model": self.model, "base_url": self.base_url, **extra}

    # ---- internals (called from handler threads)
    def _note_request(self, req: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(req)
            self.headers.append(headers)

    def _note_answer(self, req: dict[str, Any]) -> None:
        with self._lock:
            self.answered.append(req)

    def _next_fault(self, req: dict[str, Any]) -> str | None:
        kind = self.fault(req) if self.fault is not None else None
        with self._lock:
            self._arrivals += 1
            if kind is None and self.every:
                kind = next((k for k, period in self.every.items() if period > 0 and self._arrivals % period == 0), None)
            if kind is None and self._plan:
                kind = self._plan.pop(0)
            if kind is not None:
                self.faults[kind] += 1
        return kind

    def _completion(self, req: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        n = int(req.get("n") or 1)
        if "contents" in spec:
            contents = list(spec["contents"])
        else:
            content = spec.get("content")
            if content is None:
                content = json.dumps({k: v for k, v in spec.items() if k not in ("delay", "usage", "finish_reason", "logprobs")})
            contents = [content] * n
        prompt_chars = sum(len(str(m.get("content", ""))) for m in req.get("messages", []))
        usage = spec.get("usage") or {
            "prompt_tokens": max(1, prompt_chars // 4),
            "completion_tokens": sum(max(1, len(c) // 4) for c in contents),
        }
        usage = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
        choices = []
        for i, c in enumerate(contents):
            choice: dict[str, Any] = {"index": i, "message": {"role": "assistant", "content": c},
                                      "finish_reason": spec.get("finish_reason", "stop")}
            if req.get("logprobs"):
                lps = (spec.get("logprobs") or [None] * len(contents))[i]
                if lps is None:
                    lps = [(tok, -0.5) for tok in c.split()]
                choice["logprobs"] = {"content": [{"token": t, "logprob": lp, "bytes": None, "top_logprobs": []}
                                                  for t, lp in lps]}
            choices.append(choice)
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", self.model),
            "choices": choices,
            "usage": usage,
        }


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted: ``python -m tether.llm.testing --port 8123 [--delay 0.01]``."""
    import argparse

    ap = argparse.ArgumentParser(description="A loopback OpenAI-compatible test server.")
    ap.add_argument("--port", type=int, default=8123)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--model", default="fake-model")
    ap.add_argument("--every", default="", help='periodic faults, e.g. "429=5,500=7,hang=11,malformed=13"')
    ap.add_argument("--hang-s", type=float, default=None, help="seconds a hang lasts before it is answered")
    ap.add_argument("--retry-after", type=float, default=0.05)
    args = ap.parse_args(argv)
    every = {k: int(v) for k, v in (item.split("=") for item in args.every.split(",") if item)}
    srv = FakeOpenAIServer(model=args.model, delay=args.delay, port=args.port, every=every, hang_s=args.hang_s,
                           retry_after=args.retry_after).start()
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.close()


if __name__ == "__main__":
    main()


__all__ = ["FakeOpenAIServer", "echo"]
