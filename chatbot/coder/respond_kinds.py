"""A learned second reader of what the person said, for the fixed-text kinds the rules miss.

    python -m chatbot.coder.respond_kinds train      # writes chatbot/coder/respond_kinds.json
    python -m evals.respond_kinds [--crossval]       # figures on the corpus (evals sits above the listener)

The cues in reply_rules.yaml are anchored regexes: they catch "thanks for listening" but not "hola",
"sup", "ok gtg, she's calling me for dinner lol" or "in english please lol", which the model then
tries to reflect. This is a logistic regression over MiniLM sentence embeddings (the ones the safety
layer computes), trained on the person's lines of the listening corpus's training split: each
`respond` row labelled with its kind, every other row "listen". It speaks only where the rules found
nothing, only for short messages, only for kinds whose fixed text fits any wording (greetings,
goodbyes, thanks, asking for help or to ask, changing the subject, asking what was meant or what
the bot is), and only when it is sure. Advice requests, feedback and questions stay with the rules:
"how do i feed the kids this week" is something to reflect, not an advice request to decline.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

WEIGHTS_FILE = "respond_kinds.json"
LISTEN = "listen"
LEARNED_KINDS = ("about_bot", "asks_help", "may_ask", "change_topic", "goodbye", "thanks", "greeting", "clarify")
MAX_WORDS = 20  # longer messages say something to reflect
# Chosen by 5-fold cross-validation on the training split: 1 of 3,152 listening lines answered with
# a fixed text, and 108 more of the 896 respond lines recognised than by the rules alone.
THRESHOLD = 0.8

EmbedFn = Callable[[Sequence[str]], np.ndarray]


def weights_path() -> Path:
    return Path(str(resources.files("chatbot.coder").joinpath(WEIGHTS_FILE)))


@dataclass(frozen=True)
class RespondKinds:
    classes: tuple[str, ...]
    coef: np.ndarray  # (classes, 384)
    intercept: np.ndarray  # (classes,)
    threshold: float = THRESHOLD
    max_words: int = MAX_WORDS

    @classmethod
    def load(cls, path: Path | None = None) -> RespondKinds:
        data = json.loads((path or weights_path()).read_text(encoding="utf-8"))
        return cls(
            tuple(data["classes"]),
            np.asarray(data["coef"], dtype=np.float32),
            np.asarray(data["intercept"], dtype=np.float32),
            float(data["threshold"]),
            int(data["max_words"]),
        )

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = vectors @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def kind(self, text: str, embed: EmbedFn) -> str | None:
        """A fixed-text kind for this message, or None: reflect it (or leave it to the rules)."""
        if not text.strip() or len(text.split()) > self.max_words:
            return None  # no embedding for a long message
        p = self.probabilities(np.asarray(embed([text]), dtype=np.float32))[0]
        return choose(self.classes, p, text, self.threshold, self.max_words)


def choose(
    classes: Sequence[str], p: np.ndarray, text: str, threshold: float = THRESHOLD, max_words: int = MAX_WORDS
) -> str | None:
    """The kind these class probabilities name for `text`, if it is short, one of ours and sure."""
    if not text.strip() or len(text.split()) > max_words:
        return None
    best = int(p.argmax())
    name = classes[best]
    return name if name in LEARNED_KINDS and float(p[best]) >= threshold else None


def corpus_lines(split: str) -> tuple[list[str], list[str]]:
    from chatbot.train.data import load_corpus

    rows = load_corpus(split)
    return [r.user for r in rows], [str(r.kind) if r.move == "respond" else LISTEN for r in rows]


def train(out: Path, c: float = 4.0) -> dict:
    from sklearn.linear_model import LogisticRegression

    from safety.embeddings import encode

    texts, labels = corpus_lines("train")
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    model.fit(encode(texts), labels)
    data = {
        "classes": [str(k) for k in model.classes_],
        "coef": [[round(float(x), 5) for x in row] for row in model.coef_],
        "intercept": [round(float(x), 5) for x in model.intercept_],
        "threshold": THRESHOLD,
        "max_words": MAX_WORDS,
        "trained_on": dict(Counter(labels)),
        "how": f"python -m chatbot.coder.respond_kinds train: logistic regression (C={c:g}, balanced) over "
        "all-MiniLM-L6-v2 embeddings of the listening corpus's training split",
    }
    out.write_text(json.dumps(data) + "\n", encoding="utf-8")
    return {"rows": len(texts), "classes": data["classes"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    print(json.dumps(train(args.out or weights_path()), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
