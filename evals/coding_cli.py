"""`python -m evals code`: code listener utterances with the technique coder.

--input FILE    JSONL rows with "text" (and optional "prompt"); prints them with code/subtype and
                MITI segments, the whole file coded in batches.
--agreement A B two labellings of the same turns (rows with id and segments): Cohen's kappa.
--annomi PATH   AnnoMI CSV; codes therapist utterances (prompt = the client line before) and
                reports agreement with the human codes (accuracy, Cohen's kappa, confusion).
--evaluate      accuracy of the rules coder on its own held-out split, per code, as markdown.
--coder         auto (the fine-tuned coder where its model ships), tuned or rules.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# Our codes -> AnnoMI's main_therapist_behaviour. AnnoMI's "therapist_input" is information,
# advice, options and goal setting; affirmations have no AnnoMI code of their own and fall in
# "other"; MITI 4.2.1 codes a summary as a reflection, so summaries map to "reflection".
TO_ANNOMI = {
    "reflection": "reflection",
    "summary": "reflection",
    "question": "question",
    "advice": "therapist_input",
    "information": "therapist_input",
    "affirmation": "other",
    "other": "other",
}
ANNOMI_LABELS = ("reflection", "question", "therapist_input", "other")


def cohen_kappa(gold: Sequence[str], pred: Sequence[str]) -> float | None:
    n = len(gold)
    if n == 0:
        return None
    observed = sum(g == p for g, p in zip(gold, pred)) / n
    gc, pc = Counter(gold), Counter(pred)
    expected = sum(gc[k] * pc[k] for k in set(gc) | set(pc)) / (n * n)
    return None if expected == 1 else (observed - expected) / (1 - expected)


def confusion(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred):
        matrix[index[g]][index[p]] += 1
    return matrix


def confusion_markdown(matrix, labels) -> str:
    head = "| gold \\ coded | " + " | ".join(labels) + " |"
    rule = "|---" * (len(labels) + 1) + "|"
    rows = [f"| {label} | " + " | ".join(map(str, row)) + " |" for label, row in zip(labels, matrix)]
    return "\n".join([head, rule, *rows])


def _full_label(code: str, subtype: str | None) -> str:
    return f"{code}/{subtype}" if subtype else code


# -- modes --------------------------------------------------------------------------------


def code_jsonl(path: str, coder_kind: str = "auto", out=sys.stdout) -> int:
    """Rows of `path` with their codes added; the whole file is coded in batches."""
    from chatbot.coder import default_coder
    from chatbot.coder.codes import primary_code

    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise SystemExit(f"{path}:{lineno}: each row needs a string 'text' field")
            prompt = row.get("prompt")
            rows.append((row, prompt if isinstance(prompt, str) else None))
    coder = default_coder(coder_kind)
    coded = coder.code_many([(row["text"], prompt) for row, prompt in rows])
    for (row, _), parts in zip(rows, coded):
        c = primary_code(parts)
        record = {**c.as_dict(), "segments": [p.as_dict() for p in parts]}
        out.write(json.dumps({**row, **record}, ensure_ascii=False) + "\n")
    return 0


def _segment_labels(path: str) -> dict[str, list[str]]:
    from chatbot.coder.tuned import label_of

    labels = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                labels[row["id"]] = [label_of(s) for s in row["segments"]]
    return labels


def agreement(first: str, second: str) -> dict:
    """Cohen's kappa between two labellings of the same segments (rows matched by id)."""
    a, b = _segment_labels(first), _segment_labels(second)
    pairs, resplit = [], []
    for row_id in sorted(set(a) & set(b)):
        if len(a[row_id]) != len(b[row_id]):
            resplit.append(row_id)  # segmented differently since: not comparable segment by segment
            continue
        pairs += list(zip(a[row_id], b[row_id]))
    if not pairs:
        raise SystemExit("no row ids in common")
    gold, other = [g for g, _ in pairs], [p for _, p in pairs]
    four = [(TO_ANNOMI[g.partition(":")[0]], TO_ANNOMI[p.partition(":")[0]]) for g, p in pairs]
    refl = [(g, p) for g, p in pairs if g.startswith("reflection:") and p.startswith("reflection:")]
    disagreements = Counter(f"{g} / {p}" for g, p in pairs if g != p)
    return {
        "turns": len(set(a) & set(b)) - len(resplit),
        "skipped_resegmented": resplit,
        "segments": len(pairs),
        "agreement_9": round(sum(g == p for g, p in pairs) / len(pairs), 3),
        "kappa_9": round(cohen_kappa(gold, other) or 0.0, 3),
        "kappa_4": round(cohen_kappa([g for g, _ in four], [p for _, p in four]) or 0.0, 3),
        "kappa_simple_complex": round(cohen_kappa([g for g, _ in refl], [p for _, p in refl]) or 0.0, 3),
        "reflections_both": len(refl),
        "disagreements": dict(disagreements.most_common()),
    }


def annomi_rows(path: str) -> list[dict]:
    """Therapist utterances with the client line before each (None at a transcript's start)."""
    rows, prompt, transcript = [], None, None
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"interlocutor", "utterance_text", "main_therapist_behaviour"} - set(reader.fieldnames or ())
        if missing:
            raise SystemExit(f"{path}: missing columns {sorted(missing)}")
        for row in reader:
            if row.get("transcript_id") != transcript:  # a new conversation: no carried prompt
                transcript, prompt = row.get("transcript_id"), None
            if row["interlocutor"].strip().lower() == "client":
                prompt = row["utterance_text"]
            elif row["interlocutor"].strip().lower() == "therapist":
                rows.append({**row, "prompt": prompt})
    return rows


def annomi_agreement(path: str, coder_kind: str = "auto") -> dict:
    from chatbot.coder import default_coder

    coder = default_coder(coder_kind)
    rows = annomi_rows(path)
    gold: list[str] = []
    pred: list[str] = []
    sub_pairs: dict[str, list[tuple[str, str]]] = {"reflection": [], "question": []}  # (gold, ours)
    for row in rows:
        g = row["main_therapist_behaviour"].strip().lower()
        if g not in ANNOMI_LABELS:
            continue
        c = coder.code(row["utterance_text"], row["prompt"])
        p = TO_ANNOMI[c.code]
        gold.append(g)
        pred.append(p)
        # Subtype agreement only where both sides chose the same main code and gold has a subtype.
        for code, column in (("reflection", "reflection_subtype"), ("question", "question_subtype")):
            gold_sub = (row.get(column) or "").strip().lower()
            if g == code and p == code and gold_sub and gold_sub not in ("nan", "none"):
                ours = "complex" if c.code == "summary" else c.subtype
                assert ours is not None  # Code requires a subtype for a reflection or a question
                sub_pairs[code].append((gold_sub, ours))
    n = len(gold)
    report: dict[str, object] = {
        "n": n,
        "accuracy": sum(a == b for a, b in zip(gold, pred)) / n if n else None,
        "kappa": cohen_kappa(gold, pred),
        "labels": list(ANNOMI_LABELS),
        "confusion": confusion(gold, pred, ANNOMI_LABELS),
        "mapping": TO_ANNOMI,
    }
    for code, pairs in sub_pairs.items():
        if pairs:
            report[f"{code}_subtype"] = {
                "n": len(pairs),
                "accuracy": sum(a == b for a, b in pairs) / len(pairs),
                "kappa": cohen_kappa([a for a, _ in pairs], [b for _, b in pairs]),
            }
    return report


def evaluate_heldout() -> dict:
    from chatbot.coder import TechniqueCoder, load_labelled

    coder = TechniqueCoder.load()  # trained on the "train" split only
    test = [r for r in load_labelled() if r.get("split") == "test"]
    gold = [_full_label(r["code"], r.get("subtype")) for r in test]
    coded = [coder.code(r["text"], r.get("prompt")) for r in test]
    pred = [_full_label(c.code, c.subtype) for c in coded]
    labels = sorted(set(gold) | set(pred))
    per_code = {}
    for code in sorted({r["code"] for r in test}):
        idx = [i for i, r in enumerate(test) if r["code"] == code]
        per_code[code] = {
            "n": len(idx),
            "accuracy": sum(coded[i].code == code for i in idx) / len(idx),
            "accuracy_with_subtype": sum(pred[i] == gold[i] for i in idx) / len(idx),
        }
    return {
        "n": len(test),
        "accuracy": sum(c.code == r["code"] for c, r in zip(coded, test)) / len(test),
        "accuracy_with_subtype": sum(a == b for a, b in zip(gold, pred)) / len(test),
        "kappa": cohen_kappa([r["code"] for r in test], [c.code for c in coded]),
        "per_code": per_code,
        "labels": labels,
        "confusion": confusion(gold, pred, labels),
        "errors": [{"text": r["text"], "gold": g, "coded": p} for r, g, p in zip(test, gold, pred) if g != p],
    }


def heldout_markdown(report: dict) -> str:
    lines = [
        f"Held-out split: {report['n']} utterances. Code accuracy {report['accuracy']:.1%} "
        f"(Cohen's kappa {report['kappa']:.2f}); code and subtype both right {report['accuracy_with_subtype']:.1%}.",
        "",
        "| code | n | code accuracy | code + subtype accuracy |",
        "|---|---|---|---|",
    ]
    for code, m in report["per_code"].items():
        lines.append(f"| {code} | {m['n']} | {m['accuracy']:.0%} | {m['accuracy_with_subtype']:.0%} |")
    lines += [
        "",
        "Confusion matrix (rows: gold label, columns: coder's label):",
        "",
        confusion_markdown(report["confusion"], report["labels"]),
        "",
        "Misclassified held-out utterances:",
        "",
    ]
    lines += [f'- "{e["text"]}" (gold {e["gold"]}, coded {e["coded"]})' for e in report["errors"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals code", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--input", metavar="FILE", help="JSONL with 'text' and optional 'prompt'")
    mode.add_argument("--annomi", metavar="PATH", help="AnnoMI CSV to measure agreement against")
    mode.add_argument("--evaluate", action="store_true", help="held-out accuracy of the rules coder")
    mode.add_argument("--agreement", nargs=2, metavar=("FIRST", "SECOND"), help="kappa of two labellings")
    parser.add_argument(
        "--coder", choices=["auto", "tuned", "rules"], default="auto", help="auto: the fine-tuned coder where it ships"
    )
    parser.add_argument("--markdown", action="store_true", help="with --evaluate: print markdown")
    args = parser.parse_args(argv)
    if args.input:
        return code_jsonl(args.input, args.coder)
    if args.agreement:
        print(json.dumps(agreement(*args.agreement), indent=2))
        return 0
    if args.annomi:
        print(json.dumps(annomi_agreement(args.annomi, args.coder), indent=2))
        return 0
    report = evaluate_heldout()
    print(heldout_markdown(report) if args.markdown else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
