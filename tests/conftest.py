"""Shared fixtures: a scripted fake model and a tiny real transformers model built in-process."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from collections.abc import Iterator, Sequence

import pytest

from chatbot.models import GenerationSettings, Message, ModelIdentity

# Debian's chromium, driven headless by the browser tests; nothing in it may reach the network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium; `make browser`)"
    ),
]


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


TINY_WORDS = [
    "i",
    "you",
    "it",
    "that",
    "listener",
    "this",
    "work",
    "sleep",
    "feel",
    "feeling",
    "overwhelmed",
    "tired",
    "sad",
    "really",
    "a",
    "lot",
    "and",
    "the",
    "to",
    "of",
    "is",
    "are",
    "sounds",
    "like",
    "been",
    "have",
    "has",
    "can't",
    "not",
    "so",
    "much",
    "what",
    "how",
    "hello",
    "thanks",
    "about",
    "more",
    "tell",
    "me",
    "when",
]

TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


class ScriptedModel:
    """A fake ChatModel that streams queued replies word by word and records every call."""

    def __init__(self, replies: Sequence[str] = (), default: str = "It sounds like a lot.") -> None:
        self.identity = ModelIdentity(backend="scripted", name="scripted", context_window=4096)
        self.queue = list(replies)
        self.default = default
        self.calls: list[list[Message]] = []

    def enqueue(self, *replies: str) -> None:
        self.queue.extend(replies)

    def stream(self, messages: Sequence[Message], settings: GenerationSettings) -> Iterator[str]:
        self.calls.append([dict(m) for m in messages])
        text = self.queue.pop(0) if self.queue else self.default
        words = text.split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m["content"].split()) + 4 for m in messages)


class ExplodingModel(ScriptedModel):
    """Fails the test if anything calls it: proves crisis replies never touch a model."""

    def stream(self, messages, settings):
        raise AssertionError("the model must not be called")


@pytest.fixture(scope="module")
def screen():
    """Rules and conversation risk only (no embedder), so rule classes are tested on their own.
    Modules that need the full screen define their own `screen`."""
    from safety import SafetyScreen

    return SafetyScreen(semantic=False)


@pytest.fixture
def scripted_model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def exploding_model() -> ExplodingModel:
    return ExplodingModel()


def build_tiny_model(path) -> str:
    """A random 2-layer Llama and a word-level tokenizer with a chat template, saved to `path`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    vocab = {tok: i for i, tok in enumerate(special + TINY_WORDS + [".", ",", "?", "!", "'"])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.add_special_tokens(special)  # role markers match whole, before pre-tokenization
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="<|end|>",
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["<|end|>"],
        pad_token_id=vocab["<pad>"],
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))
