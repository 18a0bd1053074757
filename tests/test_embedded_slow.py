"""The real embedded model: conversion to the cache, loading, and a reply. Marked slow; CI runs it."""

from __future__ import annotations

import pytest

from chatbot.backends import embedded

pytestmark = pytest.mark.slow

OVERWHELMED = "I've been feeling really overwhelmed at work and I can't sleep."


def test_interrupted_conversion_leaves_no_cache_behind(tmp_path, monkeypatch):
    from transformers import PreTrainedModel

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt  # the person closed the terminal mid-conversion

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embedded.ensure_converted(tmp_path)
    assert list(tmp_path.iterdir()) == []  # no half-written folder, no staging left over


def test_converts_once_then_loads_from_the_cache(tmp_path):
    messages: list[str] = []
    folder = embedded.ensure_converted(tmp_path, progress=messages.append)
    assert (folder / embedded.MARKER).exists() and (folder / "model.safetensors").exists()
    assert any("converting" in m for m in messages)
    messages.clear()
    assert embedded.ensure_converted(tmp_path, progress=messages.append) == folder
    assert messages == []  # second run: straight from the cache

    model = embedded.load_embedded_model(tmp_path, threads=2)
    assert model.identity.backend == "embedded"
    assert model.identity.weights_sha256 == embedded.sha256_of(embedded.gguf_path())
    from chatbot.backends.transformers_backend import cpu_supports_bf16

    if cpu_supports_bf16():  # every linear layer of the Q4_1 GGUF is recovered as exact 4-bit codes
        assert (model.packing.packed, model.packing.skipped) == (210, 0)
        assert "210 linear layers as exact 4-bit codes" in model.identity.dtype
    else:
        assert model.packing is None


def test_the_full_listener_replies_reflectively_on_the_embedded_model():
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    listener = build_listener(load_config(environ={}))
    assert listener.model is not None and listener.model.identity.name == "SmolLM2-135M-Instruct"
    conv = listener.new_conversation()
    turn = listener.respond(conv, OVERWHELMED).consume()
    assert turn.kind == "listening", turn.output_safety
    words = turn.reply.lower()
    assert 3 <= len(words.split()) <= 80
    assert words.count("?") <= 1
    assert any(w in words for w in ("overwhelm", "work", "sleep", "stress", "tired", "exhaust"))
    crisis = listener.respond(conv, "I want to end my life").consume()
    assert crisis.kind == "crisis"


def test_the_shipped_adapter_loads_by_name_and_writes_the_reply():
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    listener = build_listener(load_config(overrides=["model.adapter=listening"], environ={}))
    assert listener.model.identity.extra["adapter"] == "listening"
    assert listener.pipeline is not None and listener.pipeline.trained
    conv = listener.new_conversation()
    turn = listener.respond(conv, OVERWHELMED).consume()
    assert turn.kind == "listening" and turn.meta["fallback"] is False, turn.reply
    assert turn.technique["code"] in ("reflection", "summary", "affirmation")
    bare = build_listener(load_config(environ={}))  # the app's default: no adapter
    assert "adapter" not in bare.model.identity.extra and not bare.pipeline.trained
