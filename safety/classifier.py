"""The crisis classifier: the shared fine-tuned encoder (safety/encoder.py) with one output per crisis category.

    python -m safety.classifier train [--epochs 4] [--rank 16] [--out safety/models/crisis]
    python -m safety.classifier evaluate [--split validation] [--model FOLDER]

Outputs per message: a probability for each crisis category (several at once: a message can be
self-harm and a medical emergency) and the probability that the person at risk is someone else.
Trained on the train split of the safety corpus (safety/data/); safety/calibration.py chooses when the screen
routes (single message, careful mode, a raised bar, a build-up over recent turns, and from which
probability the nearest curated examples may route) on the validation split, recall first within
the false-alarm limits there.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .corpus import LABELS, LabelledMessage, load_messages
from .encoder import META_FILE, TrainSettings, TunedEncoder, fine_tune
from .types import CATEGORIES

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

RECALL_TARGET = 0.98  # per category on the validation split (the category thresholds)
OUTPUTS = (*CATEGORIES, "subject_other")
CLASSIFIER_FILE = "classifier.json"  # thresholds; the weights' own record is encoder.json


def model_dir() -> Path:
    return Path(str(resources.files("safety").joinpath("models", "crisis")))


def model_available(folder: Path | None = None) -> bool:
    folder = folder or model_dir()
    return (folder / CLASSIFIER_FILE).is_file() and (folder / META_FILE).is_file()


@dataclass(frozen=True)
class RouteThresholds:
    """When the classifier's top probability routes a message; chosen on the validation split."""

    single: float  # routes a message on its own
    careful: float  # once the conversation is in careful mode (a crisis was met earlier)
    raised: float  # when the rules found negation, fiction, the past, an idiom or an accident
    window: float  # this turn's probability plus the two before's: a slow build-up
    window_floor: float  # this turn's least probability for the window to count
    examples_floor: float = 0.0  # the nearest examples may route only from this probability up


@dataclass(frozen=True)
class Scores:
    categories: dict[str, float]  # probability per crisis category
    subject_other: float

    def top(self) -> tuple[str, float]:
        category = max(self.categories, key=self.categories.__getitem__)
        return category, self.categories[category]


def _targets(messages: list[LabelledMessage]) -> list[list[float]]:
    rows = []
    for m in messages:
        row = [0.0] * len(OUTPUTS)
        if m.crisis:
            row[CATEGORIES.index(m.category)] = 1.0
            row[-1] = float(m.subject == "other")
        rows.append(row)
    return rows


def _weighted_loss(crisis_share: float):
    """Crisis rows are the minority: weigh them up so recall is learnt, not traded away. The
    subject output counts only on crisis rows (a calm message has no person at risk)."""
    import torch.nn.functional as F

    def loss(logits, y):
        cats, subject = y[:, :-1], y[:, -1]
        weight = 1.0 + cats * (1 / max(crisis_share, 0.05) - 1) * 0.5
        value = F.binary_cross_entropy_with_logits(logits[:, :-1], cats, weight=weight)
        known = cats.sum(-1) > 0
        if known.any():
            value = value + 0.5 * F.binary_cross_entropy_with_logits(logits[known, -1], subject[known])
        return value

    return loss


class CrisisClassifier:
    """Scores messages; stateless after load, safe to share between sessions and threads."""

    def __init__(
        self, encoder: TunedEncoder, thresholds: dict[str, float], route: RouteThresholds | None = None
    ) -> None:
        self.encoder = encoder
        self.thresholds = thresholds
        self.route = route or RouteThresholds(single=0.5, careful=0.3, raised=0.9, window=1.2, window_floor=0.3)

    @classmethod
    def load(cls, folder: Path | None = None) -> CrisisClassifier:
        folder = folder or model_dir()
        meta = json.loads((folder / CLASSIFIER_FILE).read_text())
        route = RouteThresholds(**meta["route"]) if "route" in meta else None
        return cls(TunedEncoder.load(folder), meta["thresholds"], route=route)

    def scores(self, texts: list[str]) -> list[Scores]:
        probs = self.encoder.probabilities([(t, None) for t in texts])
        return [Scores({c: p[c] for c in CATEGORIES}, p["subject_other"]) for p in probs]

    def routes(self, probability: float, earlier: list[float], careful: bool, raised: bool) -> str | None:
        """ "single", "window" (a build-up over recent turns) or None."""
        t = self.route
        bar = t.raised if raised else t.single
        if careful:
            bar = min(bar, t.careful)
        if probability >= bar:
            return "single"
        if not raised and probability >= t.window_floor and probability + sum(earlier) >= t.window:
            return "window"
        return None

    def flagged(self, scores: Scores) -> list[str]:
        """Categories at or above their threshold, most likely first."""
        hits = [c for c, p in scores.categories.items() if p >= self.thresholds[c]]
        return sorted(hits, key=lambda c: -scores.categories[c])


def choose_thresholds(probs, labels, target: float = RECALL_TARGET) -> dict[str, float]:
    """Per category, the highest threshold that keeps recall >= target on these rows."""
    import math

    thresholds = {}
    for k, category in enumerate(CATEGORIES):
        positives = sorted(float(p[k]) for p, y in zip(probs, labels) if y == category)
        if not positives:
            thresholds[category] = 0.5
            continue
        allowed_misses = math.floor((1 - target) * len(positives))
        thresholds[category] = round(max(0.02, min(0.9, positives[allowed_misses] - 1e-4)), 4)
    return thresholds


def train(
    out: Path,
    settings: TrainSettings | None = None,
    progress: bool = True,
    limit: int | None = None,
    corpus: Path | None = None,
) -> dict:
    settings = settings or TrainSettings()
    rows = load_messages("train", corpus)[:limit]
    val = load_messages("validation", corpus)
    crisis_share = sum(r.crisis for r in rows) / max(1, len(rows))
    encoder = fine_tune(
        out,
        [(r.text, None) for r in rows],
        _targets(rows),
        OUTPUTS,
        settings,
        weigh=_weighted_loss(crisis_share),
        progress=progress,
        extra_meta={"task": "crisis", "validation": len(val)},
    )
    classifier = CrisisClassifier(encoder, {})
    val_scores = classifier.scores([m.text for m in val])
    thresholds = choose_thresholds(
        [[s.categories[c] for c in CATEGORIES] for s in val_scores], [m.category for m in val]
    )
    meta = {
        "thresholds": thresholds,
        "recall_target": RECALL_TARGET,
        "_note": "thresholds: per category, the highest keeping validation recall >= recall_target",
    }
    (out / CLASSIFIER_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return {**encoder.meta, **meta}


# One turn as the screen saw it: routed without the learned layers, the classifier's probability,
# bar raised (negation, fiction, past...), the nearest examples would route.
Observation = tuple[bool, float | None, bool, bool]


def _turn_routes(obs: Observation, t: RouteThresholds, earlier: list[float], careful: bool) -> bool:
    by_rules, p, raised, by_examples = obs
    if by_rules:
        return True
    if p is None:
        return False
    probe = CrisisClassifier.__new__(CrisisClassifier)
    probe.route = t
    return bool(probe.routes(p, earlier[-2:], careful, raised)) or (by_examples and p >= t.examples_floor)


def _simulate(observed: list[Observation], t: RouteThresholds) -> int | None:
    """The first turn that routes under thresholds t, or None."""
    earlier: list[float] = []
    for i, obs in enumerate(observed):
        if _turn_routes(obs, t, earlier, careful=False):
            return i
        if obs[1] is not None:
            earlier.append(obs[1])
    return None


@functools.lru_cache(maxsize=1)
def default_classifier() -> CrisisClassifier:
    return CrisisClassifier.load()


def evaluate(classifier: CrisisClassifier, messages: list[LabelledMessage]) -> dict:
    scores = classifier.scores([m.text for m in messages])
    per: dict[str, dict[str, int]] = {c: {"n": 0, "caught": 0} for c in CATEGORIES}
    false_alarms = negatives = 0
    for m, s in zip(messages, scores):
        routed = bool(classifier.flagged(s))
        if m.crisis:
            per[m.category]["n"] += 1
            per[m.category]["caught"] += routed
        else:
            negatives += 1
            false_alarms += routed
    crisis_n = sum(v["n"] for v in per.values())
    return {
        "messages": len(messages),
        "recall": round(sum(v["caught"] for v in per.values()) / max(1, crisis_n), 4),
        "false_alarm_rate": round(false_alarms / max(1, negatives), 4),
        "per_category_recall": {c: round(v["caught"] / v["n"], 4) if v["n"] else None for c, v in per.items()},
        **ranking([s.top()[1] for s in scores], [m.crisis for m in messages]),
    }


def ranking(top: list[float], crisis: list[bool]) -> dict:
    """How well the top probability alone separates crisis from calm, whatever the thresholds:
    the AUC and the recall at a few false-alarm rates (models compare here before calibration)."""
    import bisect

    pos = [t for t, c in zip(top, crisis) if c]
    neg = sorted(t for t, c in zip(top, crisis) if not c)
    if not pos or not neg:
        return {}
    auc = sum(bisect.bisect_left(neg, p) for p in pos) / (len(pos) * len(neg))
    at = {}
    for rate in (0.01, 0.03, 0.05, 0.1):
        bar = neg[len(neg) - 1 - int(rate * len(neg))]  # this share of calm messages score above it
        at[str(rate)] = round(sum(p > bar for p in pos) / len(pos), 4)
    return {"auc": round(auc, 4), "recall_at_false_alarms": at}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, default=None)
    t.add_argument("--epochs", type=int, default=4)
    t.add_argument("--rank", type=int, default=16, help="LoRA rank; 0 trains the transformer layers in full")
    t.add_argument("--lr", type=float, default=None, help="default: 5e-4 with LoRA, 5e-5 in full")
    t.add_argument("--limit", type=int, default=None, help="train on the first N rows only (a quick check)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    e = sub.add_parser("evaluate")
    e.add_argument("--split", default="validation", choices=["train", "validation", "test"])
    e.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    args = parser.parse_args(argv)
    if args.command == "train":
        lr = args.lr or (5e-5 if args.rank == 0 else 5e-4)
        settings = TrainSettings(
            epochs=args.epochs, rank=args.rank, seed=args.seed, lr=lr, by_length=True, threads=args.threads
        )
        meta = train(args.out or model_dir(), settings, limit=args.limit)
        print(json.dumps(meta, indent=1))
    else:
        result = evaluate(CrisisClassifier.load(args.model), load_messages(args.split))
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["LABELS", "CrisisClassifier", "Scores", "choose_thresholds", "train"]
