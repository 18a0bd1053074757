"""Figures for the learned reader of respond kinds (chatbot/coder/respond_kinds.py) on the corpus.

    python -m evals.respond_kinds              # validation and test splits, with the shipped weights
    python -m evals.respond_kinds --crossval   # 5-fold on the training split: how THRESHOLD was chosen

Each counts the lines that get a fixed text from the rules' cues and, where they found nothing,
from the learned reader: respond lines should, listening lines should not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

from chatbot.coder.respond_kinds import LISTEN, RespondKinds, choose, corpus_lines

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _count(texts: list[str], labels: list[str], learned: list[str | None], split: str) -> dict:
    """Lines given a fixed text by the rules' cues and, where they found nothing, by the reader."""
    from chatbot.coder.reply_rules import load_reply_rules
    from chatbot.listening import read_message

    rules = load_reply_rules()
    counts: Counter[str] = Counter()
    for text, label, kind in zip(texts, labels, learned, strict=True):
        ruled = read_message(text, rules).kind is not None
        side = "listen" if label == LISTEN else "respond"
        counts[f"{side}_lines"] += 1
        counts[f"{side}_fixed_by_rules"] += ruled
        counts[f"{side}_fixed_by_learned"] += kind is not None and not ruled
        counts["learned_wrong_kind"] += kind is not None and not ruled and label != LISTEN and kind != label
    return {"split": split, **counts}


def evaluate(split: str, kinds: RespondKinds | None = None) -> dict:
    """The shipped weights on one split of the corpus."""
    from safety.embeddings import embed

    kinds = kinds or RespondKinds.load()
    texts, labels = corpus_lines(split)
    return _count(texts, labels, [kinds.kind(t, embed) for t in texts], split)


def cross_validate(c: float = 4.0, folds: int = 5) -> dict:
    """The figures THRESHOLD was chosen by: out-of-fold predictions on the training split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from safety.embeddings import encode

    texts, labels = corpus_lines("train")
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    p = cross_val_predict(model, encode(texts), labels, cv=folds, method="predict_proba")
    classes = sorted(set(labels))  # the column order of predict_proba
    return _count(texts, labels, [choose(classes, row, t) for t, row in zip(texts, p)], f"train, {folds}-fold")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossval", action="store_true")
    args = parser.parse_args(argv)
    if args.crossval:
        print(json.dumps(cross_validate(), indent=1))
    else:
        for split in ("validation", "test"):
            print(json.dumps(evaluate(split), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
