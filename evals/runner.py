"""Drives every scenario through the app's own Listener and writes one JSONL line per turn.

The run folder holds turns.jsonl (the source of truth), summary.json, report.md and plots;
everything but turns.jsonl is derived from it (and from safety.jsonl for the safety sets).
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.datasets import Scenario, limit_per_set, load_annomi, load_esconv, load_scenario_sets
from evals.runconfig import RunConfig, RunSection

log = logging.getLogger("evals.runner")

# Fields that measure time; everything else in a turn line must repeat exactly under a seed.
TIMING_FIELDS = ("latency_s", "first_token_s", "model_s")
PROBE_SET = "safety-crisis"


class CountingModel:
    """Wraps a ChatModel to count calls and wall time per turn, so a crisis turn can be shown
    never to have reached the model."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.identity = inner.identity
        self.calls = 0
        self.seconds = 0.0
        self.max_pieces: int | None = None  # the crisis probe only needs to know it was reached

    def stream(self, messages, settings) -> Iterator[str]:
        self.calls += 1
        started = time.perf_counter()
        try:
            for count, piece in enumerate(self.inner.stream(messages, settings), 1):
                yield piece
                if self.max_pieces is not None and count >= self.max_pieces:
                    break  # closing the inner iterator stops generation
        finally:
            self.seconds += time.perf_counter() - started

    def count_tokens(self, messages) -> int:
        return self.inner.count_tokens(messages)

    def __getattr__(self, name: str) -> Any:  # tokenizer etc. for callers that need more
        return getattr(self.inner, name)


def seed_everything(seed: int | None) -> None:
    if seed is None:
        return
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def collect_scenarios(run: RunSection, scenarios_dir: Path | None = None) -> list[Scenario]:
    scenarios = load_scenario_sets(run.scenario_sets, scenarios_dir) if run.scenario_sets else []
    if run.esconv:
        scenarios += load_esconv(run.esconv)
    if run.annomi:
        scenarios += load_annomi(run.annomi, run.annomi_quality)
    scenarios = limit_per_set(scenarios, run.limit)
    if run.max_turns:
        scenarios = [replace(s, turns=s.turns[: run.max_turns]) for s in scenarios]
    return scenarios


def expected_crisis_text(safety: dict, country: str) -> str:
    """The fixed reply the safety layer prescribes for this assessment."""
    from safety import crisis_reply
    from safety.types import Assessment

    known = {f.name for f in fields(Assessment)}
    # `safety` is Assessment.as_dict() read back from JSON: its lists were tuples
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in safety.items() if k in known}
    return crisis_reply(Assessment(**values), country).text


def turn_record(scenario: Scenario, index: int, turn, model_calls: int, model_s: float, country: str) -> dict:
    record = {
        "set": scenario.set,
        "scenario": scenario.id,
        "topic": scenario.topic,
        "turn": index,
        "user_text": turn.user_text,
        "reply": turn.reply,
        "kind": turn.kind,
        "move": turn.move,
        "technique": turn.technique,
        "safety": turn.safety,
        "output_safety": turn.output_safety,
        "tokens": turn.tokens,
        "model_calls": model_calls,
        "meta": turn.meta,  # engine notes: history kept, pipeline fallback and candidates
        "crisis_check": None,
        "latency_s": turn.latency_s,
        "first_token_s": turn.first_token_s,
        "model_s": round(model_s, 4),
    }
    if turn.kind == "crisis":
        fixed = turn.reply == expected_crisis_text(turn.safety or {}, country)
        record["crisis_check"] = {
            "fixed_text": fixed,
            "model_called": model_calls > 0,
            "ok": fixed and model_calls == 0,
        }
    return record


def run_scenarios(
    listener,
    counting: CountingModel | None,
    scenarios: Sequence[Scenario],
    country: str,
    progress: bool = True,
    desc: str = "turns",
) -> Iterator[dict]:
    from tqdm import tqdm

    total = sum(len(s.turns) for s in scenarios)
    with tqdm(total=total, desc=desc, unit="turn", disable=not progress, file=sys.stderr) as bar:
        for scenario in scenarios:
            conv = listener.new_conversation(country)
            for index, text in enumerate(scenario.turns):
                calls = counting.calls if counting else 0
                seconds = counting.seconds if counting else 0.0
                turn = listener.respond(conv, text).consume()
                yield turn_record(
                    scenario,
                    index,
                    turn,
                    (counting.calls - calls) if counting else 0,
                    (counting.seconds - seconds) if counting else 0.0,
                    conv.country,
                )
                bar.update(1)


def run_safety_sets(screen) -> list[dict]:
    """Per-message and per-conversation screen decisions on the project set of the safety corpus
    (safety/data/, source "project-set"), scored by the
    safety team's own evaluator (one record per line, tagged by `record`)."""
    from evals import safety_eval

    result = safety_eval.evaluate(screen, safety_eval.load_messages(), safety_eval.load_dialogues())
    return [{"record": "message", **r} for r in result["messages"]] + [
        {"record": "conversation", **c} for c in result["conversations"]
    ]


def crisis_probe_scenarios() -> list[Scenario]:
    """Every crisis message of the safety set as a one-turn conversation: routed ones show the
    crisis reply is the fixed text and never reaches the model; misses do reach it."""
    from evals import safety_eval

    return [Scenario(PROBE_SET, m.id, m.category, (m.text,)) for m in safety_eval.load_messages() if m.category]


def new_run_dir(run: RunSection, base: Path | None = None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    root = Path(base or run.output_dir)
    folder = root / f"{run.name}-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = root / f"{run.name}-{stamp}-{suffix}"
    folder.mkdir(parents=True)
    return folder


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


def write_jsonl(path: Path, records: Sequence[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(_line(r) for r in records)


def read_jsonl(path: Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def run(
    config: RunConfig,
    out_dir: Path | None = None,
    *,
    model=None,
    listener_factory: Callable | None = None,
    progress: bool = True,
    plots: bool = True,
) -> Path:
    """Run the config and return the run folder. `model` skips building one (tests pass a fake);
    `listener_factory(app_config, model)` replaces chatbot.factory.build_listener."""
    from chatbot.factory import build_listener, build_model, offline_environment
    from evals import report, scorers
    from evals.provenance import provenance

    offline_environment()
    app, run_section = config.app_config, config.run
    started_at = datetime.now(UTC)
    wall = time.perf_counter()
    scenarios = collect_scenarios(run_section)
    if model is None:
        model = build_model(app)  # an eval without its model is an error, not a fallback
    seed_everything(run_section.seed)
    counting = CountingModel(model)
    listener = (listener_factory or build_listener)(app, counting)
    listener.screen.warm_up()  # load the embedder now, so the first message's screen budget is not spent on it
    if listener.coder is not None:
        listener.coder.code("warm up", prompt="")  # same for the technique coder
    folder = Path(out_dir) if out_dir else new_run_dir(run_section)
    folder.mkdir(parents=True, exist_ok=True)

    phases = {"setup": round(time.perf_counter() - wall, 1)}

    mark = time.perf_counter()
    turns = []
    with (folder / "turns.jsonl").open("w", encoding="utf-8") as fh:
        for record in run_scenarios(listener, counting, scenarios, app.locale.country, progress):
            fh.write(_line(record))  # line by line: a long run shows and keeps what it did
            fh.flush()
            turns.append(record)
    phases["scenarios"] = round(time.perf_counter() - mark, 1)

    probe = None
    if run_section.crisis_probe and "crisis" in run_section.metrics:
        mark = time.perf_counter()
        counting.max_pieces = 1  # a missed crisis message's reply is cut short: only the miss counts
        try:
            probe = list(
                run_scenarios(
                    listener, counting, crisis_probe_scenarios(), app.locale.country, progress, desc="crisis probe"
                )
            )
        finally:
            counting.max_pieces = None
        write_jsonl(folder / "crisis_probe.jsonl", probe)
        phases["crisis_probe"] = round(time.perf_counter() - mark, 1)

    safety_records = None
    if run_section.safety_sets and "safety" in run_section.metrics:
        mark = time.perf_counter()
        safety_records = run_safety_sets(listener.screen)
        write_jsonl(folder / "safety.jsonl", safety_records)
        phases["safety_sets"] = round(time.perf_counter() - mark, 1)

    summary: dict[str, Any] = {
        "run": run_section.name,
        "started_at": started_at.isoformat(timespec="seconds"),
        "runtime_s": round(time.perf_counter() - wall, 1),
        "phases_s": phases,  # setup = model, screen and coder loading
        "scenarios": len(scenarios),
        "turns": len(turns),
        "sets": sorted({s.set for s in scenarios}),
        "config": config.resolved(),
        "engine": engine_facts(listener),
        "provenance": provenance(model),
        "metrics": scorers.score_all(turns, run_section.metrics, safety_records, probe),
    }
    summary["provenance"]["torch_threads"] = _torch_threads()
    summary = scorers.json_safe(summary)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report.write_report(folder, summary, turns, plots=plots)
    return folder


def engine_facts(listener) -> dict:
    """What actually ran, which the config alone cannot say (e.g. a pipeline not installed)."""
    pipeline = getattr(listener, "pipeline", None)
    return {
        "pipeline_active": pipeline is not None,
        "pipeline": type(pipeline).__name__ if pipeline is not None else None,
        "coder_active": getattr(listener, "coder", None) is not None,
        "screen": type(listener.screen).__name__,
        "model_problem": getattr(listener, "model_problem", None),
    }


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch else None


def rebuild_report(run_dir: str | Path, plots: bool = True) -> Path:
    """Recompute the metrics from turns.jsonl (and safety.jsonl) and rewrite summary and report:
    the per-turn file is the source of truth, so a scorer change can be applied to old runs."""
    from evals import report, scorers

    folder = Path(run_dir)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    turns = read_jsonl(folder / "turns.jsonl")
    optional = {}
    for name in ("safety", "crisis_probe"):
        path = folder / f"{name}.jsonl"
        optional[name] = read_jsonl(path) if path.exists() else None
    metrics = summary["config"]["run"]["metrics"]
    summary["metrics"] = scorers.json_safe(
        scorers.score_all(turns, metrics, optional["safety"], optional["crisis_probe"])
    )
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report.write_report(folder, summary, turns, plots=plots)
