"""The web app's behaviour without a browser: handlers over a real listener, screen and coder
(scripted model), and the pure rendering functions."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ScriptedModel

from chatbot.conversation import Conversation, Turn
from chatbot.webui import render
from chatbot.webui.session import REDISCLOSE_AFTER_S, delete_session, new_session, remind_if_due

TEXTS = render.load_texts()
WORK = "Work has been really stressful lately and I can't sleep."
CRISIS = "I want to kill myself tonight"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ClosableModel(ScriptedModel):
    """Records whether a reply's stream was closed before it finished."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.closed_early = 0

    def stream(self, messages, settings):
        finished = False
        try:
            yield from super().stream(messages, settings)
            finished = True
        finally:
            if not finished:
                self.closed_early += 1


@pytest.fixture(scope="module")
def listener():
    from chatbot.config import load_config
    from chatbot.factory import build_listener

    # the bare-model path, so scripted replies map one-to-one onto turns
    config = load_config(overrides=["listening.pipeline=false"])
    return build_listener(config, model=ClosableModel())


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def handlers(listener, clock, tmp_path):
    from chatbot.webui.handlers import ChatHandlers

    listener.model.queue.clear()
    return ChatHandlers(listener, clock=clock, export_root=str(tmp_path))


def run(gen):
    return list(gen)


# -- pure rendering ------------------------------------------------------------------------------
def test_plain_text_escapes_html_and_markdown():
    shown = render.as_plain_text('<img src=x onerror="alert(1)"> ![a](http://example.com/x.png)')
    assert "<" not in shown and ">" not in shown
    assert "\\!\\[a\\]\\(http://example\\.com/x\\.png\\)" in shown


def test_chat_messages_interleave_disclosures_and_label_techniques_in_demo_mode():
    technique = {"code": "question", "subtype": "open", "confidence": 0.9, "evidence": "rule:x"}
    turns = [
        Turn("hi *there*", "What brings you here?", "listening", technique=technique),
        Turn("I want to die", "**Call 988**", "crisis"),
    ]
    notices = [SimpleNamespace(before_turn=0, text="first"), SimpleNamespace(before_turn=1, text="again")]
    plain = render.chat_messages(turns, notices, False, TEXTS)
    assert [m["content"] for m in plain] == [
        "first",
        "hi \\*there\\*",
        "What brings you here?",
        "again",
        "I want to die",
        "**Call 988**",
    ]
    demo = render.chat_messages(turns, notices, True, TEXTS)
    assert demo[2]["content"].endswith("*Technique: Open question*")
    assert "fixed crisis reply" in demo[5]["content"]


def test_help_panel_puts_emergency_first_escapes_and_falls_back():
    from safety import load_resources

    directory = load_resources()
    uk = render.help_panel_html(directory, "UK", TEXTS)
    assert uk.index("999") < uk.index("Samaritans")
    assert 'data-country="INTL"' in render.help_panel_html(directory, "ZZ", TEXTS)
    res = SimpleNamespace(
        name="<b>x</b>", display="call", hours=None, audience=None, verified=True, how=("call",), contact="1"
    )
    country = SimpleNamespace(name="Test", emergency=SimpleNamespace(number="112"), resources=[res])
    fake = SimpleNamespace(country=lambda code: ("T", country))
    assert "<b>x</b>" not in render.help_panel_html(fake, "T", TEXTS)


def test_miti_panel_rates_against_thresholds():
    from chatbot.coder import Code, miti_summary

    codes = [
        Code("reflection", "complex", 1, "t"),
        Code("reflection", "simple", 1, "t"),
        Code("question", "open", 1, "t"),
    ]
    html = render.miti_panel_html(miti_summary(codes))
    assert "<td>2.0</td>" in html and "<td>50.0 %</td>" in html
    assert html.count("rating-good") == 2
    low = render.miti_panel_html(miti_summary([Code("question", "open", 1, "t")]))
    assert "<td>0.0</td>" in low and "below fair" in low


def test_miti_panel_does_not_rate_a_ratio_with_no_questions():
    from chatbot.coder import Code, miti_summary

    html = render.miti_panel_html(miti_summary([Code("reflection", "complex", 1, "t")]))
    ratio_row = html.split("</tr>")[1]  # header row, then Reflection : question
    assert "no questions yet" in ratio_row and "not rated yet" in ratio_row
    assert "rating-good" not in ratio_row and ">good<" not in ratio_row


def test_help_panel_numbers_are_links_and_it_never_doubts_itself():
    from safety import load_resources

    directory = load_resources()
    us = render.help_panel_html(directory, "US", TEXTS)
    assert 'href="tel:911"' in us and 'href="tel:988"' in us and 'href="sms:988"' in us
    assert 'href="sms:741741?&amp;body=HOME"' in us  # Crisis Text Line: the keyword goes with it
    assert 'href="sms:88788?&amp;body=START"' in us  # texts go to the text number, not the phone line
    assert "not confirmed" not in us and "ANAD" not in us  # unverified lines are left out
    assert "RAINN" in us and 'href="tel:18006564673"' in us  # checked against its own page
    india = render.help_panel_html(directory, "IN", TEXTS)
    assert "Find A Helpline" in india and 'href="tel:112"' in india  # no checked line: the directory
    for code in ("US", "CA", "UK", "IE", "AU", "NZ", "DE", "FR", "IN", "INTL"):
        assert "not confirmed" not in render.help_panel_html(directory, code, TEXTS), code


def test_help_panel_can_be_hidden_and_a_new_crisis_reopens_it(handlers):
    session = handlers.new_session("US")
    run(handlers.send(CRISIS, session))
    assert session.show_help
    panel, _ = handlers.hide_help(session)
    assert panel["visible"] is False
    assert handlers.open_help(session)[0]["visible"] is True  # one tap away
    handlers.hide_help(session)
    out = run(handlers.send(CRISIS, session))[-1]
    assert out[2]["visible"] is True


def test_browser_country_sets_the_help_lines_for_this_session(handlers):
    session = handlers.new_session("US")
    dropdown, panel, _ = handlers.browser_country("GB", session)
    assert dropdown["value"] == "UK" and session.conversation.country == "UK"
    assert "999" in panel["value"]
    handlers.browser_country("BR", session)  # not in the directory: the international list
    assert session.conversation.country == "INTL"
    handlers.browser_country("", session)  # the browser said nothing: keep what was there
    assert session.conversation.country == "INTL"


# -- session rules -------------------------------------------------------------------------------
def test_disclosure_is_repeated_every_three_hours():
    session = new_session(Conversation(), 0.0, "first")
    assert not remind_if_due(session, REDISCLOSE_AFTER_S - 1, "again")
    assert remind_if_due(session, REDISCLOSE_AFTER_S, "again")
    assert not remind_if_due(session, REDISCLOSE_AFTER_S + 60, "again")
    assert remind_if_due(session, 2 * REDISCLOSE_AFTER_S, "again")
    assert [n.text for n in session.notices] == ["first", "again", "again"]


def test_reminder_appears_in_the_chat_after_three_hours_of_use(handlers, clock):
    session = handlers.new_session()
    run(handlers.send(WORK, session))
    clock.now += 2 * 3600
    run(handlers.send("Still here.", session))
    assert sum(m["content"] == TEXTS["reminder"] for m in handlers.messages(session)) == 0
    clock.now += 3600
    final = run(handlers.send("And again.", session))[-1]
    contents = [m["content"] for m in final[1]]
    assert contents.count(TEXTS["reminder"]) == 1
    assert contents.index(TEXTS["reminder"]) == len(contents) - 3  # just before the new turn


# -- chat ----------------------------------------------------------------------------------------
def test_send_streams_a_growing_reply_then_announces_it(handlers, listener):
    listener.model.enqueue("That sounds exhausting. Work follows you into the night. What keeps you up?")
    session = handlers.new_session()
    outputs = run(handlers.send(WORK, session))
    assert outputs[0][0] == ""  # the box is emptied once, then left alone
    assert all(not isinstance(out[0], str) for out in outputs[1:])
    bubbles = [out[1][-1]["content"] for out in outputs[1:-1]]
    assert len(bubbles) >= 2 and all(len(a) < len(b) for a, b in itertools.pairwise(bubbles))
    assert TEXTS["reply_done"] in outputs[-1][4]
    assert session.conversation.turns[-1].kind == "listening"


def test_when_the_model_is_too_busy_the_message_goes_back_in_the_box(handlers, listener, monkeypatch):
    monkeypatch.setattr(listener, "max_waiting", 2)
    monkeypatch.setattr(listener.model, "load", lambda: (8, 2), raising=False)
    session = handlers.new_session()
    outputs = run(handlers.send(WORK, session))
    box, messages, _, _, status, _ = outputs[-1]
    assert box["value"] == WORK
    assert "Many people are talking with me right now" in messages[-1]["content"]
    assert "Many people are talking with me right now" in status
    assert session.conversation.turns == [] and messages[-2]["content"] == TEXTS["first_message"]


def test_stop_closes_the_model_stream_and_gives_the_message_back(handlers, listener):
    listener.model.enqueue("First sentence here. Second sentence here. Third one.")
    session = handlers.new_session()
    before = listener.model.closed_early
    gen = handlers.send(WORK, session)
    next(gen), next(gen)  # the user bubble, then the first streamed sentence
    gen.close()
    assert listener.model.closed_early == before + 1
    box, messages, *_ = handlers.stopped("", session)
    assert box["value"] == WORK
    assert session.conversation.turns == [] and messages[-1]["content"] == TEXTS["first_message"]


def test_stop_keeps_what_was_typed_since(handlers, listener):
    session = handlers.new_session()
    gen = handlers.send(WORK, session)
    next(gen)
    gen.close()
    box, *_ = handlers.stopped("And another thing.", session)
    assert box["value"] == f"{WORK}\n\nAnd another thing."


def test_stop_as_the_reply_finishes_keeps_no_turn(handlers, listener):
    session = handlers.new_session()
    gen = handlers.send(WORK, session)
    next(gen)  # the user bubble; the reply is being written
    session.stop.set()  # Stop pressed: the reply must not be kept even if it completes
    rest = list(gen)
    assert session.conversation.turns == []
    assert all(TEXTS["reply_done"] not in out[4] for out in rest)
    # the last output (which Gradio shows again when a stream ends) is the log without the reply
    assert TEXTS["reply_stopped"] in rest[-1][4] and rest[-1][1][-1]["content"] == TEXTS["first_message"]


def test_crisis_shows_a_help_panel_that_stays_for_the_session(handlers, listener):
    session = handlers.new_session("US")
    first = run(handlers.send(WORK, session))[-1]
    assert first[2]["visible"] is False
    calls = len(listener.model.calls)
    out = run(handlers.send(CRISIS, session))[-1]
    assert len(listener.model.calls) == calls  # the model never writes a crisis reply
    assert out[2]["visible"] is True and "911" in out[2]["value"]
    assert session.conversation.turns[-1].kind == "crisis"
    assert handlers.undo(session)[1]["visible"] is True
    assert handlers.delete(session)[1]["visible"] is True
    panel, _ = handlers.set_country("UK", session)
    assert panel["visible"] is True and "999" in panel["value"] and "911" not in panel["value"]
    assert session.conversation.country == "UK"


def test_get_help_opens_the_panel_without_a_crisis(handlers):
    session = handlers.new_session("FR")
    panel, _ = handlers.open_help(session)
    assert panel["visible"] is True and "3114" in panel["value"]


@pytest.mark.parametrize(
    "text, kind",
    [
        ("", "input_error"),
        ("\x00\x01\x02", "input_error"),
        ("word " * 2000, "input_error"),
    ],
)
def test_input_problems_come_back_as_engine_messages(handlers, listener, text, kind):
    session = handlers.new_session()
    calls = len(listener.model.calls)
    final = run(handlers.send(text, session))[-1]
    turn = session.conversation.turns[-1]
    assert turn.kind == kind and final[1][-1]["content"] == render.as_plain_text(turn.reply)
    assert len(listener.model.calls) == calls


def test_html_in_a_message_is_shown_as_text(handlers):
    session = handlers.new_session()
    final = run(handlers.send("<script>alert(1)</script> work is <b>hard</b>", session))[-1]
    user = final[1][-2]["content"]
    assert "<script>" not in user and "&lt;script&gt;" in user


def test_retry_sends_the_last_message_again_in_place(handlers, listener):
    listener.model.enqueue("First try.", "Second try.")
    session = handlers.new_session()
    run(handlers.send(WORK, session))
    final = run(handlers.retry(session))[-1]
    assert [t.reply for t in session.conversation.turns] == ["Second try."]
    assert listener.model.calls[-1][-1] == {"role": "user", "content": WORK}
    assert final[0][-1]["content"] == "Second try\\."


def test_undo_removes_the_last_turn(handlers):
    session = handlers.new_session()
    run(handlers.send(WORK, session))
    run(handlers.send("Another thing.", session))
    messages, *_ = handlers.undo(session)
    assert len(session.conversation.turns) == 1
    assert messages[-2]["content"] == render.as_plain_text(WORK)


def test_demo_mode_labels_replies_and_codes_a_practice_reply(handlers, listener):
    listener.model.enqueue("What would help you rest?")
    session = handlers.new_session()
    run(handlers.send(WORK, session))
    messages, column, miti, _ = handlers.set_demo(True, session)
    assert column["visible"] is True
    assert messages[-1]["content"].endswith("*Technique: Open question*")
    assert "Reflection : question" in miti
    result = handlers.practice("It sounds like you're worn out and worried about your job.", session)
    assert "Coded as <strong>" in result and "reflection" in result.lower()
    messages, column, *_ = handlers.set_demo(False, session)
    assert column["visible"] is False and "Technique:" not in messages[-1]["content"]


def test_practice_coding_depends_only_on_what_is_on_screen(handlers, listener):
    reply = "You should take a proper break this weekend."
    person = "I've been working every night and I'm exhausted."
    fresh = handlers.practice(reply, handlers.new_session(), person)
    listener.model.enqueue("What would help you rest?")
    busy = handlers.new_session()
    run(handlers.send(WORK, busy))  # a session with history codes the same inputs the same way
    assert handlers.practice(reply, busy, person) == fresh
    assert "Coded as <strong>Advice</strong>" in fresh and "only when asked" in fresh  # the one-line explanation
    assert "A reflective alternative" in fresh and "you&#x27;ve been working every night" in fresh.lower()
    assert "reflective alternative" not in handlers.practice(reply, busy)  # no person's line: nothing to reflect


def test_export_writes_only_on_request_and_delete_removes_it(handlers, tmp_path):
    session = handlers.new_session()
    run(handlers.send(WORK, session))
    assert list(tmp_path.iterdir()) == []  # nothing on disk from chatting
    files, _ = handlers.export(session)
    md, js = (Path(p) for p in files["value"])
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["turns"][0]["user"] == WORK and data["model"]["backend"] == "scripted"
    assert data["settings"]["pipeline"] is False and len(data["disclosures"]) == 1
    assert WORK in md.read_text(encoding="utf-8")
    out = handlers.delete(session)
    assert not md.exists() and not js.exists() and list(tmp_path.iterdir()) == []
    assert session.conversation.turns == [] and out[4]["visible"] is False


def test_delete_keeps_careful_mode(handlers):
    session = handlers.new_session()
    run(handlers.send(CRISIS, session))
    delete_session(session, 0.0, "first")
    assert session.conversation.careful_mode and session.show_help


# -- wiring --------------------------------------------------------------------------------------
def test_build_app_limits_generation_from_config(listener):
    import app
    from chatbot.config import load_config

    config = load_config(overrides=["app.concurrency_limit=2"])
    demo = app.build_app(listener, config)
    generating = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") in ("send", "retry")]
    assert len(generating) == 3
    assert {(f.concurrency_limit, f.concurrency_id) for f in generating} == {(2, "generation")}


def test_app_colours_meet_wcag_aa():
    from chatbot.webui.theme import COLORS, CONTRAST_PAIRS, contrast_ratio

    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") < 4.5  # a known failing grey
    for fg, bg in CONTRAST_PAIRS:
        assert contrast_ratio(COLORS[fg], COLORS[bg]) >= 4.5, (fg, bg)


def test_main_launches_on_the_configured_host_and_port(listener, monkeypatch):
    import gradio as gr

    import app
    import chatbot.factory

    launched = {}
    monkeypatch.setattr(chatbot.factory, "build_listener", lambda config: listener)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.update(kw))
    assert app.main(["--set", "app.port=7999", "--set", "app.concurrency_limit=1"]) == 0
    assert launched["server_name"] == "127.0.0.1" and launched["server_port"] == 7999
    assert launched["run_history"] is False and launched["ssr_mode"] is False
    assert "help-panel" in launched["css"] and launched["theme"] is not None


def test_main_reports_a_bad_config(capsys):
    import app

    assert app.main(["--set", "app.port=not-a-number"]) == 2
    assert "app.port" in capsys.readouterr().err


def test_importing_the_app_loads_no_model_libraries():
    import subprocess
    import sys

    code = (
        "import sys, app; heavy = [m for m in ('torch', 'transformers', "
        "'sentence_transformers') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]
    )
    assert out.stdout.strip() == "[]"


def test_a_lone_surrogate_from_the_browser_is_answered_and_serialisable(handlers):
    import orjson

    session = handlers.new_session()
    outputs = run(handlers.send("I feel \ud83d today", session))
    assert outputs  # no exception on the way
    orjson.dumps(handlers.messages(session))  # what Gradio sends back to the page
