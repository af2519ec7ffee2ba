"""Local LLM benchmark: prompt tokens/s of ragroute's llama.cpp server against `llama_cpp.Llama` in one process.

  .venv/bin/python -m bench.llm_server [--tokens 1500] [--repeats 3] [--model-file FILE]

Measured in one run, on the same model, the same prompt length and the same thread count
(`RAGROUTE_LLM_THREADS`), one llama.cpp instance at a time (never two at once on a small machine):
  - raw: `llama_cpp.Llama` in this process, `create_completion(max_tokens=1)` (the baseline);
  - raw with `logits_all=True`: what returning logprobs costs llama-cpp-python (it keeps every prompt token's
    logits when logprobs may be asked for);
  - server: the llama.cpp server exactly as `ragroute services up` starts it, through the `openai` client;
    without logprobs (every call but one) and with them (Self-Route's RAG step, served by the model's
    `logits_all` alias; the first request after a swap pays ~0.3 s to load it).
Each repeat changes the prompt's first token, so no run reuses the previous run's cached prefix.
Prints prompt tokens/s (median of the repeats) and each ratio against the raw baseline (target server >= 0.9x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from schemas.settings import LOCAL_MODELS, apply_library_environment, get_settings
from tasks.clients import services

FILLER = (
    "The harbour authority keeps a ledger of every vessel that enters the port, the cargo it carries, the "
    "berth it is given and the pilot who brings it in; storms, dredging and inspections are noted beside it. "
)


def prompt_of(tokens: int, repeat: int, count) -> str:
    """A prompt of about `tokens` tokens whose first words differ per repeat."""
    text = f"Log {repeat}: "
    while count(text) < tokens:
        text += FILLER
    return text + "\nSummarise the log in one word:"


def raw_rate(
    model_path: Path, tokens: int, repeats: int, threads: int, n_ctx: int, logits_all: bool
) -> float:
    from llama_cpp import Llama

    llm = Llama(str(model_path), n_ctx=n_ctx, n_threads=threads, logits_all=logits_all, verbose=False)
    rates = []
    for repeat in range(repeats + 1):  # the first run warms up
        prompt = prompt_of(tokens, repeat, lambda text: len(llm.tokenize(text.encode())))
        started = time.perf_counter()
        out = llm.create_completion(prompt, max_tokens=1, temperature=0)
        seconds = time.perf_counter() - started
        if repeat:
            rates.append(out["usage"]["prompt_tokens"] / seconds)
    llm.close()  # one llama.cpp instance at a time
    return statistics.median(rates)


def server_rates(settings, tokens: int, repeats: int) -> dict[str, float]:
    from openai import OpenAI

    from tasks.clients.tokens import tokenizer_from_spec

    count = tokenizer_from_spec(f"gguf:{settings.llm_model_path}", settings.models_dir).count
    services.start(settings, services.llm_service(settings))
    try:
        client = OpenAI(base_url=settings.llm_base_url, api_key="local")
        rates: dict[str, list[float]] = {"server": [], "server with logprobs": []}
        for repeat in range(repeats + 1):
            for label, extra in (
                ("server", {"model": settings.llm_model}),
                ("server with logprobs", {"model": settings.llm_logprobs_model, "logprobs": 5}),
            ):
                prompt = prompt_of(tokens, 1000 * (label != "server") + repeat, count)
                started = time.perf_counter()
                out = client.completions.create(prompt=prompt, max_tokens=1, temperature=0, **extra)
                seconds = time.perf_counter() - started
                if repeat:
                    rates[label].append(out.usage.prompt_tokens / seconds)
        return {label: statistics.median(values) for label, values in rates.items()}
    finally:
        services.stop(settings, "llm")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-file", help="a GGUF under .local/models (default: the configured model)")
    args = parser.parse_args()
    apply_library_environment()
    settings = get_settings()
    # llama.cpp runs OpenMP threads; the server gets this limit too (`services.llm_service`).
    os.environ["OMP_THREAD_LIMIT"] = str(settings.llm_threads)
    if args.model_file:
        model = LOCAL_MODELS[args.model_file]
        settings = settings.model_copy(update={"llm_model_file": model.file, "llm_model": model.name})
    bench_dir = Path(tempfile.mkdtemp(prefix="ragroute-bench-llm-"))
    settings = settings.model_copy(
        update={"data_dir": bench_dir, "llm_port": settings.llm_port + 500, "openai_base_url": None}
    )
    n_ctx = max(settings.local_llm_context_tokens, args.tokens + 256)
    rates = {
        "raw": raw_rate(
            settings.llm_model_path, args.tokens, args.repeats, settings.llm_threads, n_ctx, False
        ),
        "raw, logits_all": raw_rate(
            settings.llm_model_path, args.tokens, args.repeats, settings.llm_threads, n_ctx, True
        ),
    }
    rates |= server_rates(settings, args.tokens, args.repeats)
    report = {
        "model": settings.llm_model,
        "prompt_tokens": args.tokens,
        "threads": settings.llm_threads,
        "prompt_tok_per_s": {label: round(rate, 1) for label, rate in rates.items()},
        "ratio_to_raw": {label: round(rate / rates["raw"], 2) for label, rate in rates.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
