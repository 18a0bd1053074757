"""Reply latency end to end, the listening adapter against the app without it, in one run.

    python -m evals.reply_bench [--turns 40] [--out FILE.json]

Both arms are built like the app builds them (`build_listener`), one with `model.adapter=listening`
and one with `model.adapter=none` (the untrained model with few-shot prompts and up to three
candidates). Each turn of the listening corpus's validation split (its context as the
conversation so far) goes through both arms in turn, so machine load falls on both alike. Also
measured per arm: the model's decode rate on one fixed prompt (tokens/s after the first token).
Read ratios within one run; absolute figures depend on the CPU (`lscpu`) and on its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from evals.scorers import percentile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ARMS = {"adapter": "listening", "no adapter (the app's default)": "none"}
DECODE_PROMPT = "My sister keeps cancelling on me at the last minute and I'm starting to take it personally."


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> str:
    from chatbot.backends.transformers_backend import cpu_supports_bf16

    return "avx512_bf16" if cpu_supports_bf16() else "no avx512_bf16 (AVX2 path)"


def decode_rate(model, runs: int = 3) -> float:
    from chatbot.config import default_settings

    settings = default_settings(max_new_tokens=48, do_sample=False, seed=0)
    messages = [{"role": "user", "content": DECODE_PROMPT}]
    rates = []
    for _ in range(runs + 1):  # the first warms up
        stamps = [time.perf_counter() for _ in model.stream(messages, settings)]
        if len(stamps) > 1:
            rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return statistics.median(rates[1:] or rates)


def run(turns: int) -> dict:
    from chatbot.config import load_config
    from chatbot.conversation import Turn
    from chatbot.factory import build_listener
    from chatbot.train.data import load_corpus

    listeners = {
        name: build_listener(load_config(overrides=[f"model.adapter={adapter}"], environ={}))
        for name, adapter in ARMS.items()
    }
    for name, listener in listeners.items():
        if listener.model is None:  # a bench without its model measures nothing
            raise SystemExit(f"arm {name}: no model ({listener.model_problem})")
    rows = load_corpus("validation")[:turns]
    latencies: dict[str, list[float]] = {name: [] for name in ARMS}
    written: dict[str, int] = {name: 0 for name in ARMS}
    for listener in listeners.values():  # warm-up: first calls load lazily built parts
        listener.respond(listener.new_conversation(), "I had a long week.").consume()
    for i, row in enumerate(rows, 1):
        for name, listener in listeners.items():
            conv = listener.new_conversation()
            for (_, user), (_, bot) in zip(row.context[::2], row.context[1::2]):
                conv.turns.append(Turn(user, bot, "listening"))
            start = time.perf_counter()
            turn = listener.respond(conv, row.user).consume()
            if turn.kind == "listening":
                latencies[name].append(time.perf_counter() - start)
                written[name] += not turn.meta.get("fallback", True)
        print(f"\r{i}/{len(rows)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    result: dict = {"cpu": cpu_name(), "cpu_path": cpu_flags(), "turns": len(rows), "arms": {}}
    for name, listener in listeners.items():
        lat = latencies[name]
        model = listener.model
        assert model is not None  # checked when the listeners were built
        result["arms"][name] = {
            "model": model.identity.name,
            "adapter": model.identity.extra.get("adapter"),
            "dtype": model.identity.dtype,
            "replies": len(lat),
            "model_written": written[name],
            "latency_p50_s": round(statistics.median(lat), 3) if lat else None,
            "latency_p95_s": round(percentile(lat, 95), 3) if lat else None,
            "decode_tok_s": round(decode_rate(model), 1),
        }
    a, b = (result["arms"][n] for n in ARMS)
    result["decode_ratio_adapter_vs_today"] = round(a["decode_tok_s"] / b["decode_tok_s"], 3)
    if a["latency_p50_s"] and b["latency_p50_s"]:
        result["latency_p50_ratio_adapter_vs_today"] = round(a["latency_p50_s"] / b["latency_p50_s"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.turns)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
