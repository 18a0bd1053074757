"""Scenario loaders (project YAML, user-supplied ESConv JSON and AnnoMI CSV) and run configs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from evals.datasets import (
    DatasetError,
    available_sets,
    limit_per_set,
    load_annomi,
    load_esconv,
    load_scenario_sets,
)
from evals.runconfig import RunConfigError, load_run_config, parse_run_config

CONFIGS = Path(__file__).resolve().parent.parent / "evals" / "configs"


def write_set(folder, name, body):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(body, encoding="utf-8")


def test_scenario_sets_load_by_name_all_and_path(tmp_path):
    folder = tmp_path / "scenarios"
    write_set(
        folder, "alpha", "scenarios:\n  - id: a1\n    topic: t\n    turns: [hi, there]\n  - id: a2\n    turns: [one]\n"
    )
    write_set(folder, "beta", "scenarios:\n  - id: b1\n    turns: [x]\n")
    assert available_sets(folder) == ["alpha", "beta"]
    every = load_scenario_sets(["all"], folder)
    assert [(s.set, s.id) for s in every] == [("alpha", "a1"), ("alpha", "a2"), ("beta", "b1")]
    assert every[0].turns == ("hi", "there") and every[0].topic == "t"
    by_path = load_scenario_sets([str(folder / "beta.yaml")], folder)
    assert [s.id for s in by_path] == ["b1"]
    assert [s.id for s in limit_per_set(every, 1)] == ["a1", "b1"]


def test_limit_takes_topics_in_turn_and_keeps_file_order():
    from evals.datasets import Scenario

    scenarios = [Scenario("s", f"{topic}{n}", topic, ("x",)) for topic in ("work", "grief", "school") for n in (1, 2)]
    scenarios.append(Scenario("other", "o1", "work", ("x",)))
    picked = limit_per_set(scenarios, 2)
    assert [s.id for s in picked] == ["work1", "grief1", "o1"]
    assert [s.id for s in limit_per_set(scenarios, 4)] == ["work1", "work2", "grief1", "school1", "o1"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("scenarios:\n  - id: a\n    turns: [x]\n    tone: sad\n", "tone"),
        ("scenarios:\n  - id: a\n    turns: []\n", "no turns"),
        ("scenarios:\n  - id: a\n    turns: [x]\n  - id: a\n    turns: [y]\n", "twice"),
        ("scenarios: [oops\n", "not valid YAML"),
    ],
)
def test_bad_scenario_files_name_the_problem(tmp_path, body, fragment):
    write_set(tmp_path, "bad", body)
    with pytest.raises(DatasetError, match=fragment):
        load_scenario_sets(["bad"], tmp_path)


def test_unknown_set_lists_the_known_ones(tmp_path):
    write_set(tmp_path, "alpha", "scenarios:\n  - id: a\n    turns: [x]\n")
    with pytest.raises(DatasetError, match="known: alpha"):
        load_scenario_sets(["alpah"], tmp_path)


def test_shipped_scenarios_load():
    scenarios = load_scenario_sets(["all"])
    assert scenarios, "evals/data/scenarios/ should ship at least one set"
    assert all(s.turns and all(t.strip() for t in s.turns) for s in scenarios)


def test_esconv_keeps_the_seekers_messages_and_joins_consecutive_ones(tmp_path):
    dialogues = [
        {
            "emotion_type": "anxiety",
            "problem_type": "job crisis",
            "situation": "...",
            "dialog": [
                {"speaker": "supporter", "content": "Hello, how are you?"},
                {"speaker": "seeker", "content": "Not great."},
                {"speaker": "seeker", "content": "  I lost my job. "},
                {"speaker": "supporter", "content": "That sounds hard."},
                {"speaker": "seeker", "content": "It is."},
            ],
        },
        {"emotion_type": "sadness", "dialog": [{"speaker": "supporter", "content": "Hi"}]},
    ]
    path = tmp_path / "ESConv.json"
    path.write_text(json.dumps(dialogues), encoding="utf-8")
    scenarios = load_esconv(path)
    assert len(scenarios) == 1  # a dialogue with no seeker text is no scenario
    assert scenarios[0].turns == ("Not great. I lost my job.", "It is.")
    assert scenarios[0].topic == "job crisis" and scenarios[0].set == "esconv"


def test_esconv_wrong_shape_is_a_clear_error(tmp_path):
    path = tmp_path / "ESConv.json"
    path.write_text(json.dumps([{"turns": []}]), encoding="utf-8")
    with pytest.raises(DatasetError, match="dialogue 0"):
        load_esconv(path)
    with pytest.raises(DatasetError, match="not found"):
        load_esconv(tmp_path / "missing.json")


def write_annomi(path, rows):
    header = ["mi_quality", "transcript_id", "topic", "utterance_id", "interlocutor", "utterance_text"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def test_annomi_groups_client_utterances_per_transcript_in_order(tmp_path):
    path = tmp_path / "AnnoMI-simple.csv"
    write_annomi(
        path,
        [
            ["high", "10", "smoking", "1", "client", "I smoke a pack a day."],
            ["high", "10", "smoking", "0", "therapist", "What brings you here?"],
            ["high", "10", "smoking", "2", "therapist", "Tell me more."],
            ["high", "10", "smoking", "3", "client", "My kids hate it."],
            ["high", "10", "smoking", "3", "client", "My kids hate it."],  # a second annotator's row
            ["low", "2", "alcohol", "0", "client", "I drink."],
            ["low", "2", "alcohol", "1", "client", "Sometimes a lot."],
        ],
    )
    scenarios = load_annomi(path)
    assert [s.id for s in scenarios] == ["annomi-2", "annomi-10"]  # numeric order
    assert scenarios[0].turns == ("I drink. Sometimes a lot.",)
    assert scenarios[1].turns == ("I smoke a pack a day.", "My kids hate it.")
    assert [s.id for s in load_annomi(path, quality="high")] == ["annomi-10"]


def test_annomi_missing_columns_are_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("transcript_id,text\n1,hello\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="utterance_id"):
        load_annomi(path)


def test_run_config_passes_app_sections_through_chatbot_config():
    config = parse_run_config(
        {
            "run": {"name": "probe", "seed": 7, "limit": 2},
            "generation": {"max_new_tokens": 12},
            "listening": {"pipeline": False},
        }
    )
    assert config.run.limit == 2
    assert config.app_config.generation.max_new_tokens == 12
    assert config.app_config.generation.seed == 7  # run.seed is the one seed
    assert config.app_config.listening.pipeline is False
    assert config.app_config.model.backend == "embedded"  # untouched defaults stay
    assert config.resolved()["run"]["name"] == "probe"


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"run": {"limt": 2}}, "run.limt"),
        ({"run": {"metrics": ["vibes"]}}, "run.metrics"),
        ({"run": {"name": "has space"}}, "run.name"),
        ({"generation": {"temprature": 0.1}}, "generation.temprature"),
        ({"modle": {}}, "modle"),
    ],
)
def test_run_config_errors_name_the_field(data, fragment):
    with pytest.raises(RunConfigError, match=fragment.replace(".", r"\.")):
        parse_run_config(data)


def test_shipped_configs_validate_and_overrides_apply():
    ci = load_run_config(CONFIGS / "ci.yaml", ["run.limit=1", "generation.max_new_tokens=9"])
    assert ci.run.limit == 1 and ci.app_config.generation.max_new_tokens == 9
    default = load_run_config(CONFIGS / "default.yaml")
    assert default.app_config.model.backend == "embedded"
    with pytest.raises(RunConfigError, match=r"section\.key=value"):
        load_run_config(CONFIGS / "ci.yaml", ["limit"])


def test_ordinary_routed_screens_each_scenario_as_one_conversation():
    from evals.datasets import load_scenario_sets
    from evals.safety_eval import ordinary_routed
    from safety import ConversationRisk

    class RoutesThirdTurnOfEachConversation:
        def __init__(self):
            self.risks = []

        def assess_message(self, text, risk):
            if not self.risks or self.risks[-1][0] is not risk:
                self.risks.append([risk, 0])
            self.risks[-1][1] += 1
            return type("A", (), {"route": self.risks[-1][1] == 3})()

    scenarios = load_scenario_sets(["all"])
    screen = RoutesThirdTurnOfEachConversation()
    routed, total = ordinary_routed(screen)
    assert total == sum(len(s.turns) for s in scenarios)
    assert routed == [f"{s.id}#2" for s in scenarios if len(s.turns) >= 3]
    assert all(isinstance(r, ConversationRisk) for r, _ in screen.risks)
    assert len({id(r) for r, _ in screen.risks}) == len(scenarios)
