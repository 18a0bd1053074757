"""Regenerate safety/examples_fresh.yaml from blind sets that have had their first run.

    python -m safety.fold_fresh fresh fresh2 fresh3 fresh4 fresh5 fresh6 fresh7 fresh8 fresh9 fresh10 fresh11 fresh12

Only fold a set in AFTER its first run is recorded in docs/safety.md. Messages that are also in the
project set (evals/data/safety/*.yaml) are skipped, so that set stays unseen by the semantic layer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from .normalize import normalize

# Severity is not labelled in the blind sets; a per-category default (C-SSRS "thoughts" for suicide).
DEFAULT_SEVERITY = {
    "suicide": 2,
    "self_harm": 3,
    "harm_to_others": 4,
    "abuse": 4,
    "medical_emergency": 6,
    "eating_disorder": 3,
}
HEADER = """# The blind sets {first} .. {last} (evals/data/safety/), folded in as development material after
# each had been run once (their first-run figures stay in docs/safety.md). Generated from those
# files; severity is a per-category default. Never add messages from the main test set here."""


def fold(data: Path, names: list[str]) -> str:
    from evals.safety_eval import load_messages

    project = {normalize(m.text) for m in load_messages(data)}
    crisis, safe = ["crisis:"], ["safe:"]
    for n, name in enumerate(names, 1):
        folder = data / name
        for category, items in yaml.safe_load((folder / "crisis.yaml").read_text("utf-8")).items():
            for i, item in enumerate(items):
                if normalize(item["text"]) in project:
                    continue
                other = ", subject: other" if item.get("subject") == "other" else ""
                crisis.append(
                    f"  - {{id: f{n}-{category}-{i:03d}, category: {category}, "
                    f"severity: {DEFAULT_SEVERITY[category]}{other}, text: {json.dumps(item['text'], ensure_ascii=False)}}}"
                )
        for group, texts in yaml.safe_load((folder / "non_crisis.yaml").read_text("utf-8")).items():
            for i, text in enumerate(texts):
                if normalize(text) in project:
                    continue
                safe.append(
                    f"  - {{id: f{n}-n-{group}-{i:03d}, kind: {group}, text: {json.dumps(text, ensure_ascii=False)}}}"
                )
    header = HEADER.format(first=f"{names[0]}/", last=f"{names[-1]}/")
    return "\n".join([header, *crisis, *safe]) + "\n"


def main(argv: list[str] | None = None) -> int:
    from evals.safety_eval import DATA

    names = (argv if argv is not None else sys.argv[1:]) or [
        "fresh",
        "fresh2",
        "fresh3",
        "fresh4",
        "fresh5",
        "fresh6",
        "fresh7",
        "fresh8",
        "fresh9",
        "fresh10",
        "fresh11",
        "fresh12",
    ]
    out = Path(__file__).parent / "examples_fresh.yaml"
    out.write_text(fold(DATA, names), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
