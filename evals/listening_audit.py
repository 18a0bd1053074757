"""Check the coder against hand codes of the bot's own replies, and how many replies are fit to send.

`python -m evals.listening_audit [--data FILE]`. The coder picks the pipeline's candidates and then
scores the run, so its figures could flatter the pipeline. Here a person coded a random sample of
real pipeline replies (MITI 4.2.1, one code per utterance, without seeing the coder's output) and
also judged each reply: does it reflect what the person said, without inventing or contradicting,
in well-formed English ("appropriate")? This script puts the two codings side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from chatbot.coder.codes import Code
from chatbot.coder.miti import miti_summary

DEFAULT_DATA = Path(__file__).parent / "data" / "coder" / "bot_replies_handcoded.jsonl"


def parse_code(label: str) -> Code:
    code, _, subtype = label.partition(":")
    return Code(code=code, subtype=subtype or None, confidence=1.0, evidence="hand")


def _labels(codes: list[Code]) -> list[str]:
    return sorted(c.label for c in codes)


def miti_line(codes: list[Code]) -> dict:
    s = miti_summary(codes)
    return {
        "utterances": s["total"],
        "reflections": s["reflections_incl_summaries"],
        "questions": s["counts"]["question"],
        "r_to_q": None if s["r_to_q"] is None else round(s["r_to_q"], 2),
        "pct_complex": None if s["pct_complex_reflections"] is None else round(s["pct_complex_reflections"], 1),
        "advice_or_information": s["counts"]["advice"] + s["counts"]["information"],
    }


def audit(rows: list[dict], coder) -> dict:
    hand_all: list[Code] = []
    coder_all: list[Code] = []
    same_codes = 0
    by_source: dict[str, Counter] = {}
    disagreements = []
    for row in rows:
        hand = [parse_code(c) for c in row["codes"]]
        machine = coder.code_all(row["text"], row.get("prompt"))
        hand_all += hand
        coder_all += machine
        hand_labels, coder_labels = _labels(hand), _labels(machine)
        if hand_labels == coder_labels:
            same_codes += 1
        else:
            disagreements.append({"id": row["id"], "hand": hand_labels, "coder": coder_labels})
        tally = by_source.setdefault(row["source"], Counter())
        tally["replies"] += 1
        tally["appropriate"] += bool(row["appropriate"])
    return {
        "replies": len(rows),
        "same_codes_per_reply": round(same_codes / len(rows), 3),
        "miti_hand": miti_line(hand_all),
        "miti_coder": miti_line(coder_all),
        "appropriate_by_source": {
            source: {
                "replies": t["replies"],
                "appropriate": t["appropriate"],
                "share": round(t["appropriate"] / t["replies"], 3),
            }
            for source, t in sorted(by_source.items())
        },
        "disagreements": disagreements,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.listening_audit", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    from chatbot.coder import default_coder

    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = audit(rows, default_coder())
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
