"""Training the listening adapter: on the tiny in-process model, a few steps, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chatbot.train.data import CorpusError, load_corpus, parse_row, topic_splits

ROWS = [
    ("reflect", "i feel so tired and overwhelmed", "it sounds like a lot , and you are really tired ."),
    ("reflect", "work is a lot", "so work has been a lot ."),
    ("question", "i can't sleep", "sleep has been hard . what is that like ?"),
    ("respond", "hello", "hello . what is on your mind ?"),
]


def write_corpus(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "topics.yaml").write_text("train: [work]\nvalidation: [sleep]\ntest: [grief]\n")
    by_move: dict[str, list[dict]] = {}
    for i, (move, user, reply) in enumerate(ROWS * 4):
        topic = "sleep" if i % 4 == 2 else "work"
        by_move.setdefault(move, []).append(
            {
                "id": f"t-{i:03d}",
                "move": move,
                "kind": "greeting" if move == "respond" else None,
                "topic": topic,
                "context": [],
                "user": user,
                "reply": reply,
            }
        )
    for move, rows in by_move.items():
        (directory / f"{move}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return directory


@pytest.fixture(scope="module")
def trainable_tiny_dir(tiny_model_dir, tmp_path_factory) -> str:
    """The tiny model with a sharper output head: the shared one's random head keeps every
    logit within +-0.3 of zero, so no adapter could lower its loss much."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    with torch.no_grad():
        model.lm_head.weight.mul_(30)
    out = tmp_path_factory.mktemp("tiny-trainable")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return str(out)


def tiny_config(tiny_model_dir: str, tmp_path: Path, **changes):
    from chatbot.train.lora import TrainConfig

    fields = dict(
        base=tiny_model_dir,
        data_dir=str(write_corpus(tmp_path / "corpus")),
        out_dir=str(tmp_path / "run"),
        rank=4,
        alpha=8,
        dropout=0.0,
        learning_rate=0.02,
        warmup_steps=1,
        epochs=40,
        max_steps=12,
        batch_size=4,
        max_tokens=64,
        checkpoint_every=4,
        eval_every=6,
        dtype="float32",
        threads=1,
    )
    fields.update(changes)
    return TrainConfig(**fields)


def test_training_lowers_the_loss_and_saves_an_adapter(trainable_tiny_dir, tmp_path):
    from chatbot.train.lora import train

    metrics = train(tiny_config(trainable_tiny_dir, tmp_path), progress=False)
    assert metrics["steps"] == 12
    assert metrics["last_loss"] < 0.7 * metrics["first_loss"]
    assert metrics["best_validation_loss"] is not None
    for folder in ("best", "last"):
        saved = tmp_path / "run" / folder / "adapter_model.safetensors"
        assert saved.exists() and saved.stat().st_size > 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["tokens_seen"] > 0


def test_a_stopped_run_resumes_from_its_checkpoint(trainable_tiny_dir, tmp_path, capsys):
    from chatbot.train.lora import train

    first = train(tiny_config(trainable_tiny_dir, tmp_path, max_steps=4), progress=False)
    assert first["steps"] == 4
    resumed = train(tiny_config(trainable_tiny_dir, tmp_path, max_steps=8), progress=False)
    assert "resumed from" in capsys.readouterr().out
    assert resumed["steps"] == 8
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    assert [h["step"] for h in history] == list(range(1, 9))  # the first 4 kept, 4 more added


def test_the_saved_adapter_loads_and_matches_peft(trainable_tiny_dir, tmp_path):
    """The backend's plain low-rank layers compute what peft computes with the same adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from chatbot.backends.transformers_backend import TransformersChatModel
    from chatbot.config import default_settings
    from chatbot.train.lora import train

    train(tiny_config(trainable_tiny_dir, tmp_path, max_steps=6), progress=False)
    adapter = tmp_path / "run" / "last"
    ids = torch.tensor([[5, 9, 12, 30, 7, 8]])
    base = AutoModelForCausalLM.from_pretrained(trainable_tiny_dir, dtype=torch.float32)
    with torch.no_grad():
        plain = base(ids).logits
        reference = PeftModel.from_pretrained(base, str(adapter)).eval()(ids).logits
    model = TransformersChatModel(trainable_tiny_dir, dtype="float32", adapter=str(adapter))
    with torch.no_grad():
        ours = model.model(ids).logits
    assert torch.allclose(ours, reference, atol=1e-4)
    assert not torch.allclose(plain, reference, atol=1e-4)  # the adapter changes something
    assert model.identity.extra["adapter"] == "last"
    text = "".join(
        model.stream([{"role": "user", "content": "hello"}], default_settings(max_new_tokens=5, do_sample=False))
    )
    assert isinstance(text, str)


def test_a_missing_adapter_is_a_clear_error(trainable_tiny_dir, tmp_path):
    from chatbot.backends.transformers_backend import TransformersChatModel
    from chatbot.models import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="No LoRA adapter"):
        TransformersChatModel(trainable_tiny_dir, dtype="float32", adapter=str(tmp_path / "nowhere"))


def test_rows_that_break_the_format_name_their_place():
    topics = {"work": "train"}
    good = {"id": "a", "move": "reflect", "kind": None, "topic": "work", "context": [], "user": "u", "reply": "r"}
    assert parse_row(good, "f:1", topics).reply == "r"
    for change, message in [
        ({"move": "lecture"}, "move"),
        ({"kind": "greeting"}, "kind"),
        ({"topic": "mars"}, "topic"),
        ({"context": [{"role": "assistant", "content": "x"}]}, r"context\[0\]"),
        ({"context": [{"role": "user", "content": "x"}]}, "end with an assistant"),
        ({"reply": " "}, "reply"),
    ]:
        with pytest.raises(CorpusError, match=message):
            parse_row({**good, **change}, "f:1", topics)


def test_the_shipped_corpus_is_split_by_topic():
    splits = topic_splits()
    rows = {split: load_corpus(split) for split in ("train", "validation", "test")}
    assert all(rows.values()), "every split has rows"
    topics = {split: {r.topic for r in split_rows} for split, split_rows in rows.items()}
    assert not topics["train"] & topics["test"]
    assert not topics["train"] & topics["validation"]
    assert all(splits[t] == "test" for t in topics["test"])
    moves = {r.move for r in rows["train"]}
    assert moves == {"reflect", "question", "affirm", "summarize", "respond"}


def test_the_corpus_never_holds_the_reference_scenarios():
    """The scripted scenarios and the everyday set are for measuring, never for training."""
    import yaml

    corpus = {" ".join(r.user.lower().split()) for r in load_corpus()}
    root = Path(__file__).resolve().parents[1] / "evals" / "data"
    for path in [
        root / "scenarios" / "listening.yaml",
        root / "everyday" / "everyday.yaml",
        root / "sealed" / "listening.yaml",
        root / "sealed" / "ordinary.yaml",
    ]:
        for scenario in yaml.safe_load(path.read_text())["scenarios"]:
            for turn in scenario["turns"]:
                text = " ".join(turn.lower().split())
                if len(text.split()) > 3:  # "ok", "thanks" may well occur in both
                    assert text not in corpus, f"{path.name}: {turn!r} is in the training corpus"


@pytest.mark.slow
def test_every_corpus_reply_passes_the_checks_a_model_reply_must_pass():
    from chatbot.train.check_data import TargetJudge

    judge = TargetJudge()
    failing = {r.id: judge.failures(r) for r in load_corpus()}
    failing = {k: v for k, v in failing.items() if v}
    assert not failing, f"{len(failing)} rows fail, e.g. {list(failing.items())[:3]}"


def test_the_command_line_reports_figures(trainable_tiny_dir, tmp_path, capsys):
    from chatbot.train.__main__ import main

    config = tiny_config(trainable_tiny_dir, tmp_path, max_steps=2)
    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config.model_dump()))
    assert main([str(path), "--set", "max_steps=3"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["steps"] == 3
    shutil.rmtree(tmp_path / "run")


def test_training_reads_only_the_moves_it_is_given(trainable_tiny_dir, tmp_path):
    from pydantic import ValidationError

    from chatbot.train.lora import train

    every = train(tiny_config(trainable_tiny_dir, tmp_path / "all", max_steps=1), progress=False)
    listening = train(
        tiny_config(trainable_tiny_dir, tmp_path / "some", max_steps=1, moves=["reflect", "question"]),
        progress=False,
    )
    assert 0 < listening["train_rows"] < every["train_rows"]
    with pytest.raises(ValidationError, match="moves"):
        tiny_config(trainable_tiny_dir, tmp_path, moves=["reflect", "chat"])


def test_the_adapter_sees_the_context_window_it_was_trained_with(trainable_tiny_dir, tmp_path):
    from chatbot.train.lora import train
    from chatbot.train.prompting import ContextWindow, adapter_messages, read_window

    train(tiny_config(trainable_tiny_dir, tmp_path, max_steps=1, context_exchanges=0), progress=False)
    window = read_window(tmp_path / "run" / "best")
    assert window == ContextWindow(exchanges=0, summary_exchanges=3)
    assert read_window(tmp_path / "no-window-file") == ContextWindow()  # adapters saved before it saw 2

    history = [{"role": r, "content": f"{r} {i}"} for i in range(4) for r in ("user", "assistant")]
    reflect = adapter_messages("reflect", history, "latest", window)
    assert [m["content"] for m in reflect[1:]] == ["latest"]  # only the person's line
    summary = adapter_messages("summarize", history, "latest", window)
    assert [m["content"] for m in summary[1:-1]] == [m["content"] for m in history[-6:]]
    assert len(adapter_messages("reflect", history, "latest")) == 1 + 4 + 1  # two exchanges by default
