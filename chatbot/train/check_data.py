"""Judge listening-corpus rows with the checks the pipeline applies to the model's own replies.

    python -m chatbot.train.check_data FILE.jsonl [FILE.jsonl ...]   # prints failing rows, exit 1
    python -m chatbot.train.check_data DRAFTS/*.jsonl --write chatbot/train/data/listening
        # the passing rows into one file per move (how the corpus was assembled from drafts)

A target reply must pass what a model reply must pass: the safety output rail, the technique
coder (no advice, fits the move), the sentence and question limits, no self-claims, not
dismissive, not a repeat of the context. Rows where the safety screen routes one of the person's
lines are counted: the corpus holds no crisis content, so each is a false alarm of the screen.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from pathlib import Path

from chatbot.train.data import CorpusError, ListeningExample, read_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class TargetJudge:
    def __init__(self, threads: int = 1) -> None:
        import torch

        # A batch job beside training runs: one thread, so it never crowds the machine
        # (several processes spinning two OpenMP threads each on two cores slowed training 30x).
        torch.set_num_threads(threads)
        from chatbot.coder import default_coder
        from chatbot.listening import ReflectFirstPipeline
        from safety import SafetyScreen

        self.screen = SafetyScreen()
        self.pipeline = ReflectFirstPipeline(
            None,  # type: ignore[arg-type]  # judging never calls the model
            default_coder("rules"),  # the coder the app's pipeline checks with
            reply_check=self.screen.check_reply,
            trained=True,  # the checks a trained model's reply must pass
        )

    def failures(self, ex: ListeningExample) -> list[str]:
        history = ex.history()
        earlier = [m["content"] for m in history if m["role"] == "assistant"]
        said = " ".join([*(m["content"] for m in history if m["role"] == "user"), ex.user])
        cand = self.pipeline._judge(0, None, ex.reply, ex.move, ex.user, earlier, said)
        out = [name for name, ok in cand.checks.items() if not ok]
        if cand.trimmed:
            out.append("a sentence breaks a reply rule (advice, self-claim, dismissive)")
        questions = ex.reply.count("?")
        if ex.move in ("reflect", "affirm") and questions:
            out.append("no question allowed for this move")
        if ex.move == "question" and (questions != 1 or not ex.reply.rstrip().endswith("?")):
            out.append("exactly one question, at the end")
        if ex.move in ("summarize", "respond") and questions > 1:
            out.append("at most one question")
        if ex.kind == "about_bot" and not re.search(r"\bAI\b|computer program", ex.reply):
            out.append("about_bot must say it is an AI")
        if ex.kind == "goodbye" and questions:
            out.append("a goodbye asks nothing")
        return out

    def routed(self, ex: ListeningExample) -> bool:
        """Whether the safety screen routes one of the person's lines (a false alarm here: the
        corpus holds no crisis content, and the row still teaches listening)."""
        texts = [ex.user, *(role_text for role, role_text in ex.context if role == "user")]
        return any(self.screen.assess_message(text).route for text in texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument(
        "--screen", action="store_true", help="also count rows whose person's lines the safety screen routes"
    )
    parser.add_argument(
        "--write", type=Path, metavar="DIR", help="write the passing rows to DIR/<move>.jsonl (replacing those files)"
    )
    args = parser.parse_args(argv)
    passing: list[ListeningExample] = []
    judge = TargetJudge()
    failed, total, routed = 0, 0, 0
    reasons: Counter[str] = Counter()
    for path in args.files:
        try:
            rows = list(read_file(path))
        except CorpusError as exc:
            print(f"format error: {exc}")
            return 2
        for ex in rows:
            total += 1
            problems = judge.failures(ex)
            routed += bool(args.screen) and judge.routed(ex)
            if problems:
                failed += 1
                reasons.update(problems)
                print(f"{ex.id}\t{'; '.join(problems)}\t{ex.reply}")
            else:
                passing.append(ex)
    if args.write:
        write_rows(passing, args.write)
    print(f"\n{failed} of {total} rows fail", file=sys.stderr)
    if args.screen:
        print(f"{routed} rows have a line the safety screen routes (false alarms)", file=sys.stderr)
    for reason, n in reasons.most_common():
        print(f"  {n:5d}  {reason}", file=sys.stderr)
    return 1 if failed and not args.write else 0


def write_rows(rows: list[ListeningExample], directory: Path) -> None:
    import json

    from chatbot.train.data import MOVES

    directory.mkdir(parents=True, exist_ok=True)
    for move in MOVES:
        chosen = sorted((r for r in rows if r.move == move), key=lambda r: r.id)
        with (directory / f"{move}.jsonl").open("w", encoding="utf-8") as fh:
            for r in chosen:
                row = {
                    "id": r.id,
                    "move": r.move,
                    "kind": r.kind,
                    "topic": r.topic,
                    "context": r.history(),
                    "user": r.user,
                    "reply": r.reply,
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
