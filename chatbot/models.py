"""The one seam between the conversation engine and any language model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}


class ModelError(RuntimeError):
    """A model failed in a way the person should hear about calmly, never as a stack trace."""


class ModelNotFoundError(ModelError):
    """The configured model is not available on this machine (we never download)."""


class ModelTimeoutError(ModelError):
    """The model produced nothing for longer than the configured timeout."""


@dataclass(frozen=True)
class GenerationSettings:
    """Defaults are in chatbot/defaults.yaml (`chatbot.config.default_settings()`), not here."""

    max_new_tokens: int
    temperature: float
    top_p: float
    repetition_penalty: float
    do_sample: bool
    seed: int | None
    stop: tuple[str, ...] = ()

    def with_(self, **changes) -> GenerationSettings:
        return replace(self, **changes)


@dataclass(frozen=True)
class ModelIdentity:
    backend: str
    name: str
    source: str = ""  # path, URL or package the weights came from
    weights_sha256: str | None = None
    dtype: str = ""
    context_window: int = 2048
    extra: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "backend": self.backend,
            "name": self.name,
            "source": self.source,
            "weights_sha256": self.weights_sha256,
            "dtype": self.dtype,
            "context_window": self.context_window,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


@runtime_checkable
class ChatModel(Protocol):
    """Streams a reply for role/content messages. Closing the iterator stops generation."""

    identity: ModelIdentity

    def stream(self, messages: Sequence[Message], settings: GenerationSettings) -> Iterator[str]: ...

    def count_tokens(self, messages: Sequence[Message]) -> int: ...


def complete(model: ChatModel, messages: Sequence[Message], settings: GenerationSettings) -> str:
    """The whole reply as one string."""
    return "".join(model.stream(messages, settings))
