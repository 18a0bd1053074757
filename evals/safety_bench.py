"""Screening latency per message after warm-up: `python -m evals.safety_bench [--rounds N] [--no-semantic] [--encoders]`.

Times SafetyScreen.assess_message over the project's safety test messages (crisis and hard
non-crisis, in a fixed shuffled order) and prints p50/p95/p99 in ms, with the machine load so a
reader can judge the figure. The per-call cache of the semantic layer is cleared before timing,
so every timed call embeds its message. `--encoders` instead times the MiniLM encoder alone
(float vs int8, 1 vs 2 torch threads) on the same messages, one call per message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from evals.safety_eval import write_json
from evals.scorers import percentile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def run(semantic: bool, rounds: int, warmup: int = 30, classifier: bool | None = None) -> dict:
    from evals.safety_eval import load_messages
    from safety import SafetyScreen
    from safety.semantic import clear_query_cache

    texts = [m.text for m in load_messages()]
    random.Random(0).shuffle(texts)
    screen = SafetyScreen(semantic=semantic, classifier=classifier)
    screen.warm_up()
    for text in texts[:warmup]:
        screen.assess_message(text)
    timings = []
    for _ in range(rounds):
        clear_query_cache()
        for text in texts:
            start = time.perf_counter()
            screen.assess_message(text)
            timings.append((time.perf_counter() - start) * 1000)
    load1, load5, _ = os.getloadavg()
    threads = None
    if semantic:
        import torch

        threads = torch.get_num_threads()
    return {
        "semantic": semantic,
        "messages": len(texts),
        "calls": len(timings),
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(percentile(timings, 95), 2),
        "p99_ms": round(percentile(timings, 99), 2),
        "max_ms": round(max(timings), 2),
        "load_avg_1m": round(load1, 2),
        "load_avg_5m": round(load5, 2),
        "cpus": os.cpu_count(),
        "torch_threads": threads,
        "python": platform.python_version(),
    }


def run_encoders(rounds: int = 1) -> list[dict]:
    """The encoder variants the semantic layer can use, timed one message per call."""
    import torch

    from evals.safety_eval import load_messages
    from safety.semantic import fast_embedder

    texts = [m.text for m in load_messages()]
    random.Random(0).shuffle(texts)
    before = torch.get_num_threads()
    out = []
    for int8 in (False, True):
        for threads in (1, 2):
            embed = fast_embedder(threads=threads, max_tokens=128, int8=int8)
            for text in texts[:30]:
                embed([text])
            timings = []
            for _ in range(rounds):
                for text in texts:
                    start = time.perf_counter()
                    embed([text])
                    timings.append((time.perf_counter() - start) * 1000)
            out.append(
                {
                    "encoder": "int8" if int8 else "float",
                    "threads": threads,
                    "p50_ms": round(statistics.median(timings), 2),
                    "p95_ms": round(percentile(timings, 95), 2),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            )
    torch.set_num_threads(before)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.safety_bench", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-semantic", action="store_true")
    p.add_argument("--learned", choices=["auto", "classifier", "examples"], default="auto")
    p.add_argument("--encoders", action="store_true", help="time the encoder variants alone")
    p.add_argument("--out", type=Path, help="also write the result as JSON here (what `python -m evals docs` reads)")
    args = p.parse_args(argv)
    if args.encoders:
        for row in run_encoders(args.rounds):
            print(json.dumps(row))
        return 0
    classifier = {"auto": None, "classifier": True, "examples": False}[args.learned]
    result = run(semantic=not args.no_semantic, rounds=args.rounds, classifier=classifier)
    print(json.dumps(result))
    write_json(args.out, {"learned": args.learned, **result})
    print(
        f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms over {result['calls']} calls "
        f"(semantic={'on' if result['semantic'] else 'off'}, load avg {result['load_avg_1m']} "
        f"on {result['cpus']} CPUs)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
