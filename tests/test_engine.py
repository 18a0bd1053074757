"""The listener: safety before and after the model, calm handling of every failure."""

from __future__ import annotations

import pytest

from chatbot.config import default_settings
from chatbot.engine import Listener, trim_history
from chatbot.models import ModelError
from safety import SafetyScreen, crisis_reply
from tests.conftest import ExplodingModel, ScriptedModel

SETTINGS = default_settings(max_new_tokens=40, seed=0)
CRISIS = "I'm going to kill myself tonight, I have the pills ready"


@pytest.fixture(scope="module")
def screen():
    return SafetyScreen(semantic=False)


def make(model, screen, **kwargs):
    return Listener(model, screen, settings=SETTINGS, **kwargs)


def test_a_listening_turn_streams_and_is_recorded(screen):
    text = "It sounds like work has been taking everything you have. And sleep isn't helping."
    model = ScriptedModel([text])
    listener = make(model, screen)
    conv = listener.new_conversation()
    reply = listener.respond(conv, "I've been feeling really overwhelmed at work and I can't sleep.")
    pieces = list(reply)
    # Released a sentence at a time, each after the output rail passed it.
    assert pieces == ["It sounds like work has been taking everything you have.", " And sleep isn't helping."]
    turn = reply.turn
    assert turn.kind == "listening" and conv.turns == [turn] and turn.reply == text
    assert turn.output_safety["ok"] is True and turn.safety["route"] is False
    assert model.calls[0][0]["role"] == "system"
    assert model.calls[0][-1] == {"role": "user", "content": turn.user_text}


def test_crisis_reply_is_fixed_text_and_never_calls_the_model(screen):
    listener = make(ExplodingModel(), screen)
    conv = listener.new_conversation(country="UK")
    turn = listener.respond(conv, CRISIS).consume()
    assert turn.kind == "crisis" and conv.careful_mode
    assert "116 123" in turn.reply  # Samaritans, for the UK


def test_crisis_replies_are_identical_whatever_the_model(screen):
    replies = set()
    for model in (ExplodingModel(), ScriptedModel(["anything at all"]), None):
        listener = make(model, screen)
        conv = listener.new_conversation(country="US")
        replies.add(listener.respond(conv, CRISIS).consume().reply)
    assert len(replies) == 1
    assessment = screen.assess_message(CRISIS)
    assert replies == {crisis_reply(assessment, "US").text}


def test_crisis_at_turn_sixty_is_caught_like_turn_one(screen):
    model = ScriptedModel(default="That sounds like a full day.")
    listener = make(model, screen)
    conv = listener.new_conversation()
    for i in range(59):
        assert listener.respond(conv, f"Today I cleaned the kitchen, part {i}.").consume().kind == "listening"
    calls_before = len(model.calls)
    turn = listener.respond(conv, CRISIS).consume()
    assert turn.kind == "crisis" and len(conv.turns) == 60
    assert len(model.calls) == calls_before


def test_crisis_sentence_at_the_end_of_a_huge_message_is_still_caught(screen):
    listener = make(ExplodingModel(), screen)
    conv = listener.new_conversation()
    text = ("Work was long and the bus was late. " * 3000) + CRISIS
    assert len(text) > 100_000
    assert listener.respond(conv, text).consume().kind == "crisis"


def test_huge_ordinary_message_is_kept_and_answered_kindly(screen):
    listener = make(ExplodingModel(), screen, max_message_chars=4000)
    conv = listener.new_conversation()
    text = "I keep thinking about the move. " * 500
    turn = listener.respond(conv, text).consume()
    assert turn.kind == "input_error" and "4,000" in turn.reply
    assert turn.user_text == text.strip()  # nothing lost


@pytest.mark.parametrize("raw", ["", "   \n\t ", "\x00\x01\x02", b"\xff\xfe\x00", None])
def test_empty_or_binary_input_gets_a_clear_message(screen, raw):
    listener = make(ExplodingModel(), screen)
    conv = listener.new_conversation()
    turn = listener.respond(conv, raw).consume()
    assert turn.kind == "input_error" and "didn't catch" in turn.reply


def test_model_failure_is_calm_keeps_history_and_recovers(screen):
    class FlakyModel(ScriptedModel):
        fail = True

        def stream(self, messages, settings):
            if self.fail:
                yield "It sounds"
                raise ModelError("backend died")
            yield from super().stream(messages, settings)

    model = FlakyModel(default="It sounds like the week wore you down.")
    listener = make(model, screen)
    conv = listener.new_conversation()
    first = listener.respond(conv, "This week has been exhausting.").consume()
    assert first.kind == "model_error" and "trouble" in first.reply
    assert first.user_text == "This week has been exhausting."
    model.fail = False
    second = listener.respond(conv, "Still exhausted.").consume()
    assert second.kind == "listening" and len(conv.turns) == 2
    # The failed turn's fixed message is not fed back to the model as its own words.
    assert all("trouble" not in m["content"] for m in model.calls[-1])


def test_without_any_model_listening_fails_kindly_but_crisis_routing_works(screen):
    listener = make(None, screen, model_problem="not installed")
    conv = listener.new_conversation()
    assert listener.respond(conv, "I had a rough day").consume().kind == "model_error"
    assert listener.respond(conv, CRISIS).consume().kind == "crisis"


def test_screen_that_raises_fails_closed(screen, monkeypatch):
    class BrokenScreen:
        def assess_message(self, *args, **kwargs):
            raise RuntimeError("rules file unreadable")

    listener = make(ExplodingModel(), BrokenScreen())
    conv = listener.new_conversation()
    turn = listener.respond(conv, "I had a quiet afternoon").consume()
    assert turn.kind == "crisis" and turn.safety["error"] == "RuntimeError"


def test_unsafe_model_reply_is_replaced_before_it_is_shown(screen):
    model = ScriptedModel(["You clearly have clinical depression and should take more pills."])
    listener = make(model, screen)
    conv = listener.new_conversation()
    reply = listener.respond(conv, "I feel flat all the time.")
    shown = "".join(reply)
    assert "depression" not in shown and "pills" not in shown
    assert reply.turn.kind == "replaced" and reply.turn.output_safety["ok"] is False


def test_crisis_turns_never_reach_the_models_context(screen):
    model = ScriptedModel(default="That sounds heavy.")
    listener = make(model, screen)
    conv = listener.new_conversation()
    listener.respond(conv, CRISIS).consume()
    listener.respond(conv, "Thanks. I'm a bit calmer now.").consume()
    seen = " ".join(m["content"] for m in model.calls[-1])
    assert "pills" not in seen and conv.turns[0].reply not in seen
    assert conv.careful_mode  # stays on for the session


def test_history_is_trimmed_oldest_first_to_fit():
    def count(messages):
        return sum(len(m["content"].split()) for m in messages)

    system = {"role": "system", "content": "s"}
    user = {"role": "user", "content": "now"}
    history = []
    for i in range(10):
        history += [{"role": "user", "content": f"u{i} " * 10}, {"role": "assistant", "content": f"a{i} " * 10}]
    kept = trim_history(history, system, user, budget_tokens=62, count_tokens=count)
    assert kept == history[-6:]  # three newest exchanges: 60 + 2 tokens
    assert trim_history(history, system, user, budget_tokens=1, count_tokens=count) == []


def test_trimming_with_the_real_tokenizer_keeps_the_prompt_in_the_window(screen, tiny_model_dir):
    from chatbot.backends.transformers_backend import TransformersChatModel

    model = TransformersChatModel(tiny_model_dir, dtype="float32")
    listener = make(model, screen, history_tokens=120)
    conv = listener.new_conversation()
    for _ in range(12):
        listener.respond(conv, "i feel tired and sad about work").consume()
    last = listener.respond(conv, "i feel overwhelmed").consume()
    assert last.meta["history_messages"] < 2 * 12
    assert last.kind in ("listening", "replaced")


def test_a_reply_with_a_reflection_and_a_question_is_coded_as_both(screen):
    from chatbot.coder import TechniqueCoder

    model = ScriptedModel(["It sounds like the move has worn you out. What has been hardest?"])
    listener = make(model, screen, coder=TechniqueCoder.load())
    conv = listener.new_conversation()
    turn = listener.respond(conv, "The move has been exhausting.").consume()
    codes = [s["code"] for s in turn.technique["segments"]]
    assert "reflection" in codes and "question" in codes


def test_a_reply_checked_by_one_coder_is_labelled_once_by_the_listeners_own(screen):
    from chatbot.coder import Code, TechniqueCoder
    from chatbot.listening import ReflectFirstPipeline

    class LabelCoder:
        calls = 0

        def code_all(self, text, prompt=None):
            LabelCoder.calls += 1
            return [Code("question", "open", 0.9, "encoder")]

        def code(self, text, prompt=None):
            return self.code_all(text, prompt)[0]

    model = ScriptedModel(["What has the week been like for you?"] * 3)
    pipeline = ReflectFirstPipeline(model, TechniqueCoder.load(), candidates=1, reply_check=screen.check_reply)
    listener = Listener(model, screen, settings=default_settings(seed=0), pipeline=pipeline, coder=LabelCoder())
    turn = listener.respond(listener.new_conversation(), "Work has been piling up and I can't sleep.").consume()
    assert turn.kind == "listening"
    assert LabelCoder.calls == 1 and turn.technique is not None and turn.technique["evidence"] == "encoder"


class BusyModel(ScriptedModel):
    """A backend that reports how many replies wait for it, as the batched engine does."""

    def __init__(self, waiting: int) -> None:
        super().__init__(["It sounds like a lot has landed on you this week."])
        self.waiting = waiting

    def load(self) -> tuple[int, int]:
        return 8, self.waiting


def test_past_the_waiting_limit_the_person_hears_busy_and_the_message_is_not_taken(screen):
    model = BusyModel(waiting=8)
    listener = make(model, screen, max_waiting=8)
    conv = listener.new_conversation()
    turn = listener.respond(conv, "This week has been a lot, honestly.").consume()
    assert turn.kind == "busy" and turn.reply == listener.fixed["busy"]
    assert conv.turns == [] and model.calls == []
    model.waiting = 7
    assert listener.respond(conv, "This week has been a lot, honestly.").consume().kind == "listening"


def test_a_crisis_message_is_answered_even_when_the_model_is_busy(screen):
    listener = make(BusyModel(waiting=50), screen, max_waiting=1)
    turn = listener.respond(listener.new_conversation(), CRISIS).consume()
    assert turn.kind == "crisis"


@pytest.mark.parametrize("in_flight, model_asked", [(3, True), (4, False)])
def test_a_summary_is_deterministic_when_the_model_is_busy(in_flight, model_asked):
    from chatbot.coder import TechniqueCoder
    from chatbot.listening import ReflectFirstPipeline

    model = BusyModel(waiting=0)
    model.load = lambda: (in_flight, 0)  # type: ignore[method-assign]
    pipeline = ReflectFirstPipeline(model, TechniqueCoder.load(), candidates=1, busy_summaries_at=4)
    history = []
    for said in ("Work has been a lot.", "My manager keeps adding deadlines.", "I can't switch off at night."):
        history += [{"role": "user", "content": said}, {"role": "assistant", "content": "That sounds heavy."}]
    line = "And now my sister needs help with her move too."
    assert pipeline.plan_move(history, line) == "summarize"
    planned = pipeline.reply(history, line, default_settings(seed=0))
    assert bool(model.calls) is model_asked
    assert planned.text and (model_asked or planned.fallback)
