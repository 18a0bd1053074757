"""Research CLI: `python -m safety screen [--no-semantic]` reads JSONL on stdin, writes JSONL.

Each input line is {"text": ...} or {"turns": [...]}; each output line has route, category,
severity and evidence (per turn under "turns" for a conversation). Bad lines give an error object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _public(assessment) -> dict:
    d = assessment.as_dict()
    return {k: d[k] for k in ("route", "category", "severity", "subject", "evidence", "immediate_danger", "error")}


def screen_line(line: str, screen) -> dict:
    from .risk import ConversationRisk

    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"invalid JSON: {exc.msg} at column {exc.colno}"}
    if not isinstance(obj, dict):
        return {"error": "each line must be a JSON object with 'text' or 'turns'"}
    if isinstance(obj.get("text"), str):
        return _public(screen.assess_message(obj["text"]))
    turns = obj.get("turns")
    if isinstance(turns, list) and all(isinstance(t, str) for t in turns):
        risk = ConversationRisk()
        results = [_public(screen.assess_message(t, risk=risk)) for t in turns]
        first = next((i for i, r in enumerate(results) if r["route"]), None)
        return {"turns": results, "first_routed_turn": first, "careful_mode": risk.careful_mode}
    return {"error": "expected {'text': str} or {'turns': [str, ...]}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safety", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    scr = sub.add_parser("screen", help="screen JSONL from stdin")
    scr.add_argument("--no-semantic", action="store_true", help="rules and conversation risk only")
    args = parser.parse_args(argv)

    from .screen import SafetyScreen

    screen = SafetyScreen(semantic=not args.no_semantic)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(screen_line(line, screen), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
