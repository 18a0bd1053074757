"""Measure listening on the scripted scenarios: reflect-first pipeline vs the bare model.

    python -m evals.listening_eval [--limit N] [--candidates 3] [--out turns.jsonl] [--markdown]

Both arms talk to the same model with the same generation settings; each keeps its own
conversation history. Every reply is coded with the TechniqueCoder (MITI-style segments, the
person's line as prompt) and the MITI 4.2.1 summary scores are computed per arm.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

SAMPLE_EXCHANGES = 10


def spread(scenarios: list, limit: int | None, offset: int = 0) -> list:
    """`limit` scenarios after `offset`, topics taken in turn, so a subset covers every topic."""
    by_topic: dict[str, list] = defaultdict(list)
    for s in scenarios:
        by_topic[s.topic].append(s)
    ordered, queues = [], [list(v) for v in by_topic.values()]
    while any(queues):
        for q in queues:
            if q:
                ordered.append(q.pop(0))
    ordered = ordered[offset:]
    return ordered[:limit] if limit else ordered


def bare_reply(model, system: str, history, user_text: str, settings) -> tuple[str, int]:
    from chatbot.models import complete

    text = complete(
        model, [{"role": "system", "content": system}, *history, {"role": "user", "content": user_text}], settings
    )
    return text.strip(), 0


def arm_metrics(records: list[dict]) -> dict:
    from chatbot.coder import Code, miti_summary

    segments = [Code(**s) for r in records for s in r["segments"]]
    replies = len(records)
    summary = miti_summary(segments)
    summary.update(
        replies=replies,
        advice_or_diagnosis_replies=sum(r["advice_or_diagnosis"] for r in records),
        advice_or_diagnosis_rate=sum(r["advice_or_diagnosis"] for r in records) / replies if replies else None,
        empty_replies=sum(not r["reply"].strip() for r in records),
        repeated_replies=sum(r["repeat"] for r in records),
        replies_with_2plus_questions=sum(r["questions"] >= 2 for r in records),
        fallback_replies=sum(bool(r.get("fallback")) for r in records),
        mean_words=sum(len(r["reply"].split()) for r in records) / replies if replies else None,
    )
    return summary


def meets_good(m: dict) -> dict[str, bool]:
    rq, cr = m["r_to_q"], m["pct_complex_reflections"]
    return {
        "r_to_q >= 2": rq is not None and rq >= 2,
        "complex reflections >= 50%": cr is not None and cr >= 50,
        "advice/diagnosis <= 5% of replies": (m["advice_or_diagnosis_rate"] or 0) <= 0.05,
        "no empty replies": m["empty_replies"] == 0,
        "no repeated replies": m["repeated_replies"] == 0,
    }


def _fmt(value, pct=False) -> str:
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "inf (no questions)"
    return f"{value:.1f}%" if pct else f"{value:.2f}"


def _ratio(a, b) -> str:
    if a is None or b is None:
        return "n/a"
    if b == 0:
        return "inf" if a else "n/a"
    if a == float("inf") or b == float("inf"):
        return "inf" if a == float("inf") and b != float("inf") else "n/a"
    return f"{a / b:.2f}x"


def markdown(result: dict) -> str:
    p, b = result["pipeline"], result["bare"]
    rows = [
        ("replies", p["replies"], b["replies"], None),
        ("reflections (incl. summaries)", p["reflections_incl_summaries"], b["reflections_incl_summaries"], None),
        ("questions", p["counts"]["question"], b["counts"]["question"], None),
        ("R:Q", _fmt(p["r_to_q"]), _fmt(b["r_to_q"]), _ratio(p["r_to_q"], b["r_to_q"])),
        (
            "% complex reflections",
            _fmt(p["pct_complex_reflections"], True),
            _fmt(b["pct_complex_reflections"], True),
            _ratio(p["pct_complex_reflections"], b["pct_complex_reflections"]),
        ),
        ("% open questions", _fmt(p["pct_open_questions"], True), _fmt(b["pct_open_questions"], True), None),
        (
            "replies with advice/diagnosis",
            f"{p['advice_or_diagnosis_replies']} ({100 * p['advice_or_diagnosis_rate']:.1f}%)",
            f"{b['advice_or_diagnosis_replies']} ({100 * b['advice_or_diagnosis_rate']:.1f}%)",
            _ratio(p["advice_or_diagnosis_rate"], b["advice_or_diagnosis_rate"]),
        ),
        ("replies with 2+ questions", p["replies_with_2plus_questions"], b["replies_with_2plus_questions"], None),
        ("empty replies", p["empty_replies"], b["empty_replies"], None),
        ("repeated replies", p["repeated_replies"], b["repeated_replies"], None),
        ("fallback replies", p["fallback_replies"], "-", None),
        ("mean words per reply", _fmt(p["mean_words"]), _fmt(b["mean_words"]), None),
        ("counts", json.dumps(p["counts"]), json.dumps(b["counts"]), None),
        ("generation time (s)", f"{result['seconds']['pipeline']:.0f}", f"{result['seconds']['bare']:.0f}", None),
    ]
    lines = [
        f"Scenarios: {result['scenarios']} ({result['turns']} turns); model: {result['model']}; "
        f"settings: {result['settings']}; candidates: {result['candidates']}.",
        "",
        "| metric | pipeline | bare model | pipeline / bare |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {pv} | {bv} | {ratio or ''} |" for name, pv, bv, ratio in rows]
    model_only = result.get("pipeline_model_written")
    if model_only and model_only["replies"]:
        lines += [
            "",
            f"Pipeline replies written by the model (not the fallback): {model_only['replies']}; "
            f"R:Q {_fmt(model_only['r_to_q'])}, complex reflections "
            f"{_fmt(model_only['pct_complex_reflections'], True)}, advice/diagnosis "
            f"{model_only['advice_or_diagnosis_replies']}.",
        ]
    lines += [
        "",
        'MITI "good" (pipeline): ' + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in meets_good(p).items()),
    ]
    lines += ['MITI "good" (bare): ' + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in meets_good(b).items())]
    lines += ["", "Sample exchanges (pipeline and bare model on the same person's line):", ""]
    one_line = lambda t: " / ".join(" ".join(part.split()) for part in t.split("\n") if part.strip())  # noqa: E731
    for s in result["samples"]:
        s = {**s, "pipeline": one_line(s["pipeline"]), "bare": one_line(s["bare"])}
        lines += [
            f'- **{s["scenario"]} turn {s["turn"]}** person: "{s["user"]}"',
            f'  - pipeline ({s["move"]}, coded {s["pipeline_code"]}{", fallback" if s["fallback"] else ""}): "{s["pipeline"]}"',
            f'  - bare (coded {s["bare_code"]}): "{s["bare"]}"',
        ]
    return "\n".join(lines)


def _record(coder, scenario, turn, user_text, reply, earlier, extra) -> dict:
    from chatbot.coder import is_diagnosis
    from chatbot.listening import is_repeat

    segments = coder.code_all(reply, user_text)
    primary = coder.code(reply, user_text)
    return {
        "scenario": scenario.id,
        "topic": scenario.topic,
        "turn": turn,
        "user": user_text,
        "reply": reply,
        "code": primary.code,
        "subtype": primary.subtype,
        "segments": [s.as_dict() for s in segments],
        "questions": sum(s.code == "question" for s in segments),
        "advice_or_diagnosis": any(s.code == "advice" for s in segments) or is_diagnosis(reply),
        "repeat": bool(reply.strip()) and is_repeat(reply, earlier),
        **extra,
    }


def run(
    limit: int | None, candidates: int, max_new_tokens: int, seed: int, out_path: str | None, offset: int = 0
) -> dict:
    from chatbot.backends.embedded import load_embedded_model
    from chatbot.coder import default_coder
    from chatbot.config import default_settings
    from chatbot.listening import ReflectFirstPipeline
    from chatbot.models import Message
    from chatbot.prompts import load_prompt
    from evals.datasets import load_scenario_sets

    scenarios = spread(load_scenario_sets(["listening"]), limit, offset)
    model = load_embedded_model()
    coder = default_coder()
    pipeline = ReflectFirstPipeline(model, coder, candidates=candidates)
    system = load_prompt("system").template.strip()
    settings = default_settings(max_new_tokens=max_new_tokens, seed=seed)
    records: dict[str, list[dict]] = {"pipeline": [], "bare": []}
    seconds = {"pipeline": 0.0, "bare": 0.0}
    out = open(out_path, "w", encoding="utf-8") if out_path else None  # noqa: SIM115 (closed in finally)
    try:
        for n, scenario in enumerate(scenarios, 1):
            hist: dict[str, list[Message]] = {"pipeline": [], "bare": []}
            for turn, user_text in enumerate(scenario.turns, 1):
                t0 = time.perf_counter()
                planned = pipeline.reply(hist["pipeline"], user_text, settings)
                seconds["pipeline"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                bare, _ = bare_reply(model, system, hist["bare"], user_text, settings)
                seconds["bare"] += time.perf_counter() - t0
                for arm, reply, extra in (
                    (
                        "pipeline",
                        planned.text,
                        {
                            "move": planned.move,
                            "fallback": planned.fallback,
                            "tokens": planned.tokens,
                            "candidates": planned.candidates,
                        },
                    ),
                    ("bare", bare, {}),
                ):
                    earlier = [m["content"] for m in hist[arm] if m["role"] == "assistant"]
                    rec = _record(coder, scenario, turn, user_text, reply, earlier, {"arm": arm, **extra})
                    records[arm].append(rec)
                    if out:
                        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    hist[arm] += [{"role": "user", "content": user_text}, {"role": "assistant", "content": reply}]
            print(
                f"[{n}/{len(scenarios)}] {scenario.id} done "
                f"(pipeline {seconds['pipeline']:.0f}s, bare {seconds['bare']:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if out:
            out.close()
    meta = {
        "arm": "meta",
        "scenarios": len(scenarios),
        "model": model.identity.name,
        "settings": f"max_new_tokens={max_new_tokens}, temperature={settings.temperature}, "
        f"top_p={settings.top_p}, seed={seed}",
        "candidates": candidates,
        "seconds": seconds,
    }
    if out_path:
        with open(out_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(meta) + "\n")
    return summarise(records, meta)


def summarise(records: dict[str, list[dict]], meta: dict) -> dict:
    samples = []
    pipe, bare_recs = records["pipeline"], records["bare"]
    step = max(1, len(pipe) // SAMPLE_EXCHANGES)
    for p, b in list(zip(pipe, bare_recs))[::step][:SAMPLE_EXCHANGES]:
        label = lambda r: r["code"] + (f"/{r['subtype']}" if r["subtype"] else "")  # noqa: E731
        samples.append(
            {
                "scenario": p["scenario"],
                "turn": p["turn"],
                "user": p["user"],
                "move": p["move"],
                "pipeline": p["reply"],
                "pipeline_code": label(p),
                "fallback": p["fallback"],
                "bare": b["reply"],
                "bare_code": label(b),
            }
        )
    return {
        "scenarios": len({r["scenario"] for r in pipe}),
        "turns": len(pipe),
        "model": meta.get("model", "?"),
        "settings": meta.get("settings", "?"),
        "candidates": meta.get("candidates", "?"),
        "seconds": meta.get("seconds", {"pipeline": float("nan"), "bare": float("nan")}),
        "pipeline": arm_metrics(pipe),
        "bare": arm_metrics(bare_recs),
        "samples": samples,
        "pipeline_model_written": arm_metrics([r for r in pipe if not r.get("fallback")]),
    }


def from_jsonl(path: str) -> dict:
    """Metrics from runs' per-reply JSONL files, comma-separated (unfinished turns are dropped)."""
    records: dict[str, list[dict]] = {"pipeline": [], "bare": []}
    meta: dict = {}
    for one in path.split(","):  # several runs' files (e.g. --offset halves) add up
        with open(one, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec["arm"] != "meta":
                    records[rec["arm"]].append(rec)
                elif not meta:
                    meta = rec
                else:
                    meta = {
                        **meta,
                        "scenarios": meta["scenarios"] + rec["scenarios"],
                        "seconds": {k: meta["seconds"][k] + rec["seconds"][k] for k in rec["seconds"]},
                    }
    paired = {(r["scenario"], r["turn"]) for r in records["pipeline"]} & {
        (r["scenario"], r["turn"]) for r in records["bare"]
    }
    records = {arm: [r for r in recs if (r["scenario"], r["turn"]) in paired] for arm, recs in records.items()}
    return summarise(records, meta)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.listening_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="first N scenarios, topics taken in turn")
    parser.add_argument("--offset", type=int, default=0, help="skip the first N (same order)")
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write one JSON line per reply here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON, not markdown")
    parser.add_argument("--report", metavar="JSONL[,JSONL]", help="no generation: metrics from runs' --out files")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.report:
        result = from_jsonl(args.report)
    else:
        result = run(args.limit, args.candidates, args.max_new_tokens, args.seed, args.out, args.offset)
    result["wall_seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(markdown(result))
        print(f"\nWall time: {result['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
