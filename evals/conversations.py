"""Whole conversations from a run, chosen by seed (never by hand), as Markdown, unedited.

    python -m evals.conversations runs/RUN --n 10 --seed 0 > conversations.md

Each turn shows the person's line, the reply, and how the reply came about: the planned move and
the coder's label, "echo" when the pipeline's deterministic reflection was sent, the turn's kind
when it was not a listening turn (a crisis reply, a fixed answer).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path


def load_conversations(run: Path) -> dict[str, list[dict]]:
    scenarios: dict[str, list[dict]] = defaultdict(list)
    for line in (run / "turns.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            turn = json.loads(line)
            scenarios[turn["scenario"]].append(turn)
    return {name: sorted(turns, key=lambda t: t["turn"]) for name, turns in scenarios.items()}


def _how(turn: dict) -> str:
    if turn.get("kind") != "listening":
        return str(turn.get("kind"))
    technique = turn.get("technique") or {}
    codes = "+".join(s["code"] for s in technique.get("segments") or [technique] if s.get("code"))
    echo = ", echo" if (turn.get("meta") or {}).get("fallback") else ""
    return f"{turn.get('move')} → {codes or 'uncoded'}{echo}"


def render(conversations: dict[str, list[dict]], n: int, seed: int) -> str:
    chosen = random.Random(seed).sample(sorted(conversations), min(n, len(conversations)))
    out: list[str] = []
    for name in chosen:
        out += [f"#### {name}", ""]
        for turn in conversations[name]:
            out += [f"> **Person:** {turn['user_text']}", ">", f"> **Listener** ({_how(turn)}): {turn['reply']}", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("run", type=Path, help="a run folder of `python -m evals run`")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sys.stdout.write(render(load_conversations(args.run), args.n, args.seed) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
