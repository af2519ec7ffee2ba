"""LLM client concurrency benchmark: `tasks.clients.llm.LLM` against a local endpoint with a fixed latency.

Run:  .venv/bin/python -m bench.eval_concurrency [--n 500] [--concurrency 32] [--latency 0.2] [--out PATH]

Everything runs in one process on 127.0.0.1, nothing else is needed. A tiny OpenAI-compatible server
(Starlette + uvicorn, in a background thread) answers `POST /v1/chat/completions` after exactly L seconds
(`asyncio.sleep`, so it serves any number of requests at once); that fixed latency is the raw baseline.
Measured in one run:
  1. concurrent: N distinct prompts through one `LLM(concurrency=C)` with `asyncio.gather` -> wall time W;
     ideal = N * L / C; target: W <= 1.25x ideal;
  2. sequential: 50 other prompts through `LLM(concurrency=1)` on a cache of its own, extrapolated to N;
     printed with the speed-up of the concurrent run over it (ideal: C);
  3. unchanged rerun: the same N prompts through a new `LLM` on the cache of run 1 -> must send no
     request and answer all N from the response cache (asserted; wall-clock times never are).
Each phase has its own response cache (a SQLite file in a data dir of its own; a configured shared DuckLake
warehouse is never used), so no phase reads answers that another one cached, except the rerun, which is
meant to; runs 1 and 2 assert that every prompt was sent.
The last line printed is the results as JSON (also written to --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from schemas.settings import Settings, apply_library_environment
from tasks.clients.llm import LLM

SEQUENTIAL_SUBSET = 50
PHASE_TIMEOUT_S = 300.0


def fake_openai_app(latency_s: float) -> Starlette:
    async def chat_completions(request: Request) -> JSONResponse:
        body = await request.json()
        await asyncio.sleep(latency_s)
        return JSONResponse(
            {
                "id": f"chatcmpl-bench-{time.monotonic_ns()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "bench"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])


class BackgroundServer:
    """uvicorn on a free loopback port, in a daemon thread; `stop()` asks it to exit and joins."""

    def __init__(self, app: Starlette):
        # proto IPPROTO_TCP (not 0): asyncio only sets TCP_NODELAY on accepted sockets of that proto, and
        # without it Nagle + delayed ACK hold each response body back ~40 ms.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=4096)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


def bench_settings(port: int, data_dir: Path) -> Settings:
    """Settings of one phase: its cache is the SQLite file in `data_dir` (never a configured DuckLake's)."""
    return Settings(
        data_dir=data_dir,
        duckdb_path=None,
        warehouse=None,
        openai_base_url=f"http://127.0.0.1:{port}/v1",
        openai_api_key="bench",
        llm_logprobs=False,
        llm_timeout_s=60.0,
    )


async def run_prompts(settings: Settings, prompts: list[str], concurrency: int) -> tuple[float, LLM]:
    """Wall time of all prompts through one `LLM`, and that (closed) `LLM` for its counters."""
    llm = LLM(settings, model="bench", concurrency=concurrency, max_attempts=1)
    try:
        started = time.perf_counter()
        async with asyncio.timeout(PHASE_TIMEOUT_S):
            completions = await asyncio.gather(*(llm.complete(prompt, max_tokens=8) for prompt in prompts))
        wall_s = time.perf_counter() - started
    finally:
        await llm.aclose()
    errors = [c.error for c in completions if not c.ok]
    assert not errors, f"{len(errors)} of {len(prompts)} calls failed, first: {errors[0]}"
    return wall_s, llm


def assert_all_sent(llm: LLM, n: int, phase: str) -> None:
    assert llm.counter.cached == 0 and llm.counter.requests == n, (
        f"the {phase} run sent {llm.counter.requests} of {n} requests ({llm.counter.cached} cache hits)"
    )


async def measure(port: int, work: Path, n: int, concurrency: int, latency_s: float) -> dict:
    prompts = [f"question {i}" for i in range(n)]
    concurrent_dir, sequential_dir = work / "concurrent", work / "sequential"
    wall_s, concurrent = await run_prompts(bench_settings(port, concurrent_dir), prompts, concurrency)
    assert_all_sent(concurrent, n, "concurrent")
    subset = [f"sequential question {i}" for i in range(min(SEQUENTIAL_SUBSET, n))]
    sequential_s, sequential = await run_prompts(bench_settings(port, sequential_dir), subset, 1)
    assert_all_sent(sequential, len(subset), "sequential")
    _, rerun = await run_prompts(bench_settings(port, concurrent_dir), prompts, concurrency)
    assert rerun.counter.requests == 0, f"the unchanged rerun sent {rerun.counter.requests} requests"
    assert rerun.counter.cached == n, f"the unchanged rerun had {rerun.counter.cached} of {n} cache hits"

    ideal_s = n * latency_s / concurrency
    sequential_extrapolated_s = sequential_s * n / len(subset)
    return {
        "n": n,
        "concurrency": concurrency,
        "latency_s": latency_s,
        "wall_s": round(wall_s, 3),
        "ideal_s": round(ideal_s, 3),
        "ratio_vs_ideal": round(wall_s / ideal_s, 3),
        "sequential_50_s": round(sequential_s, 3),
        "sequential_extrapolated_s": round(sequential_extrapolated_s, 3),
        "speedup_vs_sequential": round(sequential_extrapolated_s / wall_s, 2),
        "rerun_requests": rerun.counter.requests,
        "rerun_cached": rerun.counter.cached,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.200, help="the test server's latency in seconds")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    apply_library_environment()
    # Loopback only: never route the test requests through a configured proxy.
    os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1"]))

    work = Path(tempfile.mkdtemp(prefix="ragroute-bench-llm-"))
    server = BackgroundServer(fake_openai_app(args.latency))
    server.start()
    try:
        results = asyncio.run(measure(server.port, work, args.n, args.concurrency, args.latency))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    r = results
    print(f"test server latency   {r['latency_s']:.3f}s per request (raw baseline)")
    print(
        f"concurrent (C={r['concurrency']})    {r['wall_s']:7.3f}s for {r['n']} prompts, ideal {r['ideal_s']:.3f}s "
        f"-> {r['ratio_vs_ideal']:.2f}x ideal (target <= 1.25x)"
    )
    print(
        f"sequential (C=1)      {r['sequential_50_s']:7.3f}s for {min(SEQUENTIAL_SUBSET, r['n'])}, "
        f"{r['sequential_extrapolated_s']:.3f}s extrapolated to {r['n']} "
        f"-> concurrent is {r['speedup_vs_sequential']:.1f}x faster"
    )
    print(f"unchanged rerun       {r['rerun_requests']} requests, {r['rerun_cached']} cache hits")
    print(json.dumps(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
