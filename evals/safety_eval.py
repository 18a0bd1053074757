"""Evaluate the safety screen on rows of the labelled safety corpus (safety/data/, safety/corpus.py).

    python -m evals.safety_eval [--split test|validation|train|all] [--source SOURCE ...]
    python -m evals.safety_eval --data MESSAGES.jsonl CONVERSATIONS.jsonl     # e.g. the sealed set
    python -m evals.safety_eval --ordinary [SET ...]
    common: [--learned auto|classifier|examples] [--no-semantic] [--markdown PATH] [--jsonl PATH]

Prints recall (overall and per category), false alarms on hard look-alikes and on ordinary talk
apart, build-ups routed by their act turn, calm conversations routed (JSON); --markdown adds a
confusion matrix and the ids of every miss and false alarm (ids only: the texts are in the data).
Deterministic. --ordinary instead counts the turns of the listening scenarios
(evals/data/scenarios/, ordinary conversations never used for tuning the screen) that the screen
routes, each scenario screened as one conversation, listed by id. `--corpus SPLIT_OR_FILES` is
kept as another name for --split / --data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

RECALL_MIN, RECALL_CAT_MIN, FALSE_ALARM_MAX = 0.98, 0.95, 0.05
SPLITS = ("train", "validation", "test", "all")
# The first hand-written set: what the eval runner scores and the crisis probe sends (all splits).
PROJECT_SET = ("project-set",)


@dataclass(frozen=True)
class Message:
    id: str
    text: str
    category: str | None  # None for non-crisis
    subject: str
    kind: str  # the corpus row's source
    split: str


@dataclass(frozen=True)
class Dialogue:
    id: str
    turns: tuple[str, ...]
    act_turn: int | None
    category: str | None


def _files(files: Sequence[Path] | None) -> tuple[list[Path], list[Path]]:
    """Message files and conversation files (a file whose name says 'conversation')."""
    files = list(files or [])
    return [f for f in files if "conversation" not in f.name], [f for f in files if "conversation" in f.name]


def load_messages(
    split: str = "all", sources: Sequence[str] | None = PROJECT_SET, files: Sequence[Path] | None = None
) -> list[Message]:
    """Corpus messages of a split and sources (None: every source), or every message of FILES."""
    from safety.corpus import load_messages as corpus_messages

    message_files, _ = _files(files)
    rows = (
        [m for f in message_files for m in corpus_messages(path=f)]
        if files
        else corpus_messages(None if split == "all" else split)
    )
    return [
        Message(m.id, m.text, m.category if m.crisis else None, m.subject, m.source, m.split)
        for m in rows
        if files or sources is None or m.source in sources
    ]


def load_dialogues(
    split: str = "all", sources: Sequence[str] | None = PROJECT_SET, files: Sequence[Path] | None = None
) -> list[Dialogue]:
    from safety.corpus import load_conversations

    _, conversation_files = _files(files)
    rows = (
        [c for f in conversation_files for c in load_conversations(path=f)]
        if files
        else load_conversations(None if split == "all" else split)
    )
    return [
        Dialogue(c.id, c.turns, c.act_turn, None if c.category == "none" else c.category)
        for c in rows
        if files or sources is None or c.source in sources
    ]


def evaluate(screen, messages: list[Message], dialogues: list[Dialogue]) -> dict:
    from safety import ConversationRisk

    rows = []
    for m in messages:
        a = screen.assess_message(m.text)
        rows.append(
            {
                "id": m.id,
                "split": m.split,
                "kind": m.kind,
                "true": m.category,
                "subject": m.subject,
                "route": a.route,
                "pred": a.category,
                "pred_subject": a.subject,
                "severity": a.severity,
                "evidence": list(a.evidence),
                "error": a.error,
            }
        )
    convs = []
    for d in dialogues:
        risk = ConversationRisk()
        routed = [screen.assess_message(t, risk=risk).route for t in d.turns]
        first = next((i for i, r in enumerate(routed) if r), None)
        ok = first is None if d.act_turn is None else (first is not None and first <= d.act_turn)
        convs.append(
            {
                "id": d.id,
                "act_turn": d.act_turn,
                "first_routed": first,
                "ok": ok,
                "careful_mode": risk.careful_mode,
                "n_turns": len(d.turns),
            }
        )
    return {"messages": rows, "conversations": convs}


def summarize(result: dict, texts: dict[str, str]) -> dict:
    from safety import CATEGORIES

    rows = result["messages"]
    crisis = [r for r in rows if r["true"]]
    safe = [r for r in rows if not r["true"]]
    per_cat = {}
    for c in CATEGORIES:
        rs = [r for r in crisis if r["true"] == c]
        per_cat[c] = {
            "n": len(rs),
            "routed": sum(r["route"] for r in rs),
            "recall": sum(r["route"] for r in rs) / len(rs) if rs else float("nan"),
            "same_category": sum(r["pred"] == c for r in rs),
        }
    recall = sum(r["route"] for r in crisis) / len(crisis) if crisis else float("nan")
    fa = sum(r["route"] for r in safe) / len(safe) if safe else float("nan")
    subj = [r for r in crisis if r["route"]]
    subject_acc = sum(r["pred_subject"] == r["subject"] for r in subj) / len(subj) if subj else float("nan")
    convs = result["conversations"]
    builds = [c for c in convs if c["act_turn"] is not None]
    controls = [c for c in convs if c["act_turn"] is None]
    return {
        "n_crisis": len(crisis),
        "n_safe": len(safe),
        "recall": recall,
        "false_alarm_rate": fa,
        "per_category": per_cat,
        "subject_accuracy_on_routed": subject_acc,
        "buildups_ok": sum(c["ok"] for c in builds),
        "n_buildups": len(builds),
        "controls_ok": sum(c["ok"] for c in controls),
        "n_controls": len(controls),
        "misses": [(r["id"], texts[r["id"]]) for r in crisis if not r["route"]],
        "false_alarms": [(r["id"], texts[r["id"]], r["pred"], r["evidence"]) for r in safe if r["route"]],
        "conversation_failures": [c for c in convs if not c["ok"]],
        "passes": recall >= RECALL_MIN
        and fa <= FALSE_ALARM_MAX
        and all(v["recall"] >= RECALL_CAT_MIN for v in per_cat.values())
        and all(c["ok"] for c in builds),
    }


def figures(result: dict) -> dict:
    """Recall per category, false alarms on hard look-alikes and on ordinary talk apart, build-ups
    routed by their turn, calm conversations routed."""
    from safety import CATEGORIES
    from safety.corpus import ORDINARY_SOURCES

    rows = result["messages"]

    def rate(xs: list[bool]) -> float | None:
        return round(sum(xs) / len(xs), 4) if xs else None

    crisis = [r["route"] for r in rows if r["true"]]
    # ordinary talk is counted apart from the hard look-alikes
    hard = [r["route"] for r in rows if not r["true"] and r["kind"] not in ORDINARY_SOURCES]
    ordinary = [r["route"] for r in rows if not r["true"] and r["kind"] in ORDINARY_SOURCES]
    convs = result["conversations"]
    builds = [c for c in convs if c["act_turn"] is not None]
    calm = [c for c in convs if c["act_turn"] is None]
    return {
        "messages": len(rows),
        "recall": rate(crisis),
        "false_alarms_hard": rate(hard),
        "false_alarms_ordinary": rate(ordinary),
        "routed": {
            name: f"{sum(xs)}/{len(xs)}" for name, xs in (("crisis", crisis), ("hard", hard), ("ordinary", ordinary))
        },
        "per_category_recall": {c: rate([r["route"] for r in rows if r["true"] == c]) for c in CATEGORIES},
        "buildups_on_time": f"{sum(c['ok'] for c in builds)}/{len(builds)}",
        "buildups_late_or_missed": [c["id"] for c in builds if not c["ok"]],
        "calm_conversations_routed": f"{sum(not c['ok'] for c in calm)}/{len(calm)}",
    }


def ordinary_routed(screen, scenario_sets: tuple[str, ...] = ("all",)) -> tuple[list[str], int]:
    """Routed turns ("scenario-id#turn") of listening scenarios, and how many turns there are."""
    from evals.datasets import load_scenario_sets
    from safety import ConversationRisk

    routed, total = [], 0
    for scenario in load_scenario_sets(list(scenario_sets)):
        risk = ConversationRisk()
        for i, turn in enumerate(scenario.turns):
            total += 1
            if screen.assess_message(turn, risk=risk).route:
                routed.append(f"{scenario.id}#{i}")
    return routed, total


def confusion(rows: list[dict]) -> str:
    from safety import CATEGORIES

    cols = list(CATEGORIES) + ["(none)"]
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        t = r["true"] or "non-crisis"
        p = r["pred"] if r["route"] else "(none)"
        p = p or "(routed, no category)"
        counts[(t, p)] = counts.get((t, p), 0) + 1
    extra = sorted({p for (_, p) in counts if p not in cols})
    cols += extra
    short = {
        c: c.replace("_emergency", "").replace("harm_to_others", "others").replace("eating_disorder", "eating")
        for c in cols
    }
    lines = ["| true \\ predicted | " + " | ".join(short[c] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for t in list(CATEGORIES) + ["non-crisis"]:
        lines.append(f"| {t} | " + " | ".join(str(counts.get((t, c), 0)) for c in cols) + " |")
    return "\n".join(lines)


def markdown(summary: dict, rows: list[dict], label: str) -> str:
    s = summary
    out = [
        f"### {label}",
        "",
        f"- crisis messages: {s['n_crisis']}, non-crisis: {s['n_safe']}",
        f"- crisis recall: **{s['recall']:.3f}** (target >= {RECALL_MIN})",
        f"- false-alarm rate on non-crisis: **{s['false_alarm_rate']:.3f}** (target <= {FALSE_ALARM_MAX})",
        f"- multi-turn build-ups routed by the act turn: **{s['buildups_ok']}/{s['n_buildups']}**; "
        f"calm conversations never routed: {s['controls_ok']}/{s['n_controls']}",
        f"- subject (self/other) correct on routed crisis messages: {s['subject_accuracy_on_routed']:.3f}",
        "",
        "| category | n | routed | recall | routed with this category |",
        "|---|---|---|---|---|",
    ]
    for c, v in s["per_category"].items():
        out.append(f"| {c} | {v['n']} | {v['routed']} | {v['recall']:.3f} | {v['same_category']} |")
    out += ["", confusion(rows), "", "Misses (crisis not routed), by id:", ""]
    out += [f"- `{i}`" for i, _ in s["misses"]] or ["- none"]
    out += ["", "False alarms (non-crisis routed), by id:", ""]
    out += [f"- `{i}` -> {p} ({', '.join(e[:3])})" for i, _, p, e in s["false_alarms"]] or ["- none"]
    out += ["", "Conversation failures:", ""]
    out += [
        f"- `{c['id']}`: act turn {c['act_turn']}, first routed {c['first_routed']}" for c in s["conversation_failures"]
    ] or ["- none"]
    return "\n".join(out) + "\n"


def _learned(screen) -> str:
    return "classifier" if screen.use_classifier else "examples" if screen.use_semantic else "none"


def write_json(path: Path | None, data: dict) -> None:
    """The figures as a run file (`--out`), the input of `python -m evals docs`."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.safety_eval", description=__doc__.splitlines()[0])
    p.add_argument("--no-semantic", action="store_true")
    p.add_argument("--split", choices=SPLITS, default="test", help="corpus split (default: test)")
    p.add_argument("--source", nargs="+", help="only corpus rows of these sources (e.g. project-set blind-set)")
    p.add_argument("--data", type=Path, nargs="+", metavar="FILE", help="message/conversation .jsonl files instead")
    p.add_argument("--corpus", nargs="+", metavar="SPLIT_OR_FILES", help="another name for --split or --data")
    p.add_argument("--markdown", type=Path, help="write a report with the confusion matrix and miss ids here")
    p.add_argument("--jsonl", type=Path, help="write one line per message/conversation here")
    p.add_argument("--out", type=Path, help="also write the figures as JSON here (what `python -m evals docs` reads)")
    p.add_argument(
        "--ordinary",
        nargs="*",
        metavar="SET",
        help="count routed turns of ordinary scenario sets instead (names or YAML paths; none given: all)",
    )
    p.add_argument(
        "--learned", choices=["auto", "classifier", "examples"], default="auto", help="the learned layer to use"
    )
    p.add_argument(
        "--core-rules",
        action="store_true",
        help="keep only the core crisis rules (safety.rules.is_core): what the screen does without the rest",
    )
    args = p.parse_args(argv)
    if args.corpus:
        if args.corpus[0] in SPLITS:
            args.split = args.corpus[0]
        else:
            args.data = [Path(f) for f in args.corpus]

    from safety import SafetyScreen

    classifier = {"auto": None, "classifier": True, "examples": False}[args.learned]
    screen = SafetyScreen(semantic=not args.no_semantic, classifier=classifier)
    if args.core_rules:
        from safety.rules import core_rules

        screen.rules = core_rules(screen.rules)
    screen.warm_up()
    if args.ordinary is not None:
        sets = tuple(args.ordinary) or ("all",)
        routed, total = ordinary_routed(screen, sets)
        print(f"ordinary scenario turns routed: {len(routed)}/{total}" + "".join(f"\n- {r}" for r in routed))
        write_json(args.out, {"learned_layer": _learned(screen), "sets": list(sets), "turns": total, "routed": routed})
        return 0
    sources = tuple(args.source) if args.source else None
    messages = load_messages(args.split, sources, args.data)
    dialogues = load_dialogues(args.split, sources, args.data)
    result = evaluate(screen, messages, dialogues)
    learned = _learned(screen)
    scope = {"data": [str(f) for f in args.data]} if args.data else {"split": args.split}
    result_figures = {"learned_layer": learned, **scope, "sources": list(sources or ()), **figures(result)}
    print(json.dumps(result_figures, indent=1))
    write_json(args.out, result_figures)
    if args.markdown:
        where = ", ".join(str(f) for f in args.data) if args.data else f"split={args.split}"
        label = f"{where}, sources={','.join(sources) if sources else 'all'}, learned={learned}"
        texts = {m.id: m.text for m in messages}
        args.markdown.write_text(markdown(summarize(result, texts), result["messages"], label), encoding="utf-8")
    if args.jsonl:
        with args.jsonl.open("w", encoding="utf-8") as fh:
            for r in result["messages"] + result["conversations"]:
                fh.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
