"""Judge listening-corpus rows with the checks the pipeline applies to the model's own replies.

    python -m chatbot.train.check_data FILE.jsonl [FILE.jsonl ...]   # prints failing rows, exit 1

A target reply must pass what a model reply must pass: the safety output rail, the technique
coder (no advice, fits the move), the sentence and question limits, no self-claims, not
dismissive, not a repeat of the context. The person's line must not be crisis language (the
safety screen would route it, so the model never sees such a turn).
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

# Checks that do not apply to every move: a goodbye need not say "you", a greeting has no topic.
RESPOND_SKIPS = {"addresses_person", "on_topic", "grounded", "fits_move", "not_repeat"}
REPORT_ONLY = {"grounded"}  # tuned on an untrained model's inventions: reported, not enforced


class TargetJudge:
    def __init__(self) -> None:
        from chatbot.coder import TechniqueCoder
        from chatbot.listening import ReflectFirstPipeline
        from safety import SafetyScreen

        self.screen = SafetyScreen()
        self.pipeline = ReflectFirstPipeline(
            None,  # type: ignore[arg-type]  # judging never calls the model
            TechniqueCoder.load(),
            reply_check=lambda text: self.screen.check_reply(text).ok,
        )

    def failures(self, ex: ListeningExample) -> list[str]:
        history = ex.history()
        earlier = [m["content"] for m in history if m["role"] == "assistant"]
        said = " ".join([*(m["content"] for m in history if m["role"] == "user"), ex.user])
        move = "reflect" if ex.move == "respond" else ex.move
        cand = self.pipeline._judge(0, None, ex.reply, move, ex.user, earlier, said)
        skips = REPORT_ONLY | (RESPOND_SKIPS if ex.move == "respond" else set())
        out = [name for name, ok in cand.checks.items() if not ok and name not in skips]
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
        for text in [ex.user, *(m["content"] for m in history if m["role"] == "user")]:
            if self.screen.assess_message(text).route:
                out.append("the person's words route as crisis: not listening data")
                break
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    judge = TargetJudge()
    failed, total = 0, 0
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
            if problems:
                failed += 1
                reasons.update(problems)
                print(f"{ex.id}\t{'; '.join(problems)}\t{ex.reply}")
    print(f"\n{failed} of {total} rows fail", file=sys.stderr)
    for reason, n in reasons.most_common():
        print(f"  {n:5d}  {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
