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

from chatbot.coder.respond_kinds import LEARNED_KINDS, LISTEN, MAX_WORDS, THRESHOLD, RespondKinds, corpus_lines

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def evaluate(split: str, kinds: RespondKinds | None = None) -> dict:
    """How many respond lines get a fixed text (rules, then this), and how many listening lines do."""
    from chatbot.coder.reply_rules import load_reply_rules
    from chatbot.listening import read_message
    from safety.embeddings import embed

    kinds = kinds or RespondKinds.load()
    rules = load_reply_rules()
    texts, labels = corpus_lines(split)
    counts: Counter[str] = Counter()
    for text, label in zip(texts, labels, strict=True):
        ruled = read_message(text, rules).kind
        learned = None if ruled else kinds.kind(text, embed)
        side = "listen" if label == LISTEN else "respond"
        counts[f"{side}_lines"] += 1
        counts[f"{side}_fixed_by_rules"] += ruled is not None
        counts[f"{side}_fixed_by_learned"] += learned is not None
        if label != LISTEN and learned is not None and learned != label:
            counts["learned_wrong_kind"] += 1
    return {"split": split, **counts}


def cross_validate(c: float = 4.0, folds: int = 5) -> dict:
    """The figures THRESHOLD was chosen by: out-of-fold predictions on the training split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from chatbot.coder.reply_rules import load_reply_rules
    from chatbot.listening import read_message
    from safety.embeddings import encode

    texts, labels = corpus_lines("train")
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    p = cross_val_predict(model, encode(texts), labels, cv=folds, method="predict_proba")
    classes = sorted(set(labels))
    rules = load_reply_rules()
    counts: Counter[str] = Counter()
    for text, label, row in zip(texts, labels, p, strict=True):
        best = int(row.argmax())
        short = len(text.split()) <= MAX_WORDS
        learned = classes[best] in LEARNED_KINDS and float(row[best]) >= THRESHOLD and short
        ruled = read_message(text, rules).kind is not None
        side = "listen" if label == LISTEN else "respond"
        counts[f"{side}_lines"] += 1
        counts[f"{side}_fixed_by_rules"] += ruled
        counts[f"{side}_fixed_by_learned_only"] += bool(learned and not ruled)
    return {"split": f"train, {folds}-fold", **counts}


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
