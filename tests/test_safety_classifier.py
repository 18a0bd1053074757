"""The fine-tuned crisis classifier: routing rule, training round trip, and its place in the screen."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from safety.classifier import CrisisClassifier, RouteThresholds, _simulate, model_available
from safety.risk import ConversationRisk

THRESHOLDS = RouteThresholds(single=0.7, careful=0.4, raised=0.9, window=1.5, window_floor=0.3)


def _probe(t: RouteThresholds = THRESHOLDS) -> CrisisClassifier:
    probe = CrisisClassifier.__new__(CrisisClassifier)
    probe.route = t
    return probe


@pytest.mark.parametrize(
    ("probability", "earlier", "careful", "raised", "expected"),
    [
        (0.71, [], False, False, "single"),
        (0.69, [], False, False, None),
        (0.5, [], True, False, "single"),  # careful mode lowers the bar
        (0.8, [], False, True, None),  # negation, fiction or the past raise it
        (0.95, [], False, True, "single"),
        (0.6, [0.5, 0.45], False, False, "window"),  # a build-up over three turns
        (0.25, [0.65, 0.65], False, False, None),  # this turn adds too little to count
        (0.6, [0.5, 0.45], False, True, None),  # no window over a raised bar
    ],
)
def test_routing_rule(probability, earlier, careful, raised, expected):
    assert _probe().routes(probability, earlier, careful, raised) == expected


def test_simulation_routes_the_first_turn_the_rule_allows():
    observed = [(False, 0.5, False, False), (False, 0.5, False, False), (False, 0.6, False, False)]
    observed.append((True, None, False, False))
    assert _simulate(observed, THRESHOLDS) == 2  # the window 0.5 + 0.5 + 0.6 reaches 1.5 at turn 2
    assert _simulate(observed, RouteThresholds(0.7, 0.4, 0.9, 99.0, 0.3)) == 3  # then the rules
    assert _simulate([(False, 0.1, False, False)] * 4, THRESHOLDS) is None
    # the nearest examples count only from the floor up
    examples = [(False, 0.15, False, True), (False, 0.35, False, True)]
    assert _simulate(examples, RouteThresholds(0.7, 0.4, 0.9, 99.0, 0.3, examples_floor=0.3)) == 1


def test_risk_keeps_only_the_recent_scores_and_no_text():
    from safety.types import Assessment

    risk = ConversationRisk()
    for p in (0.1, 0.2, 0.3, 0.4):
        risk.update(Assessment(False, None, 0, "self", (), learned_score=p))
    assert risk.learned_scores == [0.2, 0.3, 0.4]
    assert risk.learned_window() == pytest.approx(0.9)


def test_a_routed_turn_starts_the_window_afresh_but_stays_careful():
    from safety.types import Assessment

    risk = ConversationRisk()
    risk.update(Assessment(False, None, 0, "self", (), learned_score=0.5))
    risk.update(Assessment(True, "suicide", 2, "self", (), learned_score=0.6))
    assert risk.learned_scores == [] and risk.careful_mode
    risk.update(Assessment(False, None, 0, "self", (), learned_score=0.3))
    assert risk.learned_window() == pytest.approx(0.3)  # the answered build-up does not count again
    assert risk.careful_mode


@pytest.mark.slow
@pytest.mark.parametrize("rank", [0, 4])
def test_a_short_training_run_saves_and_loads_the_same_model(tmp_path: Path, rank: int):
    from safety.classifier import train
    from safety.encoder import TrainSettings

    meta = train(tmp_path, TrainSettings(epochs=1, rank=rank, batch_size=8), limit=24, progress=False)
    assert meta["trained_on"] == 24 and set(meta["thresholds"]) >= {"suicide", "abuse"}
    stored = sum(f.stat().st_size for f in tmp_path.iterdir())
    assert stored <= 25_000_000  # only what changed is stored
    first = CrisisClassifier.load(tmp_path).scores(["I want to end my life", "lunch was nice"])
    again = CrisisClassifier.load(tmp_path).scores(["I want to end my life", "lunch was nice"])
    assert first == again  # deterministic after load


shipped = pytest.mark.skipif(not model_available(), reason="no classifier model ships in safety/models/crisis")


@pytest.fixture(scope="module")
def learned_screen():
    from safety import SafetyScreen

    return SafetyScreen(classifier=True)


@shipped
@pytest.mark.parametrize(
    "text",
    [
        "tonight I end it",
        "I've decided tonight is when I end it",
        "I've been cutting again to cope",
    ],
)
def test_rewordings_of_a_plan_or_self_harm_are_routed(learned_screen, text):
    assert learned_screen.assess_message(text).route


@shipped
@pytest.mark.parametrize(
    "text",
    [
        "I'm scared of how my parents will react when I come out",
        "my friend stopped replying to my messages and I don't know why",
        "I'm so tired from caring for mum, I just sat in the car for ten minutes before going in",
    ],
)
def test_ordinary_sad_sentences_are_not_routed(learned_screen, text):
    a = learned_screen.assess_message(text)
    assert not a.route and a.learned_score is not None


@shipped
def test_cutting_again_routes_mid_conversation(learned_screen):
    risk = ConversationRisk()
    turns = ["hi", "work is stressful", "I've been cutting again to cope"]
    routed = [learned_screen.assess_message(t, risk=risk).route for t in turns]
    assert routed == [False, False, True]


@shipped
def test_screening_with_the_classifier_is_fast(learned_screen):
    learned_screen.warm_up()
    times = []
    for i in range(30):
        start = time.perf_counter()
        learned_screen.assess_message(f"had a long day at work, number {i} of this week")
        times.append(time.perf_counter() - start)
    assert sorted(times)[len(times) // 2] < 0.25  # median, generous for a loaded 2-core machine


@shipped
def test_a_failing_classifier_fails_closed(monkeypatch):
    from safety import SafetyScreen

    screen = SafetyScreen(classifier=True)

    class Broken:
        route = THRESHOLDS

        def scores(self, texts):
            raise RuntimeError("boom")

    screen._classifier = Broken()  # type: ignore[assignment]
    a = screen.assess_message("an ordinary sentence about my day")
    assert a.route and a.error == "RuntimeError"


def test_training_batches_cover_every_example_once_and_by_length_group_similar_lengths():
    import random

    from safety.encoder import _batches

    windows = [[0] * n for n in (5, 40, 6, 38, 7, 39, 5, 41)]
    for by_length in (False, True):
        batches = _batches(windows, 2, by_length, random.Random(0))
        assert sorted(i for b in batches for i in b) == list(range(len(windows)))
    spreads = [max(len(windows[i]) for i in b) - min(len(windows[i]) for i in b) for b in batches]
    assert max(spreads) <= 2  # short with short, long with long: little padding


def test_ranking_reads_separation_before_any_threshold():
    from safety.classifier import ranking

    perfect = ranking([0.9, 0.8, 0.2, 0.1], [True, True, False, False])
    assert perfect["auc"] == 1.0 and perfect["recall_at_false_alarms"]["0.05"] == 1.0
    reversed_ = ranking([0.1, 0.2, 0.8, 0.9], [True, True, False, False])
    assert reversed_["auc"] == 0.0 and reversed_["recall_at_false_alarms"]["0.1"] == 0.0
