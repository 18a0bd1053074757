"""A "yes" to the safety question a crisis reply asked is an answer, and routes again."""

from __future__ import annotations

import pytest

from chatbot.config import default_settings
from chatbot.engine import Listener
from safety import ConversationRisk, SafetyScreen
from tests.conftest import ExplodingModel

CRISIS = "I want to kill myself"


@pytest.fixture(scope="module")
def screen():
    return SafetyScreen(semantic=False)


def run(screen, turns):
    risk = ConversationRisk()
    return [screen.assess_message(t, risk=risk) for t in turns]


@pytest.mark.parametrize(
    "answer", ["yes", "Yeah.", "yeah...", "kinda 😔", "maybe", "i think so", "idk", "sometimes", "Yes I am", "yesss"]
)
def test_yes_or_maybe_right_after_a_crisis_reply_routes_again(screen, answer):
    first, second = run(screen, [CRISIS, answer])
    assert first.route and second.route
    assert second.category == first.category and second.subject == "self"
    assert second.evidence[0] == "context:yes_to_safety_question"


def test_a_third_partys_crisis_stays_about_them(screen):
    first, second = run(screen, ["my friend says she wants to die", "yes"])
    assert first.subject == second.subject == "other" and second.route


@pytest.mark.parametrize(
    "turns",
    [
        ["hi", "yes"],  # nothing was asked about safety
        [CRISIS, "no"],  # a no is not routed (the session stays in careful mode)
        [CRISIS, "no", "yes"],  # the yes answers something else now
        [CRISIS, "yes I went to the shop earlier and it was fine"],  # not a bare answer
    ],
)
def test_other_answers_do_not_route(screen, turns):
    assert not run(screen, turns)[-1].route


def test_the_listener_answers_a_yes_with_the_fixed_reply_and_never_calls_the_model(screen):
    listener = Listener(ExplodingModel(), screen, settings=default_settings(seed=0))
    conv = listener.new_conversation()
    first = listener.respond(conv, CRISIS)
    list(first)
    second = listener.respond(conv, "yeah")
    text = "".join(second)
    assert second.turn.kind == "crisis" and first.turn.kind == "crisis"
    assert "988" in text  # the resources again


@pytest.mark.parametrize("answer", ["no", "nah", "ok", "not really"])
def test_a_bare_no_after_a_crisis_reply_gets_a_careful_fixed_text_not_an_echo(screen, answer):
    listener = Listener(ExplodingModel(), screen, settings=default_settings(seed=0))
    conv = listener.new_conversation()
    list(listener.respond(conv, CRISIS))
    reply = listener.respond(conv, answer)
    text = "".join(reply)
    assert reply.turn.kind == "listening" and reply.turn.meta["fixed"] == "after_crisis"
    assert "not safe" in text and "Get help now" in text  # the model (ExplodingModel) was never called
    assert conv.careful_mode
