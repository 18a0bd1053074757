"""The listener on the listening corpus's held-out rows, end to end, with or without the adapter.

    python -m evals.heldout_eval --split test --out runs/heldout-adapter.jsonl
    python -m evals.heldout_eval --split test --set model.adapter=none --out runs/heldout-base.jsonl

Each row's context becomes the conversation so far (the same for every arm), then the person's
line goes through the same `Listener` the app uses: safety screen, planner, model, checks,
output rail. One JSON line per row: the reply, the planned move, whether the model wrote it
(not a fixed text or the deterministic reflection), its codes and its latency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def run(split: str, overrides: list[str], limit: int | None, out: Path) -> dict:
    from chatbot.config import load_config
    from chatbot.conversation import Turn
    from chatbot.factory import build_listener
    from chatbot.train.data import load_corpus

    config = load_config(overrides=overrides)
    listener = build_listener(config)
    if listener.model is None:
        raise SystemExit(f"the model did not load: {listener.model_problem}")
    rows = load_corpus(split)
    rows = rows[:limit] if limit else rows
    records = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows, 1):
            conv = listener.new_conversation()
            for role_user, role_bot in zip(row.context[::2], row.context[1::2]):
                conv.turns.append(Turn(role_user[1], role_bot[1], "listening"))
            started = time.perf_counter()
            turn = listener.respond(conv, row.user).consume()
            record = {
                "id": row.id,
                "topic": row.topic,
                "row_move": row.move,
                "row_kind": row.kind,
                "context": [list(c) for c in row.context],
                "user_text": row.user,
                "reply": turn.reply,
                "kind": turn.kind,
                "move": turn.move,
                "model_written": turn.kind == "listening" and not turn.meta.get("fallback", True),
                "candidates": turn.meta.get("candidates"),
                "technique": turn.technique,
                "latency_s": round(time.perf_counter() - started, 4),
                "first_token_s": turn.first_token_s,
                "adapter": listener.model.identity.extra.get("adapter"),
            }
            records.append(record)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            print(f"\r{i}/{len(rows)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return summarize(records)


def summarize(records: list[dict]) -> dict:
    listening = [r for r in records if r["kind"] in ("listening", "replaced")]
    latencies = sorted(r["latency_s"] for r in records if r["kind"] == "listening")
    written = [r for r in listening if r["model_written"]]
    return {
        "rows": len(records),
        "listening_replies": len(listening),
        "model_written": len(written),
        "model_written_share": round(len(written) / len(listening), 3) if listening else None,
        "crisis_routed": sum(r["kind"] == "crisis" for r in records),
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report", action="store_true", help="summarise an existing --out file")
    args = parser.parse_args(argv)
    if args.report:
        records = [json.loads(line) for line in args.out.open(encoding="utf-8")]
        summary = summarize(records)
    else:
        summary = run(args.split, args.set, args.limit, args.out)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
