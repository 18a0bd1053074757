"""Fine-tune a LoRA adapter for listening on the embedded model, on this machine's CPU.

    python -m chatbot.train chatbot/train/configs/listening.yaml [--set key=value ...]

Cheap on CPU by design: the base weights are frozen (bfloat16 where the CPU has avx512_bf16),
only the low-rank matrices learn, contexts are short, and the 49k-word output layer runs only at
the reply's positions, where the loss is. A run checkpoints every `checkpoint_every` steps into
`out_dir/checkpoint/` and resumes from there when started again with the same config.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chatbot.train.data import MOVES, ListeningExample, load_corpus
from chatbot.train.prompting import DEFAULT_WINDOW, ContextWindow, adapter_messages, write_window

ADAPTER_DTYPE = "bfloat16"  # what is stored: half the bytes of float32, ample for LoRA deltas


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base: str = "embedded"  # "embedded" or a local model folder (tests use a tiny one)
    data_dir: str | None = None  # default: the packaged corpus
    out_dir: str = "runs/listening-adapter"
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    learning_rate: float = 3e-4
    warmup_steps: int = 30
    epochs: float = 2.0
    max_steps: int | None = None  # stop earlier than the epochs say
    batch_size: int = 8
    max_tokens: int = 320  # longer rows lose their oldest context exchanges first
    seed: int = 0
    dtype: str = "auto"  # auto: bfloat16 base where the CPU has avx512_bf16, else float32
    threads: int | None = None
    checkpoint_every: int = 50
    eval_every: int = 100
    eval_rows: int = 200  # validation rows scored at each evaluation
    limit_rows: int | None = None  # train on the first N rows (smoke runs)
    moves: list[str] = list(MOVES)  # the corpus files trained on (respond turns may keep fixed texts)
    context_exchanges: int = Field(2, ge=0)  # earlier exchanges shown for reflect, question, affirm
    summary_exchanges: int = Field(3, ge=0)

    @property
    def window(self) -> ContextWindow:
        return ContextWindow(self.context_exchanges, self.summary_exchanges)

    @field_validator("moves")
    @classmethod
    def _known_moves(cls, moves: list[str]) -> list[str]:
        unknown = sorted(set(moves) - set(MOVES))
        if unknown or not moves:
            raise ValueError(f"moves must be some of {list(MOVES)}; got {moves}")
        return moves


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # -100 where no loss is taken (the prompt)


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    for item in overrides or []:
        key, _, value = item.partition("=")
        data[key.strip()] = yaml.safe_load(value)
    return TrainConfig.model_validate(data)


def encode(
    tokenizer, example: ListeningExample, max_tokens: int, window: ContextWindow = DEFAULT_WINDOW
) -> Encoded | None:
    """Prompt tokens without loss, then the reply and its end-of-turn token with loss."""
    history = example.history()
    while True:
        messages = adapter_messages(example.move, history, example.user, window)
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": example.reply}], tokenize=False
        )
        if not full.startswith(prompt):
            raise ValueError("the chat template does not extend the prompt with the reply")
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        # the reply, its end-of-turn marker; the template's trailing newline carries no signal
        reply_ids = tokenizer(full[len(prompt) :].rstrip("\n"), add_special_tokens=False)["input_ids"]
        if len(prompt_ids) + len(reply_ids) <= max_tokens or not history:
            break
        history = history[2:]
    ids = (prompt_ids + reply_ids)[:max_tokens]
    labels = ([-100] * len(prompt_ids) + reply_ids)[:max_tokens]
    if all(label == -100 for label in labels):
        return None
    return Encoded(ids, labels)


def batches(rows: list[Encoded], batch_size: int, rng: random.Random) -> list[list[Encoded]]:
    """Batches of similar length (little padding), in a shuffled order."""
    order = sorted(range(len(rows)), key=lambda i: (len(rows[i].input_ids), rng.random()))
    groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(groups)
    return [[rows[i] for i in group] for group in groups]


def collate(batch: list[Encoded], pad_id: int):
    import torch

    width = max(len(r.input_ids) for r in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, r in enumerate(batch):
        n = len(r.input_ids)
        ids[i, :n] = torch.tensor(r.input_ids)
        labels[i, :n] = torch.tensor(r.labels)
        mask[i, :n] = 1
    return ids, labels, mask


def reply_loss(model, ids, labels, mask):
    """Cross-entropy over reply tokens only; the output layer runs only where they are."""
    import torch.nn.functional as F

    inner = model.get_base_model()
    hidden = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    where = targets != -100
    logits = inner.lm_head(hidden[:, :-1][where])
    return F.cross_entropy(logits.float(), targets[where]), int(where.sum())


def base_folder(base: str) -> str:
    if base == "embedded":
        from chatbot.backends.embedded import ensure_converted

        return str(ensure_converted())
    return base


def load_base(config: TrainConfig):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from chatbot.backends.transformers_backend import resolve_dtype

    folder = base_folder(config.base)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    dtype = resolve_dtype(config.dtype)
    base_model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=config.target_modules,
        task_type="CAUSAL_LM",
        bias="none",
    )
    model = get_peft_model(base_model, lora)
    for param in model.parameters():  # the low-rank matrices learn in float32 whatever the base
        if param.requires_grad:
            param.data = param.data.float()
    model.config.use_cache = False
    torch.manual_seed(config.seed)
    return model, tokenizer, dtype


def save_adapter(model, folder: Path, window: ContextWindow) -> None:
    """The adapter alone, as bfloat16 safetensors plus its peft config and its context window."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    from safetensors.torch import load_file, save_file

    path = folder / "adapter_model.safetensors"
    tensors = {k: v.to(getattr(torch, ADAPTER_DTYPE)) for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path))
    write_window(folder, window)


def evaluate(model, rows: list[Encoded], batch_size: int, pad_id: int, autocast) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), autocast():
        for start in range(0, len(rows), batch_size):
            ids, labels, mask = collate(rows[start : start + batch_size], pad_id)
            loss, n = reply_loss(model, ids, labels, mask)
            total += float(loss) * n
            count += n
    model.train()
    return total / max(count, 1)


def train(config: TrainConfig, progress: bool = True) -> dict[str, Any]:
    import contextlib

    import torch
    from tqdm import tqdm

    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer, dtype = load_base(config)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    data_dir = Path(config.data_dir) if config.data_dir else None
    train_rows = [r for r in load_corpus("train", data_dir) if r.move in config.moves][: config.limit_rows]
    val_rows = [r for r in load_corpus("validation", data_dir) if r.move in config.moves]
    val_rows = random.Random(config.seed).sample(val_rows, min(config.eval_rows, len(val_rows)))
    encoded = [e for e in (encode(tokenizer, r, config.max_tokens, config.window) for r in train_rows) if e]
    val_encoded = [e for e in (encode(tokenizer, r, config.max_tokens, config.window) for r in val_rows) if e]
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        done = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    bf16 = dtype == torch.bfloat16

    def autocast():
        if bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    checkpoint = out / "checkpoint"
    step, seen_tokens, history = 0, 0, []
    best = math.inf
    if (checkpoint / "state.pt").exists():
        state = torch.load(checkpoint / "state.pt", weights_only=False)
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, seen_tokens, history, best = (state["step"], state["seen_tokens"], state["history"], state["best"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {checkpoint} at step {step}", flush=True)

    # The batch order of every epoch is fixed by the seed, so a resumed run sees the same batches.
    schedule: list[list[Encoded]] = []
    epoch_rng = random.Random(config.seed)
    while len(schedule) < total_steps:
        schedule.extend(batches(encoded, config.batch_size, epoch_rng))
    model.train()
    bar = tqdm(total=total_steps, initial=step, disable=not progress, unit="step")
    started = time.perf_counter()
    run_tokens = 0
    while step < total_steps:
        ids, labels, mask = collate(schedule[step], pad_id)
        with autocast():
            loss, _ = reply_loss(model, ids, labels, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens = int(mask.sum())
        seen_tokens += tokens
        run_tokens += tokens
        rate = run_tokens / (time.perf_counter() - started)
        history.append({"step": step, "loss": round(float(loss), 4)})
        bar.set_postfix(loss=f"{float(loss):.3f}", tok_s=f"{rate:.0f}")
        bar.update(1)
        if val_encoded and (step % config.eval_every == 0 or step == total_steps):
            val = evaluate(model, val_encoded, config.batch_size, pad_id, autocast)
            history[-1]["val_loss"] = round(val, 4)
            bar.write(f"step {step}: validation loss {val:.4f} ({rate:.0f} tokens/s)")
            if val < best:
                best = val
                save_adapter(model, out / "best", config.window)
        if step % config.checkpoint_every == 0 or step == total_steps:
            checkpoint.mkdir(parents=True, exist_ok=True)
            from peft import get_peft_model_state_dict

            torch.save(
                {
                    "adapter": get_peft_model_state_dict(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "seen_tokens": seen_tokens,
                    "history": history,
                    "best": best,
                    "torch_rng": torch.get_rng_state(),
                },
                checkpoint / "state.pt.tmp",
            )
            (checkpoint / "state.pt.tmp").replace(checkpoint / "state.pt")
    bar.close()
    save_adapter(model, out / "last", config.window)
    if not (out / "best").exists():
        save_adapter(model, out / "best", config.window)
    elapsed = time.perf_counter() - started
    metrics = {
        "steps": step,
        "train_rows": len(encoded),
        "validation_rows": len(val_encoded),
        "tokens_seen": seen_tokens,
        "tokens_per_s_this_run": round(run_tokens / max(elapsed, 1e-9), 1),
        "best_validation_loss": None if best == math.inf else round(best, 4),
        "first_loss": history[0]["loss"] if history else None,
        "last_loss": history[-1]["loss"] if history else None,
        "dtype": str(dtype).removeprefix("torch."),
        "config": config.model_dump(),
    }
    (out / "metrics.json").write_text(json.dumps({**metrics, "history": history}, indent=1))
    return metrics
