"""Routing thresholds for the whole screen, chosen by running it on the safety corpus.

    python -m safety.calibration [--model safety/models/crisis]

The screen runs with the classifier observing (every learned layer says what it would do, none
routes); the thresholds that keep validation recall highest within the false-alarm limits below
are written into the classifier's classifier.json. Sits above the screen and the classifier: neither
imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .classifier import (
    CLASSIFIER_FILE,
    CrisisClassifier,
    Observation,
    RouteThresholds,
    _simulate,
    _turn_routes,
    model_dir,
)
from .corpus import load_conversations, load_messages
from .risk import ConversationRisk
from .screen import SafetyScreen

FALSE_ALARM_MAX = 0.04  # screen false alarms on validation non-crisis messages, rules included
ORDINARY_MAX = 0.01  # ... on ordinary talk (LabelledMessage.ordinary)
# Finer near the top, where a well-trained classifier's crisis and calm scores part.
_GRID = [round(0.05 * k, 2) for k in range(2, 16)] + [round(0.01 * k, 2) for k in range(80, 100)]
_FLOORS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 1.01)  # 1.01: the nearest examples never route


def _observe(screen, turns: list[str]) -> list[Observation]:
    risk, out = ConversationRisk(), []
    for turn in turns:
        a = screen.assess_message(turn, risk=risk)
        out.append((a.route, a.learned_score, "bar:raised" in a.evidence, "examples:would_route" in a.evidence))
    return out


def calibrate(classifier: CrisisClassifier) -> tuple[RouteThresholds, dict]:
    """Thresholds for the whole screen, chosen on validation messages (recall first within the
    false-alarm limits) and on the train+validation conversations (build-ups by their turn)."""
    screen = SafetyScreen(classifier=True)
    screen._classifier = classifier
    screen.observing = True
    messages = load_messages("validation")
    seen = [(m, _observe(screen, [m.text])[0]) for m in messages]
    conversations = load_conversations("train") + load_conversations("validation")
    watched = [(c, _observe(screen, list(c.turns))) for c in conversations]

    best: tuple | None = None
    for single in _GRID:
        for raised in (g for g in _GRID if g >= single):
            for floor in _FLOORS:
                t = RouteThresholds(single, single, raised, 99.0, 2.0, floor)
                routed = [(m, _turn_routes(o, t, [], careful=False)) for m, o in seen]
                crisis = [r for m, r in routed if m.crisis]
                calm = [r for m, r in routed if not m.crisis]
                ordinary = [r for m, r in routed if m.ordinary]
                fa, ord_fa = sum(calm) / len(calm), sum(ordinary) / max(1, len(ordinary))
                if fa > FALSE_ALARM_MAX or ord_fa > ORDINARY_MAX:
                    continue
                key = (sum(crisis) / len(crisis), single, raised, floor)
                if best is None or key > best[0]:
                    best = (key, {"recall": key[0], "false_alarms": fa, "ordinary_false_alarms": ord_fa})
    if best is None:
        raise ValueError("no threshold keeps validation false alarms within the limits")
    (_, single, raised, floor), message_figures = best

    def conversation_score(t: RouteThresholds) -> tuple[int, int]:
        on_time = calm_routes = 0
        for c, obs in watched:
            first = _simulate(obs, t)
            if c.act_turn is None:
                calm_routes += first is not None
            else:
                on_time += first is not None and first <= c.act_turn
        return on_time, calm_routes

    chosen = RouteThresholds(single, single, raised, 99.0, 2.0, floor)
    baseline = chosen_score = conversation_score(chosen)
    for careful in (g for g in _GRID if g <= single):
        for window in (1.0, 1.2, 1.4, 1.6, 1.8, 2.0):
            for window_floor in (0.2, 0.3, 0.4):
                t = RouteThresholds(single, careful, raised, window, window_floor, floor)
                on_time, calm_routes = conversation_score(t)
                # never more false alarms in calm conversations than the message thresholds alone
                better = (on_time, careful, window) > (chosen_score[0], chosen.careful, chosen.window)
                if calm_routes <= baseline[1] and better:
                    chosen, chosen_score = t, (on_time, calm_routes)
    figures = {
        "validation_messages": {k: round(v, 4) for k, v in message_figures.items()},
        "conversations_routed_on_time": chosen_score[0],
        "conversations_with_crisis": sum(c.act_turn is not None for c, _ in watched),
        "calm_conversations_routed": chosen_score[1],
        "calm_conversations": sum(c.act_turn is None for c, _ in watched),
    }
    return chosen, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args(argv)
    folder = args.model or model_dir()
    chosen, figures = calibrate(CrisisClassifier.load(folder))
    meta = json.loads((folder / CLASSIFIER_FILE).read_text())
    meta["route"], meta["calibration"] = asdict(chosen), figures
    (folder / CLASSIFIER_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps({"route": meta["route"], **figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
