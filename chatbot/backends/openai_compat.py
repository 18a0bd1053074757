"""Any OpenAI-compatible chat-completions server: vLLM, TGI, llama.cpp server, Ollama, `transformers serve`.

The official `openai` client does the streaming (server-sent events), timeouts and retries with
exponential backoff on connection errors, 429 and 5xx; this module maps its errors to ours.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, cast

from chatbot.models import (
    GenerationSettings,
    Message,
    ModelError,
    ModelIdentity,
    ModelNotFoundError,
    ModelTimeoutError,
)

if TYPE_CHECKING:  # openai itself is imported only when this backend is built
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming

CHARS_PER_TOKEN = 4  # no tokenizer on this side of the wire: a conservative estimate for trimming


class OpenAICompatibleChatModel:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        context_window: int = 4096,
        check: bool = True,
    ) -> None:
        import openai

        self._openai = openai
        self.model_name = model
        self.client = openai.OpenAI(
            base_url=base_url.rstrip("/"),
            api_key=api_key or "not-needed",  # local servers ignore it; the client requires one
            timeout=timeout_s,
            max_retries=max_retries,
        )
        self.timeout_s = timeout_s
        self.identity = ModelIdentity(backend="openai", name=model, source=base_url, context_window=context_window)
        if check:
            self._check_model_is_served()

    def _check_model_is_served(self) -> None:
        """Fail at start with a clear message rather than at the first reply."""
        try:
            served = [m.id for m in self.client.models.list()]
        except self._openai.APIConnectionError:
            raise ModelNotFoundError(
                f"No OpenAI-compatible server answered at {self.identity.source}. "
                "Check model.base_url (it usually ends in /v1) and that the server is running."
            ) from None
        except self._openai.APIStatusError as exc:
            raise ModelNotFoundError(
                f"The server at {self.identity.source} answered {exc.status_code} to /models; "
                "is model.base_url right (it usually ends in /v1)?"
            ) from None
        if served and self.model_name not in served:
            raise ModelNotFoundError(
                f"The server at {self.identity.source} does not serve '{self.model_name}'. "
                f"It serves: {', '.join(served[:10])}"
            )

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m["content"]) // CHARS_PER_TOKEN + 4 for m in messages)

    def stream(self, messages: Sequence[Message], settings: GenerationSettings) -> Iterator[str]:
        openai = self._openai
        sampling = settings.do_sample and settings.temperature > 0
        request: CompletionCreateParamsStreaming = {
            "model": self.model_name,
            # Our messages are system/user/assistant role-content dicts, the shapes these params name.
            "messages": cast("list[ChatCompletionMessageParam]", list(messages)),
            "stream": True,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature if sampling else 0.0,
            "top_p": settings.top_p if sampling else 1.0,
        }
        if settings.seed is not None:
            request["seed"] = settings.seed
        if settings.stop:
            request["stop"] = list(settings.stop)
        try:
            response = self.client.chat.completions.create(**request)
            with response:  # closing it drops the connection, so the server stops generating
                for chunk in response:
                    if not chunk.choices:
                        continue
                    piece = chunk.choices[0].delta.content
                    if piece:
                        yield piece
        except openai.APITimeoutError as exc:
            raise ModelTimeoutError(f"The model server did not answer within {self.timeout_s:.0f} s") from exc
        except openai.APIConnectionError as exc:
            raise ModelError(f"Lost the connection to the model server at {self.identity.source}") from exc
        except (openai.NotFoundError, openai.BadRequestError) as exc:
            raise ModelNotFoundError(
                f"The server at {self.identity.source} refused model '{self.model_name}': {exc.status_code}"
            ) from exc
        except openai.APIStatusError as exc:
            raise ModelError(f"The model server answered {exc.status_code}") from exc
