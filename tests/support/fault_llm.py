"""A fault-injecting OpenAI-compatible endpoint for tests: healthy requests go to the real server.

It listens on loopback (a free port in 19200-19299) and forwards every request to `upstream` (the real
llama.cpp server), except that a chat completion may get a fault instead: first the `script` (one entry per
request, None = forward), then a fault with probability `rate` from a seeded RNG. Faults take the kinds in a
fixed rotation, so every kind shows up once in every six faults. A fault never reaches the upstream server,
and everything injected is counted.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.asgi_thread import serving

FAULT_KINDS = ("rate_limit", "server_error", "unavailable", "timeout", "malformed_json", "empty_choices")
PORTS = range(19200, 19300)
# Usage reported by the empty-choices fault: a count that no real answer has, so it shows if it is ever kept.
FAKE_TOKENS = 999_999
MALFORMED_BODY = (
    '{"id": "chatcmpl-fault", "object": "chat.completion", "choices": [{"index": 0, "message": {"ro'
)


@dataclass(frozen=True)
class Counts:
    requests: int  # chat completion requests received
    forwarded: int  # of those, answered by the upstream server
    injected: Counter[str]  # faults by kind

    def __sub__(self, earlier: Counts) -> Counts:
        return Counts(self.requests - earlier.requests, self.forwarded - earlier.forwarded,
                      self.injected - earlier.injected)  # fmt: skip

    @property
    def faults(self) -> int:
        return sum(self.injected.values())


class FaultLLM:
    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.2,
        seed: int = 0,
        script: Sequence[str | None] = (),
        hang_s: float = 30.0,
        retry_after_s: int = 1,
    ):
        unknown = {kind for kind in script if kind is not None} - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s): {sorted(unknown)}")
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.script = list(script)
        self.hang_s = hang_s
        self.retry_after_s = retry_after_s
        self._rng = random.Random(seed)
        self._rotation = 0
        self._requests = 0
        self._forwarded = 0
        self._injected: Counter[str] = Counter()
        self.base_url = ""
        self._stopping = False

    # -- decisions and counts --------------------------------------------------------------------------
    def next_fault(self) -> str | None:
        """The fault for the next chat completion request, or None to forward it."""
        index = self._requests
        self._requests += 1
        if index < len(self.script):
            return self.script[index]
        if self._rng.random() >= self.rate:
            return None
        kind = FAULT_KINDS[self._rotation % len(FAULT_KINDS)]
        self._rotation += 1
        return kind

    def counts(self) -> Counts:
        return Counts(self._requests, self._forwarded, Counter(self._injected))

    # -- HTTP ------------------------------------------------------------------------------------------
    async def _chat(self, request: Request) -> Response:
        fault = self.next_fault()
        if fault is None:
            self._forwarded += 1
            return await self._forward(request)
        self._injected[fault] += 1
        return await self._inject(fault)

    async def _forward(self, request: Request) -> Response:
        path = request.url.path.removeprefix("/v1")
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        async with httpx.AsyncClient(timeout=600) as client:
            upstream = await client.request(
                request.method, self.upstream + path, content=await request.body(), headers=headers
            )
        return Response(
            upstream.content, upstream.status_code, media_type=upstream.headers.get("content-type")
        )

    async def _inject(self, fault: str) -> Response:
        if fault == "timeout":
            await self._hang()
            return _error(504, "gateway timeout (injected)")
        if fault == "rate_limit":
            return _error(429, "rate limit reached (injected)", {"Retry-After": str(self.retry_after_s)})
        if fault == "server_error":
            return _error(500, "internal server error (injected)")
        if fault == "unavailable":
            return _error(503, "service unavailable (injected)")
        if fault == "malformed_json":
            return Response(MALFORMED_BODY, 200, media_type="application/json")
        return JSONResponse(
            {"id": "chatcmpl-fault", "object": "chat.completion", "created": int(time.time()), "model": "fault",
             "choices": [], "usage": {"prompt_tokens": FAKE_TOKENS, "completion_tokens": FAKE_TOKENS,
                                      "total_tokens": 2 * FAKE_TOKENS}}
        )  # fmt: skip

    async def _hang(self) -> None:
        """Answer nothing for `hang_s` (longer than the client waits), or until the server stops."""
        deadline = time.monotonic() + self.hang_s
        while time.monotonic() < deadline and not self._stopping:
            await asyncio.sleep(0.1)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/{path:path}", self._forward, methods=["GET", "POST"]),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[FaultLLM]:
        """Serve in a background thread; `base_url` is set while the block runs."""
        with serving(self.app(), _bind_free_port(), "fault server") as port:
            self.base_url = f"http://127.0.0.1:{port}/v1"
            try:
                yield self
            finally:
                self._stopping = True  # a hanging request gives up before the server waits for it


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "injected_fault", "code": status}}
    return JSONResponse(body, status, headers=headers)


def _bind_free_port() -> socket.socket:
    for port in PORTS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        return sock
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1} on 127.0.0.1")
