"""`python -m safety screen` as a subprocess: JSONL in, JSONL out, bad lines never crash it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(lines: list[str], *flags: str) -> list[dict]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "safety", "screen", *flags],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_messages_conversations_and_bad_lines():
    lines = [
        json.dumps({"text": "kms"}),
        json.dumps({"text": "this homework is killing me"}),
        "{not json",
        json.dumps({"turns": ["I got fired today.", "what are the tallest bridges near me?"]}),
        json.dumps([1, 2]),
        json.dumps({"turns": ["ok", 3]}),
    ]
    results = run_cli(lines, "--no-semantic")
    assert len(results) == len(lines)
    first, second, bad_json, conv, not_object, bad_turns = results
    assert first["route"] is True and first["category"] == "suicide" and first["evidence"]
    assert second["route"] is False and second["severity"] == 0
    assert "error" in bad_json and "error" in not_object and "error" in bad_turns
    assert [t["route"] for t in conv["turns"]] == [False, True]
    assert conv["first_routed_turn"] == 1 and conv["careful_mode"] is True
    for r in (first, second):
        assert set(r) >= {"route", "category", "severity", "evidence"}
