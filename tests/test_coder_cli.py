"""`python -m evals.coding_cli` (routed from `python -m evals code`) run as a real subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evals.coding_cli", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_input_jsonl_gets_code_and_subtype(tmp_path):
    rows = [
        {"text": "What's been the hardest part?", "id": 1},
        {"text": "You should quit that job.", "id": 2},
        {
            "text": "It sounds like it hurts that she never asks about you, as if you only matter when she needs something.",
            "prompt": "My sister never asks how I'm doing.",
            "id": 3,
        },
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = run_cli("--input", str(path))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, 2, 3]  # original fields kept, order kept
    assert (out[0]["code"], out[0]["subtype"]) == ("question", "open")
    assert (out[1]["code"], out[1]["subtype"]) == ("advice", None)
    assert (out[2]["code"], out[2]["subtype"]) == ("reflection", "complex")


def test_annomi_agreement_on_a_small_fixture(tmp_path):
    rows = [
        # transcript 1
        ("1", "client", "I've been drinking more since I lost my job.", "n/a", "", ""),
        ("1", "therapist", "What's been going on for you since then?", "question", "", "open"),
        ("1", "client", "I just sit at home and feel useless.", "n/a", "", ""),
        ("1", "therapist", "Losing the job has shaken how you see yourself.", "reflection", "complex", ""),
        ("1", "therapist", "You should try to cut down to two drinks a day.", "therapist_input", "", ""),
        ("2", "therapist", "Did you take your medication today?", "question", "", "closed"),
        ("2", "client", "Yes, I did.", "n/a", "", ""),
        ("2", "therapist", "Hello, good to see you.", "other", "", ""),
        # A human code the coder gets wrong (a statement the coder reads as a reflection).
        ("2", "therapist", "You've been sleeping badly.", "question", "", "closed"),
    ]
    path = tmp_path / "annomi.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "transcript_id",
                "interlocutor",
                "utterance_text",
                "main_therapist_behaviour",
                "reflection_subtype",
                "question_subtype",
            ]
        )
        writer.writerows(rows)
    result = run_cli("--annomi", str(path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 6
    assert report["accuracy"] == 5 / 6
    assert 0 < report["kappa"] < 1
    labels = report["labels"]
    matrix = report["confusion"]
    assert sum(map(sum, matrix)) == 6
    question = labels.index("question")
    assert sum(matrix[question]) == 3 and matrix[question][question] == 2  # the statement is the one miss
    assert matrix[labels.index("therapist_input")][labels.index("therapist_input")] == 1
    assert report["mapping"]["advice"] == "therapist_input" and report["mapping"]["information"] == "therapist_input"
    assert report["question_subtype"]["n"] == 2 and report["question_subtype"]["accuracy"] == 1.0


def test_bad_input_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"utterance": "hi"}) + "\n", encoding="utf-8")
    result = run_cli("--input", str(path))
    assert result.returncode != 0 and "text" in result.stderr


def test_input_codes_a_file_in_batches_with_the_same_codes_as_one_by_one(tmp_path):
    from chatbot.coder import TechniqueCoder

    texts = [
        "Mm. So the evenings are the hard part. What happens then?",
        "You should call her tonight.",
        "",
        "It's your call, of course.",
    ] * 30
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n", encoding="utf-8")
    result = run_cli("--input", str(path), "--coder", "rules")
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    coder = TechniqueCoder.load()
    for row, text in zip(out, texts[:4]):
        assert [s["code"] for s in row["segments"]] == [c.code for c in coder.code_all(text)]
    assert len(out) == len(texts)
    assert [s["code"] for s in out[0]["segments"]] == ["other", "reflection", "question"]
    assert out[2]["code"] == "other" and out[2]["evidence"] == "rule:empty"


def test_a_row_without_text_is_named_by_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "Fine."}\n{"prompt": "x"}\n', encoding="utf-8")
    result = run_cli("--input", str(path), "--coder", "rules")
    assert result.returncode != 0 and "in.jsonl:2" in result.stderr


def test_agreement_gives_kappa_over_matching_segments(tmp_path):
    def row(row_id, *labels):
        segments = [dict(zip(("code", "subtype"), label.split(":"))) | {"text": label} for label in labels]
        return json.dumps({"id": row_id, "segments": segments})

    first = tmp_path / "a.jsonl"
    second = tmp_path / "b.jsonl"
    first.write_text(
        "\n".join([row("t1", "reflection:simple", "question:open"), row("t2", "advice"), row("t3", "other")]) + "\n"
    )
    second.write_text(
        "\n".join([row("t1", "reflection:complex", "question:open"), row("t2", "advice"), row("t3", "other")]) + "\n"
    )
    result = run_cli("--agreement", str(first), str(second))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["segments"] == 4 and report["agreement_9"] == 0.75
    assert report["kappa_4"] == 1.0  # reflection / question / advice / other all agree
    assert report["disagreements"] == {"reflection:simple / reflection:complex": 1}
