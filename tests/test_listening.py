"""Reflect-first pipeline with the scripted fake model: choice, checks, fallback, determinism."""

from __future__ import annotations

import itertools

import pytest

from chatbot.coder import TechniqueCoder
from chatbot.config import default_settings
from chatbot.listening import ReflectFirstPipeline, echo, is_repeat, plan_move
from safety import ReplyCheck
from tests.conftest import ScriptedModel

SETTINGS = default_settings(max_new_tokens=60, seed=7)
USER = "I've been feeling really overwhelmed at work and I can't sleep."


@pytest.fixture(scope="module")
def coder() -> TechniqueCoder:
    return TechniqueCoder.load()


def exchange(user: str, reply: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]


def test_picks_the_candidate_that_passes_checks(coder):
    model = ScriptedModel(
        [
            "You should talk to your boss and try meditation.",
            "It sounds like work is following you into the night, and you're running on empty.",
            "What do you do for work? How long has this been going on?",
        ]
    )
    planned = ReflectFirstPipeline(model, coder, candidates=3).reply([], USER, SETTINGS)
    assert planned.move == "reflect"
    assert not planned.fallback
    assert planned.text == "It sounds like work is following you into the night, and you're running on empty."
    assert planned.code.code == "reflection"
    passed = [c["passed"] for c in planned.candidates]
    assert passed[0] is False and passed[1] is True
    assert planned.candidates[0]["checks"]["no_advice"] is False or not planned.candidates[0]["text"]


def test_a_candidate_that_invents_what_the_person_never_said_is_not_sent(coder):
    invented = "Your manager is trying to do too much, but they don't know how to manage themselves."
    model = ScriptedModel([invented] * 3)
    planned = ReflectFirstPipeline(model, coder, candidates=3).reply([], USER, SETTINGS)
    assert planned.fallback and planned.text != invented
    assert all(c["checks"]["grounded"] is False for c in planned.candidates)
    # the same idea in the person's own words and feeling words is grounded
    from chatbot.listening import novelty

    assert novelty(invented, USER) > 0.6
    assert novelty("It sounds like work has you overwhelmed and tired.", USER) <= 0.6


def test_seeds_are_derived_from_settings_seed(coder):
    model = ScriptedModel(["Sure.", "Okay.", "Hmm."])
    seen = []
    original = model.stream

    def spy(messages, settings):
        seen.append(settings.seed)
        return original(messages, settings)

    model.stream = spy
    ReflectFirstPipeline(model, coder, candidates=3).reply([], USER, SETTINGS)
    assert len(set(seen)) == 3 and all(s is not None for s in seen)


def test_falls_back_deterministically_when_nothing_passes(coder):
    bad = ["You should quit.", "Don't worry, it'll get better.", "As a mother myself I feel sad too."]
    a = ReflectFirstPipeline(ScriptedModel(bad), coder).reply([], USER, SETTINGS)
    b = ReflectFirstPipeline(ScriptedModel(bad), coder).reply([], USER, SETTINGS)
    assert a.fallback and b.fallback
    assert a.text == b.text
    assert "overwhelmed at work" in a.text and "you" in a.text.lower().split()
    assert "I've" not in a.text and " I " not in f" {a.text} "
    assert a.code.code == "reflection"


def test_fallback_question_move_has_exactly_one_open_question(coder):
    history = exchange("My mum calls me every day.", "It sounds like those calls are a lot.")
    history += exchange("She checks if I've eaten.", "You feel checked on.")
    pipeline = ReflectFirstPipeline(ScriptedModel(["You should tell her to stop."] * 3), coder)
    assert pipeline.plan_move(history, "I'm 28, I live on my own.") == "question"
    planned = pipeline.reply(history, "I'm 28, I live on my own.", SETTINGS)
    assert planned.fallback
    assert planned.text.count("?") == 1
    parts = coder.code_all(planned.text, "I'm 28, I live on my own.")
    assert [p.subtype for p in parts if p.code == "question"] == ["open"]


def test_trims_to_one_question_and_drops_advice_after_a_reflection(coder):
    pipeline = ReflectFirstPipeline(ScriptedModel(), coder)
    text, trimmed = pipeline.trim("It sounds like you feel stuck. What is that like? Is it every day? You should rest.")
    assert trimmed and text == "It sounds like you feel stuck. What is that like?"
    text, _ = pipeline.trim("It sounds like a heavy week. You should take a bath.")
    assert text == "It sounds like a heavy week."


def test_rejects_a_repeat_of_an_earlier_reply(coder):
    earlier = "It sounds like work is following you into the night, and you're running on empty."
    history = exchange("Work is a lot.", earlier)
    model = ScriptedModel([earlier, earlier, earlier])
    planned = ReflectFirstPipeline(model, coder).reply(history, USER, SETTINGS)
    assert planned.text != earlier
    assert all(c["checks"]["not_repeat"] is False for c in planned.candidates)
    assert planned.fallback


def test_output_rail_drops_unsafe_candidates(coder):
    good = "It sounds like work is following you into the night, and you're running on empty."
    refuse = ReplyCheck(ok=False, reason="method_detail")
    pipeline = ReflectFirstPipeline(ScriptedModel([good] * 3), coder, reply_check=lambda text: refuse)
    planned = pipeline.reply([], USER, SETTINGS)
    assert planned.fallback and all(c["checks"]["safe"] is False for c in planned.candidates)
    assert planned.check is refuse  # the fallback's own verdict, handed to the engine to act on


def test_rejects_claims_of_being_human_or_having_feelings(coder):
    pipeline = ReflectFirstPipeline(
        ScriptedModel(
            [
                "When I was your age my dad did the same thing.",
                "I feel sad too when work gets like that.",
                "It sounds like work is following you into the night.",
            ]
        ),
        coder,
    )
    planned = pipeline.reply([], USER, SETTINGS)
    assert planned.text == "It sounds like work is following you into the night."


def test_plan_move_schedule():
    history: list[dict] = []
    moves = []
    for i in range(8):
        moves.append(plan_move(history, f"Statement number {i} about my week."))
        history += exchange(f"Statement number {i} about my week.", "Reply.")
    assert moves[3] == "summarize" and moves[7] == "summarize"
    assert moves.count("question") >= 1
    assert all(a != "question" or b != "question" for a, b in itertools.pairwise(moves))
    assert moves.count("reflect") >= 2 * moves.count("question")
    assert plan_move([], "Can you sum up what I've said?") == "summarize"
    assert plan_move(exchange("a", "b"), "I finally told my boss I need help.") == "affirm"


def test_echo_turns_first_person_into_second():
    text, hard = echo("I guess I'm scared my sister won't call me back.")
    assert text == "you're scared your sister won't call you back" and hard


def test_echo_never_ends_on_half_a_clause():
    # "so" here is "so tired", not a clause break; cutting before it left "... and you're"
    text, _ = echo("We had a baby three months ago and I'm so tired.", max_words=10)
    assert text == "you had a baby three months ago"
    # found in the second audit (runs at 4a91ac8): "... a phase or," and "... if you say not yet,"
    text, _ = echo("I don't know if it's a phase or if it means something.", max_words=10)
    assert not text.endswith((" or", " if"))
    text, _ = echo("I'm scared that if I say not yet, she'll think I don't care.", max_words=10)
    assert text.endswith("she'll think you don't care")


@pytest.mark.parametrize(
    "said, meaning",
    [
        # found wrong in the hand audit of pipeline replies (evals/data/coder/bot_replies_handcoded.jsonl)
        ("But I've lived alone for six years and I like my own space.", None),
        ("I spent every summer there as a kid.", None),
        ("I have three exams next week and I haven't started revising.", None),
        ("My friends from uni all moved away after we graduated.", None),
        # still given where they fit
        ("I spent the whole weekend on it.", "and all that effort deserves to count for something"),
        (
            "I moved to a new city for work and I don't have any friends here yet.",
            "and you'd like to feel less on your own",
        ),
        ("I love him, but I'm not ready to move in.", "and you're holding two things at once"),
    ],
)
def test_meanings_are_added_only_where_they_fit(said, meaning):
    from chatbot.coder.reply_rules import meaning_for

    assert meaning_for(said) == meaning


def test_is_repeat_ignores_case_and_small_changes():
    assert is_repeat("It sounds like a hard week.", ["it sounds like a  hard week."])
    assert not is_repeat("It sounds like a hard week.", ["Your sister never asks about you."])


def test_model_errors_propagate(coder):
    from chatbot.models import ModelError

    class Broken(ScriptedModel):
        def stream(self, messages, settings):
            raise ModelError("boom")

    with pytest.raises(ModelError):
        ReflectFirstPipeline(Broken(), coder).reply([], USER, SETTINGS)


def test_prompts_come_from_yaml_with_examples(coder):
    model = ScriptedModel(["It sounds like a lot at once."])
    ReflectFirstPipeline(model, coder, candidates=1).reply([], USER, SETTINGS)
    messages = model.calls[0]
    assert messages[0]["role"] == "system" and "reflect" in messages[0]["content"].lower()
    assert messages[-1] == {"role": "user", "content": USER}
    assert len(messages) > 3  # few-shot examples sit between the system prompt and the user line


def test_rejects_replies_that_are_not_about_the_person(coder):
    pipeline = ReflectFirstPipeline(
        ScriptedModel(
            [
                "That's nice. The life of the party is not the topic, and it has nothing to do with me.",
                "How sweet! They should be proud of you.",
                "The same thing goes for people everywhere.",
            ]
        ),
        coder,
    )
    planned = pipeline.reply([], USER, SETTINGS)
    assert planned.fallback
    assert planned.candidates[2]["checks"]["addresses_person"] is False


# -- questions, requests and short replies: answered, not echoed -------------------------------


@pytest.mark.parametrize(
    "said, kind, statements",
    [
        ("What should I do?", "asks_advice", ""),
        ("Can you give me some advice?", "asks_advice", ""),
        ("Should I quit my job?", "asks_advice", ""),
        ("What should I do? My boss keeps yelling at me.", "asks_advice", "My boss keeps yelling at me."),
        ("Are you a real person?", "about_bot", ""),
        ("am i talking to a bot", "about_bot", ""),
        ("Can we talk about something else?", "change_topic", ""),
        ("bye", "goodbye", ""),
        ("Thank you, that helps.", "thanks", ""),
        ("hi", "greeting", ""),
        ("what do you mean?", "clarify", ""),
        ("ok", "minimal", ""),
        ("lol", "minimal", ""),
        ("Why does this always happen to me?", "question", ""),
        # something to reflect as well: a soft kind steps aside for it
        ("Thanks. My dad died last month.", None, "My dad died last month."),
        ("hi, I've been feeling really low lately", None, "hi, I've been feeling really low lately"),
        ("Is it me? Everyone else seems fine.", None, "Everyone else seems fine."),
        # statements stay statements
        ("I don't know", None, "I don't know"),
        ("My boss yelled at me today", None, "My boss yelled at me today"),
        ("I keep asking myself what I should do.", None, "I keep asking myself what I should do."),
        ("Thanks for listening, that really helps!", "thanks", ""),
        ("ok bye", "goodbye", ""),
        ("thanks, bye", "goodbye", ""),
        ("you're just repeating what I say", "feedback", ""),
        ("You don't understand how hard it is.", "feedback", ""),
        ("can you help me?", "asks_help", ""),
        ("Can I ask you something?", "may_ask", ""),
        ("you're a good listener", "thanks", ""),
        ("not much", "minimal", ""),
    ],
)
def test_read_message_tells_what_to_answer_from_what_to_reflect(said, kind, statements):
    from chatbot.listening import read_message

    found, rest = read_message(said)
    assert (found.kind if found else None) == kind
    assert rest == statements


@pytest.mark.parametrize(
    "said",
    [
        "I don't understand half of what the lecturers expect.",
        "What are you supposed to do when your own mum ignores you",
        "I have to go to the hospital tomorrow and I'm scared.",
        "Thanks to my boss, I'm working late again.",
        "I don't want advice, I just want to vent.",
        "My mum always tries to tell me what to do.",
        "Sorry I keep going on about this.",
        "No one at work even notices me.",
        "Hey so my girlfriend left me last week.",
        "Nothing I do is ever enough for him.",
        "You know when you just feel flat for no reason.",
    ],
)
def test_statements_that_look_like_questions_or_fillers_are_still_reflected(said):
    from chatbot.listening import read_message

    kind, statements = read_message(said)
    assert kind is None and statements


@pytest.mark.parametrize(
    "said",
    [
        "What should I do?",
        "Are you a real person?",
        "ok",
        "thanks",
        "bye",
        "hi",
        "hmm",
        "Why does this always happen to me?",
        "Can we talk about something else?",
        "what do you mean?",
        "you're just repeating what I say",
        "can you help me?",
        "Can I ask you something?",
        "nothing",
    ],
)
def test_questions_and_short_replies_get_a_fixed_answer_without_the_model(coder, said):
    from chatbot.listening import RESPOND
    from tests.conftest import ExplodingModel

    planned = ReflectFirstPipeline(ExplodingModel(), coder).reply([], said, SETTINGS)
    assert planned.move == RESPOND and planned.fallback and planned.tokens == 0
    lowered = planned.text.lower()
    # never the echo of a question or a filler word ("It sounds like what should you do.")
    assert not lowered.startswith(("it sounds like what", "so ok", "it sounds like thanks", "so are you"))
    if said != "bye":
        assert "?" in planned.text  # every answer but a goodbye hands the turn back with a question...
    assert planned.code.code != "advice"  # ...and gives no advice, even when asked for it


def test_an_advice_request_with_a_story_reflects_the_story_first(coder):
    from tests.conftest import ExplodingModel

    said = "What should I do? My boss keeps yelling at me and I can't sleep."
    planned = ReflectFirstPipeline(ExplodingModel(), coder).reply([], said, SETTINGS)
    assert "your boss keeps yelling at you" in planned.text
    assert planned.text.index("your boss") < planned.text.index("?")
    assert planned.text.count("?") == 1


def test_being_asked_if_it_is_human_it_says_it_is_an_ai(coder):
    from tests.conftest import ExplodingModel

    pipeline = ReflectFirstPipeline(ExplodingModel(), coder)
    for seed in range(4):  # every variant
        text = pipeline.reply([], "are you a real person??", SETTINGS.with_(seed=seed)).text
        assert "AI" in text and "not a person" in text


def test_fixed_answers_pass_the_output_rail():
    from chatbot.prompts import load_prompt
    from safety import SafetyScreen

    screen = SafetyScreen(semantic=False)
    for name, text in load_prompt("respond").messages.items():
        reply = text.format(reflection="It sounds like your boss keeps yelling at you.")
        check = screen.check_reply(reply, "Are you a real person? What should I do?")
        assert check.ok, (name, check)


def test_the_same_short_reply_twice_gets_a_different_answer(coder):
    from tests.conftest import ExplodingModel

    pipeline = ReflectFirstPipeline(ExplodingModel(), coder)
    first = pipeline.reply([], "ok", SETTINGS).text
    second = pipeline.reply(exchange("ok", first), "ok", SETTINGS).text
    assert second != first


def test_summaries_gather_statements_not_questions_or_fillers(coder):
    model = ScriptedModel(["Sure."] * 6)
    history = (
        exchange("My sister never calls me back.", "It sounds like that hurts.")
        + exchange("ok", "Take your time.")
        + exchange("Why does she do that?", "What do you make of it?")
    )
    planned = ReflectFirstPipeline(model, coder).reply(history, "I miss how close we were.", SETTINGS)
    assert planned.move == "summarize" and planned.fallback
    assert "your sister never calls you back" in planned.text
    assert "ok" not in planned.text.lower().split() and "why" not in planned.text.lower()


def test_a_kind_without_texts_is_an_error_at_load(coder, monkeypatch):
    import dataclasses
    import re

    from chatbot.coder.reply_rules import DirectKind, load_reply_rules

    rules = load_reply_rules()
    broken = dataclasses.replace(rules, direct=(*rules.direct, DirectKind("sing_a_song", re.compile("sing"))))
    monkeypatch.setattr("chatbot.listening.load_reply_rules", lambda: broken)
    with pytest.raises(ValueError, match="sing_a_song"):
        ReflectFirstPipeline(ScriptedModel(), coder)


@pytest.mark.parametrize(
    "said, echoed",
    [
        ("idk where to start", "you don't know where to start"),
        ("im so tired of this", "you're so tired of this"),
        ("I dunno what to think", "you don't know what to think"),
        ("hi, I've been feeling really low lately", "you've been feeling really low lately"),
        ("lol it's fine I guess", "it's fine"),
        ("Work is fine I suppose, it keeps me busy.", "work is fine, it keeps you busy"),
        ("I want us to be a team about it.", "you want the two of you to be a team about it"),
    ],
)
def test_echo_reads_chat_shorthand(said, echoed):
    assert echo(said)[0] == echoed


# -- with the trained listening adapter ---------------------------------------------------


def trained_pipeline(model, coder, candidates=3):
    return ReflectFirstPipeline(model, coder, candidates=candidates, trained=True)


def test_a_trained_model_is_prompted_as_it_was_trained_and_asked_once(coder):
    from chatbot.train.prompting import adapter_messages

    reply = "Work is following you home and into the night, and you're running on empty."
    model = ScriptedModel([reply, "never asked"])
    planned = trained_pipeline(model, coder).reply([], USER, SETTINGS)
    assert planned.text == reply and not planned.fallback
    assert len(model.calls) == 1  # one candidate when the first passes
    assert model.calls[0] == adapter_messages("reflect", [], USER)  # no few-shot examples
    assert planned.segments and planned.technique()["segments"]  # coded once, kept for the engine


def test_a_trained_model_sees_only_the_window_its_adapter_was_trained_with(coder, tmp_path):
    import dataclasses

    from chatbot.train.prompting import ContextWindow, adapter_messages, write_window

    write_window(tmp_path, ContextWindow(exchanges=0))
    model = ScriptedModel(["Work is following you home, and you're running on empty."])
    model.identity = dataclasses.replace(model.identity, extra={"adapter": "x", "adapter_path": str(tmp_path)})
    history = [{"role": "user", "content": "My boss left."}, {"role": "assistant", "content": "Your boss left."}]
    trained_pipeline(model, coder).reply(history, USER, SETTINGS)
    assert model.calls[0] == adapter_messages("reflect", [], USER)  # the earlier exchange is not shown


def test_a_trained_model_answers_first_with_its_most_likely_reply_and_no_penalty_on_the_persons_words(coder):
    class SettingsModel(SeededModel):
        def stream(self, messages, settings):
            seen.append(settings)
            yield "Hmm."

    seen: list = []
    trained_pipeline(SettingsModel(["Hmm."], slots=1), coder).reply([], USER, SETTINGS)
    assert [(s.do_sample, s.repetition_penalty) for s in seen] == [(False, 1.0), (True, 1.0), (True, 1.0)]
    seen.clear()
    ReflectFirstPipeline(SettingsModel(["Hmm."], slots=1), coder).reply([], USER, SETTINGS)
    assert [s.repetition_penalty for s in seen] == [SETTINGS.repetition_penalty] * 3


def test_the_adapter_is_found_from_the_model_identity(coder):
    from dataclasses import replace

    model = ScriptedModel()
    assert not ReflectFirstPipeline(model, coder).trained
    model.identity = replace(model.identity, extra={"adapter": "listening"})
    assert ReflectFirstPipeline(model, coder).trained


def test_a_trained_reply_that_fails_a_check_is_retried_then_replaced(coder):
    advice = "You should talk to your boss and try meditation."
    model = ScriptedModel([advice, "It sounds like a lot, and you're exhausted by it."])
    planned = trained_pipeline(model, coder).reply([], USER, SETTINGS)
    assert len(model.calls) == 2 and not planned.fallback
    assert "should" not in planned.text
    model = ScriptedModel([advice] * 3)
    planned = trained_pipeline(model, coder).reply([], USER, SETTINGS)
    assert len(model.calls) == 3 and planned.fallback and "should" not in planned.text


@pytest.mark.parametrize("said", ["hi", "are you a real person?", "What should I do?", "thanks"])
def test_respond_turns_keep_their_reviewed_fixed_texts_with_the_adapter(coder, said):
    model = ScriptedModel(["You should quit and move on."])
    planned = trained_pipeline(model, coder).reply([], said, SETTINGS)
    assert model.calls == [] and planned.move == "respond" and planned.fallback
    assert planned.text == ReflectFirstPipeline(ScriptedModel(), coder).reply([], said, SETTINGS).text


def test_reply_rules_use_general_wording():
    from chatbot.coder.reply_rules import load_reply_rules, meaning_for

    rules = load_reply_rules()
    assert rules.any("dismissive", "Well, that's only a game.")
    assert rules.any("dismissive", "It's just a phase.")
    assert not rules.any("dismissive", "It sounds like it's just hard right now.")
    assert meaning_for("I keep waking at 2am.") == "and it's following you into the night"
    assert rules.any("effort_cues", "I really want to make things work with her.")


class SeededModel:
    """Each candidate's text is picked by its seed, so the reply does not depend on call order."""

    def __init__(self, texts: list[str], slots: int) -> None:
        from chatbot.models import ModelIdentity

        self.identity = ModelIdentity(backend="scripted", name="seeded")
        self.texts = texts
        self.slots = slots
        self.calls = 0

    def stream(self, messages, settings):
        self.calls += 1
        words = self.texts[settings.seed % len(self.texts)].split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word

    def count_tokens(self, messages) -> int:
        return 100


@pytest.mark.parametrize(
    "texts",
    [
        ["You should try meditation.", "It sounds like work follows you into the night.", "Hmm."],
        ["Hmm.", "You should quit.", "Ok."],  # nothing passes: the fallback
    ],
    ids=["one-passes", "none-pass"],
)
def test_candidates_sampled_at_once_choose_what_sampling_one_by_one_chooses(coder, texts):
    # the seeds of candidates 0, 1, 2 are 7*1009 + i: shift the texts so candidate i gets texts[i]
    shifted = [texts[(k - 7 * 1009) % 3] for k in range(3)]
    one_by_one = ReflectFirstPipeline(SeededModel(shifted, slots=1), coder, candidates=3).reply([], USER, SETTINGS)
    batched_model = SeededModel(shifted, slots=4)
    at_once = ReflectFirstPipeline(batched_model, coder, candidates=3).reply([], USER, SETTINGS)
    assert batched_model.calls == 3
    assert (at_once.text, at_once.fallback, at_once.candidates) == (
        one_by_one.text,
        one_by_one.fallback,
        one_by_one.candidates,
    )


@pytest.mark.parametrize(
    ("slots", "load", "calls"),
    [
        (4, (0, 0), 3),  # room for every candidate
        (4, (2, 0), 1),  # two replies running: three more would not fit
        (12, (3, 1), 3),
        (12, (8, 2), 1),
        (1, (0, 0), 3),  # one slot, nobody else: candidates one after another
        (1, (1, 0), 1),  # one slot, someone waiting on it
    ],
)
def test_candidates_shrink_to_one_when_others_would_wait(coder, slots, load, calls):
    model = SeededModel(["Hmm."], slots=slots)  # never passes, so every planned candidate is sampled
    model.load = lambda: load  # type: ignore[attr-defined]
    reply = ReflectFirstPipeline(model, coder, candidates=3).reply([], USER, SETTINGS)
    assert model.calls == calls
    assert reply.fallback


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (
            "Six years of this, and you're done being polite. You're done being polite.",
            "Six years of this, and you're done being polite.",
        ),
        (
            "You're used to it, and you cancelled on your mates again. You're used to it, and you're using it again.",
            "You're used to it, and you cancelled on your mates again.",
        ),
        (  # a question may take up the reflection's words: that is the question move
            "The new job's fine, and you still feel like a fraud. What makes you feel like a fraud?",
            "The new job's fine, and you still feel like a fraud. What makes you feel like a fraud?",
        ),
        ("You stood outside ten minutes before you went in. You went in.", None),  # short emphasis stays
    ],
)
def test_trim_ends_a_reply_that_starts_saying_itself_again(coder, raw, kept):
    text, _ = ReflectFirstPipeline(ScriptedModel(), coder).trim(raw)
    assert text == (kept or raw)


def test_a_reply_going_round_in_a_loop_fails():
    from chatbot.listening import repeats_itself

    assert repeats_itself("you're just here doing your homework like, and you're just here doing your homework like")
    assert not repeats_itself("Part of you wants to go, and part of you wants to stay home.")


def test_a_trained_model_is_asked_for_more_candidates_only_when_the_first_fails(coder):
    reply = "Work is following you home, and you're running on empty."
    model = SeededModel([reply], slots=4)
    model.load = lambda: (0, 0)  # type: ignore[attr-defined]
    planned = trained_pipeline(model, coder).reply([], USER, SETTINGS)
    assert model.calls == 1 and planned.text == reply and not planned.fallback
