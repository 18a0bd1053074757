"""The listener: every message passes the safety screen, then the model (or a fixed reply).

One turn, top to bottom (`Listener._respond`): clean the text; screen it (a crisis gets the fixed
reply and no model call); read it once (`listening.read_message`); then the pipeline plans,
generates, rail-checks and codes the reply, or the bare model streams it sentence by sentence
through the rail; the turn is recorded with the reply's one coding.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chatbot import stopping
from chatbot.coder.codes import technique_record
from chatbot.config import default_config
from chatbot.conversation import Conversation, Turn
from chatbot.inputs import clean_user_text
from chatbot.listening import Reading, read_message
from chatbot.models import ChatModel, GenerationSettings, Message, ModelError, ModelTimeoutError
from chatbot.prompts import load_prompt
from chatbot.protocols import Coder, ReplyPipeline, SafetyScreen
from safety import Assessment, ConversationRisk, ReplyCheck, crisis_reply, safe_replacement_reply
from safety.types import failed_closed

log = logging.getLogger("chatbot.engine")  # events and counts only, never message text

_SENTENCE_END = re.compile(r"[.!?…](\s|$)")
# Turns whose replies the model should not see again as its own words.
_FIXED_KINDS = {"crisis", "input_error", "model_error"}


def trim_history(
    history: Sequence[Message],
    system: Message,
    user: Message,
    budget_tokens: int,
    count_tokens: Callable[[Sequence[Message]], int],
) -> list[Message]:
    """Drop the oldest exchanges until system + history + user fits the budget."""
    kept = list(history)
    while kept and count_tokens([system, *kept, user]) > budget_tokens:
        kept = kept[2:] if len(kept) >= 2 else []
    return kept


def stream_words(text: str) -> Iterator[str]:
    """Stream a finished reply word by word, so a chosen candidate still arrives as a stream."""
    for match in re.finditer(r"\S+\s*", text):
        yield match.group(0)


@dataclass
class Reply:
    """Iterate for the reply's text pieces; `turn` holds the record once iteration ends."""

    _pieces: Iterator[str]
    turn: Turn | None = None
    text: str = ""
    _done: list[Turn] = field(default_factory=list)

    def __iter__(self) -> Generator[str, None, None]:
        try:
            for piece in self._pieces:
                self.text += piece
                yield piece
        finally:
            # Closing this reply (Stop) closes the turn's generators and the model stream now,
            # not whenever the garbage collector gets to them.
            close = getattr(self._pieces, "close", None)
            if close:
                close()
        if self._done:
            self.turn = self._done[0]

    def consume(self) -> Turn:
        for _ in self:
            pass
        assert self.turn is not None
        return self.turn


class Listener:
    """Builds replies for one Conversation at a time; holds no per-session state itself."""

    def __init__(
        self,
        model: ChatModel | None,
        screen: SafetyScreen,
        *,
        settings: GenerationSettings | None = None,
        pipeline: ReplyPipeline | None = None,
        coder: Coder | None = None,
        history_tokens: int | None = None,
        max_message_chars: int | None = None,
        default_country: str | None = None,
        model_problem: str | None = None,
        max_waiting: int | None = None,
    ) -> None:
        defaults = default_config()  # what is not given comes from chatbot/defaults.yaml
        self.model = model
        self.screen = screen
        self.settings = settings or defaults.generation_settings()
        self.pipeline = pipeline
        self.coder = coder
        self.history_tokens = history_tokens or defaults.listening.history_tokens
        self.max_message_chars = max_message_chars or defaults.app.max_message_chars
        self.default_country = default_country or defaults.locale.country
        self.model_problem = model_problem  # why the model is missing, shown to operators only
        self.max_waiting = max_waiting  # None: every reply waits its turn however long the queue
        self.system_prompt = load_prompt("system").render()
        self.fixed = load_prompt("engine_messages").messages

    # -- sessions -------------------------------------------------------------------------
    def new_conversation(self, country: str | None = None) -> Conversation:
        return Conversation(country=country or self.default_country, risk=ConversationRisk())

    # -- one turn -------------------------------------------------------------------------
    def respond(
        self,
        conversation: Conversation,
        raw_text: str | bytes | None,
        stop: threading.Event | None = None,
        attempt: int = 0,
    ) -> Reply:
        """`stop`: set it (the person pressed Stop) and the model stops at its next piece; iterating
        the reply then raises `stopping.Stopped` and no turn is recorded. `attempt`: how many times
        this message was retried; each attempt samples with its own seed, so Retry gives a new reply."""
        done: list[Turn] = []
        settings = self.settings
        if attempt and settings.seed is not None:
            settings = settings.with_(seed=settings.seed + 7919 * attempt)
        return Reply(self._respond(conversation, raw_text, done, stop, settings), _done=done)

    def _respond(
        self,
        conv: Conversation,
        raw_text: str | bytes | None,
        done: list[Turn],
        stop: threading.Event | None = None,
        settings: GenerationSettings | None = None,
    ) -> Iterator[str]:
        started = time.perf_counter()
        cleaned = clean_user_text(raw_text, self.max_message_chars)
        if cleaned.problem == "empty":
            text = self.fixed["empty"]
            yield text
            done.append(self._record(conv, Turn(cleaned.text, text, "input_error"), started))
            return

        assessment = self._assess(conv, cleaned.text)
        if assessment.route:
            yield from self._crisis(conv, cleaned.text, assessment, started, done)
            return
        if cleaned.problem == "too_long":
            text = self.fixed["too_long"].format(max_chars=f"{self.max_message_chars:,}")
            yield text
            turn = Turn(cleaned.text, text, "input_error", safety=assessment.as_dict())
            done.append(self._record(conv, turn, started))
            return
        reading = read_message(cleaned.text)
        if conv.turns and conv.turns[-1].kind == "crisis" and reading.bare:
            # "no" / "ok" right after a crisis reply: its safety question may be the one answered
            # ("are you safe right now?" - "no"), so no reflection of it; a fixed, careful text.
            text = self.fixed["after_crisis"]
            yield text
            turn = Turn(cleaned.text, text, "listening", safety=assessment.as_dict(), meta={"fixed": "after_crisis"})
            done.append(self._record(conv, turn, started))
            return
        if self.model is None:
            text = self.fixed["model_missing"]
            yield text
            turn = Turn(cleaned.text, text, "model_error", safety=assessment.as_dict())
            done.append(self._record(conv, turn, started))
            return
        if self._busy():
            # Screened already, so never a crisis. Not recorded: the person sends it again.
            text = self.fixed["busy"]
            yield text
            done.append(Turn(cleaned.text, text, "busy", safety=assessment.as_dict()))
            return
        yield from self._listen(
            self.model, conv, cleaned.text, reading, assessment, started, done, stop, settings or self.settings
        )

    def _busy(self) -> bool:
        """More replies wait for the model than `app.max_waiting` allows (backends that report a load)."""
        load = getattr(self.model, "load", None)
        if self.max_waiting is None or not callable(load):
            return False
        _, waiting = load()
        return waiting >= self.max_waiting

    def _assess(self, conv: Conversation, text: str) -> Assessment:
        try:
            return self.screen.assess_message(text, history=conv.user_texts(), risk=conv.risk)
        except Exception as exc:  # the screen promises not to raise; fail closed if it does
            log.error("safety screen raised %s; failing closed", type(exc).__name__)
            return failed_closed(exc)

    def _crisis(
        self, conv: Conversation, text: str, assessment: Assessment, started: float, done: list[Turn]
    ) -> Iterator[str]:
        conv.risk.careful_mode = True  # the screen sets it too; this covers a screen that raised
        reply = crisis_reply(assessment, conv.country)
        log.warning(
            "crisis routed: category=%s severity=%s subject=%s error=%s",
            assessment.category,
            assessment.severity,
            assessment.subject,
            assessment.error,
        )
        yield reply.text
        turn = Turn(
            text,
            reply.text,
            "crisis",
            safety=assessment.as_dict(),
            meta={"resources_country": reply.country},
        )
        done.append(self._record(conv, turn, started))

    def _model_history(self, conv: Conversation) -> list[Message]:
        history: list[Message] = []
        for turn in conv.turns:
            if turn.kind in _FIXED_KINDS:
                continue
            history.append({"role": "user", "content": turn.user_text})
            history.append({"role": "assistant", "content": turn.reply})
        return history

    def _check_reply(self, reply: str, user_text: str) -> ReplyCheck:
        try:
            return self.screen.check_reply(reply, user_text)
        except Exception as exc:
            log.error("output rail raised %s; replacing the reply", type(exc).__name__)
            return ReplyCheck(ok=False, reason="error", evidence=(type(exc).__name__,))

    def _listen(
        self,
        model: ChatModel,
        conv: Conversation,
        text: str,
        reading: Reading,
        assessment: Assessment,
        started: float,
        done: list[Turn],
        stop: threading.Event | None = None,
        settings: GenerationSettings | None = None,
    ) -> Iterator[str]:
        """A model reply; `model` is `self.model`, passed in once the caller has checked it is there."""
        settings = settings or self.settings
        system: Message = {"role": "system", "content": self.system_prompt}
        user: Message = {"role": "user", "content": text}
        budget = min(self.history_tokens, model.identity.context_window)
        budget -= settings.max_new_tokens
        history = trim_history(self._model_history(conv), system, user, budget, model.count_tokens)
        meta: dict[str, Any] = {"history_messages": len(history)}
        first_token: float | None = None
        tokens = 0
        move = None
        technique: dict | None = None
        try:
            if self.pipeline is not None:
                with stopping.watching(stop):  # one blocking call: Stop must reach inside it
                    planned = self.pipeline.reply(history, text, settings, reading)
                stopping.check(stop)
                move, tokens = planned.move, planned.tokens
                meta.update(fallback=planned.fallback, candidates=len(planned.candidates))
                # The pipeline ran the rail on its chosen text already; without a rail it did not.
                check = planned.check or self._check_reply(planned.text, text)
                reply = planned.text if check.ok else self._replacement(check)
                if check.ok and getattr(self.pipeline, "coder", None) is self.coder:
                    technique = planned.technique()  # coded once, by the pipeline
                for piece in stream_words(reply):
                    if first_token is None:
                        first_token = time.perf_counter() - started
                    yield piece
            else:
                reply, check, tokens, first_token = yield from self._stream_screened(
                    model, [system, *history, user], text, started, stop, settings
                )
        except ModelError as exc:
            log.error("model failed: %s", type(exc).__name__)
            message = self.fixed["model_error"]
            yield ("\n\n" if first_token is not None else "") + message
            turn = Turn(
                text,
                message,
                "model_error",
                safety=assessment.as_dict(),
                meta={**meta, "error": type(exc).__name__, "timeout": isinstance(exc, ModelTimeoutError)},
            )
            done.append(self._record(conv, turn, started))
            return
        kind = "listening" if check.ok else "replaced"
        if not check.ok:
            log.warning("model reply replaced by the output rail: reason=%s", check.reason)
        turn = Turn(
            text,
            reply,
            kind,
            move=move,
            safety=assessment.as_dict(),
            output_safety=check.as_dict(),
            first_token_s=first_token,
            tokens=tokens,
            technique=technique if technique is not None else self._code(reply, text),
            meta=meta,
        )
        done.append(self._record(conv, turn, started))

    def _stream_screened(
        self,
        model: ChatModel,
        messages: list[Message],
        user_text: str,
        started: float,
        stop: threading.Event | None = None,
        settings: GenerationSettings | None = None,
    ) -> Generator[str, None, tuple[str, ReplyCheck, int, float | None]]:
        """Bare model: release text a sentence at a time, each only after the rail passes it."""
        stream = model.stream(messages, settings or self.settings)
        try:
            result = yield from self._release_screened(stream, user_text, started, stop)
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()  # Stop: the model stops now, not when the stream is garbage-collected
        return result

    def _release_screened(
        self, stream: Iterator[str], user_text: str, started: float, stop: threading.Event | None
    ) -> Generator[str, None, tuple[str, ReplyCheck, int, float | None]]:
        shown, pending, tokens = "", "", 0
        first_token = check = None
        # None marks the end of the stream: whatever is pending is released like a sentence.
        for piece in itertools.chain(stream, [None]):
            stopping.check(stop)
            if piece is not None:
                tokens += 1
                pending += piece
                if not _SENTENCE_END.search(pending):
                    continue
            elif not pending.strip():
                break
            check = self._check_reply(shown + pending, user_text)
            if not check.ok:
                return (yield from self._replace_midway(shown, check, tokens, first_token))
            if first_token is None:
                first_token = time.perf_counter() - started
            yield pending
            shown, pending = shown + pending, ""
        if check is None:  # nothing to release: the rail still judges the (empty) reply
            check = self._check_reply(shown, user_text)
        if not shown.strip():
            shown = self.fixed["replaced"]
            yield shown
        return shown.strip(), check, tokens, first_token

    def _replace_midway(
        self, shown: str, check: ReplyCheck, tokens: int, first_token: float | None
    ) -> Generator[str, None, tuple[str, ReplyCheck, int, float | None]]:
        replacement = self._replacement(check)
        yield ("\n\n" if shown else "") + replacement
        return (shown + ("\n\n" if shown else "") + replacement).strip(), check, tokens, first_token

    def _replacement(self, check: ReplyCheck) -> str:
        try:
            return safe_replacement_reply(check)
        except Exception:
            return self.fixed["replaced"]

    def _code(self, reply: str, user_text: str) -> dict | None:
        """The reply's one coding, for a reply the pipeline did not code (bare model, replaced)."""
        if self.coder is None:
            return None
        try:
            return technique_record(self.coder.code_all(reply, prompt=user_text))
        except Exception as exc:  # coding is for display and evals; never block a reply
            log.error("technique coder failed: %s", type(exc).__name__)
            return None

    def _record(self, conv: Conversation, turn: Turn, started: float) -> Turn:
        turn = replace(turn, latency_s=round(time.perf_counter() - started, 4))
        conv.turns.append(turn)
        log.info("turn recorded: kind=%s latency=%.3fs", turn.kind, turn.latency_s)
        return turn
