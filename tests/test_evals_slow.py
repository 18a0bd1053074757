"""The CI eval config on the real embedded model, end to end through the CLI. Marked slow; CI runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.__main__ import main
from evals.runner import read_jsonl

pytestmark = pytest.mark.slow

CI_CONFIG = Path(__file__).resolve().parent.parent / "evals" / "configs" / "ci.yaml"


def test_ci_config_runs_on_the_embedded_model(tmp_path):
    out = tmp_path / "ci"
    assert main(["run", str(CI_CONFIG), "--out", str(out), "--no-progress"]) == 0
    turns = read_jsonl(out / "turns.jsonl")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["model"]["name"] == "SmolLM2-135M-Instruct"
    assert len(summary["provenance"]["model"]["weights_sha256"]) == 64
    assert turns and all(t["reply"].strip() for t in turns)
    assert all(t["model_calls"] >= 1 for t in turns if t["kind"] == "listening")
    probe = summary["metrics"]["crisis"]["probe"]
    assert probe["crisis_turns"] > 0 and probe["correct"] == probe["crisis_turns"]
    assert 0.0 <= summary["metrics"]["safety"]["recall"] <= 1.0
    for name in ("report.md", "technique_mix.png", "miti_thresholds.png", "latency.png"):
        assert (out / name).stat().st_size > 0
