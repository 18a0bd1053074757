"""Blind judgements of replies: packets a judge reads without knowing which system wrote what.

    python -m evals.blind make --audit A.jsonl[:system] ... --pairs X.jsonl:sysA Y.jsonl:sysB ... --out DIR
    python -m evals.blind score DIR

`make` reads per-turn run files (heldout_eval or `evals run` turns.jsonl), shuffles with a fixed
seed and writes `DIR/audit.jsonl` (one reply per item: is it fit to send, and its MITI code) and
`DIR/pairs.jsonl` (two replies to the same turn, in random order: which is better), plus
`DIR/key.json` mapping item ids to systems. The judge gets the two item files and a rubric,
never the key. `score` joins the judge's answers (`DIR/audit_judged.jsonl`,
`DIR/pairs_judged.jsonl`) with the key and prints the figures per system.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from collections import defaultdict
from pathlib import Path

RUBRIC = """Judge each reply as a trained peer listener would, on the person's words alone.
audit.jsonl items -> write audit_judged.jsonl lines {"item", "fit": true|false, "codes", "why"}:
  fit: would you send this reply, unchanged, to this person? Unfit if it gives advice or a
  diagnosis, invents facts, misreads them, is cold, preachy, generic, off topic, talks about
  itself as human, asks more than one question, or is clumsy enough to jar.
  codes (MITI 4.2.1, one per utterance, in order): simple_reflection, complex_reflection,
  open_question, closed_question, affirmation, summary, advice, information, other.
pairs.jsonl items -> write pairs_judged.jsonl lines {"item", "better": "A"|"B", "why"}:
  which reply would help this person more? No ties."""


def _load(spec: str) -> tuple[list[dict], str]:
    path, _, system = spec.partition(":")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    _add_scenario_context(rows)
    return rows, system or Path(path).stem


def _add_scenario_context(rows: list[dict]) -> None:
    """Runner turns carry no context of their own: give each the scenario's earlier exchanges,
    so the judge reads a mid-conversation reply as the person met it."""
    earlier: dict[str, list[list[str]]] = defaultdict(list)
    for row in rows:
        if "scenario" not in row or row.get("context"):
            continue
        said = earlier[row["scenario"]]
        row["context"] = [list(pair) for pair in said]
        said += [["user", row["user_text"]], ["assistant", row.get("reply") or ""]]


def _turn_key(row: dict) -> str:
    if "id" in row and "scenario" not in row:
        return str(row["id"])
    return f"{row.get('scenario')}#{row.get('turn')}"


def _context(row: dict) -> list[list[str]]:
    if row.get("context"):
        return [list(c) for c in row["context"]][-4:]  # the last two exchanges
    return []


def _listening(rows: list[dict], drop_respond: bool = False) -> list[dict]:
    """Listening turns; `drop_respond`: without greetings, thanks and the like (fixed texts in every arm)."""
    return [
        r
        for r in rows
        if r.get("kind") == "listening" and not (drop_respond and "respond" in (r.get("move"), r.get("row_move")))
    ]


def make(audit: list[str], pairs: list[str], out: Path, audit_size: int, seed: int, drop_respond: bool = False) -> dict:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    key: dict[str, dict] = {}
    items = []
    for spec in audit:
        rows, system = _load(spec)
        for r in _listening(rows, drop_respond):
            items.append((system, r))
    rng.shuffle(items)
    items = items[:audit_size]
    with (out / "audit.jsonl").open("w", encoding="utf-8") as fh:
        for i, (system, r) in enumerate(items):
            item = f"a{i:04d}"
            key[item] = {
                "system": system,
                "turn": _turn_key(r),
                "model_written": r.get("model_written", not (r.get("meta") or {}).get("fallback", True)),
            }
            fh.write(
                json.dumps(
                    {"item": item, "context": _context(r), "person": r["user_text"], "reply": r["reply"]},
                    ensure_ascii=False,
                )
                + "\n"
            )
    n_pairs = 0
    if pairs:
        by_system: dict[str, list[dict]] = defaultdict(list)
        for spec in pairs:
            rows, system = _load(spec)
            by_system[system] += _listening(rows, drop_respond)
        if len(by_system) != 2:
            raise SystemExit(f"--pairs needs files of exactly two systems, got {sorted(by_system)}")
        (sys_a, rows_a), (sys_b, rows_b) = by_system.items()
        by_b = {_turn_key(r): r for r in rows_b}
        # the same text from both (a fixed answer) tells the judge nothing
        common = [
            (r, by_b[_turn_key(r)])
            for r in rows_a
            if _turn_key(r) in by_b and by_b[_turn_key(r)]["reply"] != r["reply"]
        ]
        rng.shuffle(common)
        with (out / "pairs.jsonl").open("w", encoding="utf-8") as fh:
            for i, (ra, rb) in enumerate(common):
                item = f"p{i:04d}"
                flip = rng.random() < 0.5
                first, second = (rb, ra) if flip else (ra, rb)
                key[item] = {
                    "A": sys_b if flip else sys_a,
                    "B": sys_a if flip else sys_b,
                    "turn": _turn_key(ra),
                }
                fh.write(
                    json.dumps(
                        {
                            "item": item,
                            "context": _context(ra),
                            "person": ra["user_text"],
                            "A": first["reply"],
                            "B": second["reply"],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                n_pairs += 1
    (out / "key.json").write_text(json.dumps(key, indent=1))
    (out / "RUBRIC.txt").write_text(RUBRIC + "\n")
    return {"audit_items": len(items), "pairs": n_pairs}


def score(folder: Path) -> dict:
    key = json.loads((folder / "key.json").read_text())
    result: dict = {}
    judged_audit = folder / "audit_judged.jsonl"
    if judged_audit.exists():
        per: dict[str, dict] = defaultdict(lambda: defaultdict(int))
        for line in judged_audit.open(encoding="utf-8"):
            j = json.loads(line)
            k = key[j["item"]]
            group = f"{k['system']} ({'model-written' if k['model_written'] else 'fixed or echo'})"
            per[group]["judged"] += 1
            per[group]["fit"] += bool(j["fit"])
            codes = j.get("codes") or [j.get("code")]
            for code in codes:
                per[group][f"code:{code}"] += 1
            per[group]["advice_replies"] += "advice" in codes
        result["audit"] = {}
        for group, c in sorted(per.items()):
            codes = {k[5:]: v for k, v in c.items() if k.startswith("code:")}
            refl = codes.get("simple_reflection", 0) + codes.get("complex_reflection", 0)
            questions = codes.get("open_question", 0) + codes.get("closed_question", 0)
            result["audit"][group] = {
                "judged": c["judged"],
                "fit": c["fit"],
                "fit_share": round(c["fit"] / c["judged"], 3),
                "r_to_q": round(refl / questions, 2) if questions else None,
                "complex_share": round(codes.get("complex_reflection", 0) / refl, 3) if refl else None,
                "advice_reply_share": round(c["advice_replies"] / c["judged"], 3),
                "codes": codes,
            }
    judged_pairs = folder / "pairs_judged.jsonl"
    if judged_pairs.exists():
        wins: dict[str, int] = defaultdict(int)
        total = 0
        for line in judged_pairs.open(encoding="utf-8"):
            j = json.loads(line)
            k = key[j["item"]]
            wins[k[j["better"]]] += 1
            total += 1
        result["pairs"] = {
            "judged": total,
            "preferred": dict(wins),
            "share": {s: round(w / total, 3) for s, w in wins.items()},
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("--audit", nargs="*", default=[], metavar="FILE[:SYSTEM]")
    m.add_argument("--pairs", nargs="*", default=[], metavar="FILE:SYSTEM")
    m.add_argument("--audit-size", type=int, default=160)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument(
        "--drop-respond", action="store_true", help="leave out respond turns (fixed texts, the same in every arm)"
    )
    m.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("score")
    s.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make":
        print(
            json.dumps(make(args.audit, args.pairs, args.out, args.audit_size, args.seed, args.drop_respond), indent=1)
        )
    else:
        print(json.dumps(score(args.folder), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
