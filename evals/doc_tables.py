"""The results tables of the docs, rebuilt from committed run files: `python -m evals docs [--check]`.

Each table stands between `<!-- results:NAME -->` and `<!-- /results:NAME -->` in its document and
is rewritten in place, with a line under it naming this command and the files it read. The run
files are what the eval commands wrote (their `--out` files, run folders, the blind score); nothing
is measured here. `--check` writes nothing and names the tables that differ (a test runs it, so a
table cannot drift from its files). Runs on sealed sets are not read here: their figures stay in
hand-written tables beside the generated ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evals.report import markdown_table

COMMAND = "python -m evals docs"
RUNS = "docs/example-run"
FEW = 10  # fewer judged replies than this: no shares or ratios, they would mean nothing

Built = tuple[list[str], list[str]]  # markdown lines, the files they came from (repo-relative)


class DocTablesError(Exception):
    pass


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    build: Callable[[Path], Built]


def _json(root: Path, path: str, used: list[str]):
    used.append(path)
    return json.loads((root / path).read_text(encoding="utf-8"))


def _pct(share: float | None, digits: int = 0) -> str:
    return "–" if share is None else f"{100 * share:.{digits}f}%"


# -- docs/safety.md ------------------------------------------------------------------------
SAFETY = f"{RUNS}/safety"


def safety_results(root: Path) -> Built:
    used: list[str] = []

    def run(name: str) -> dict:
        return _json(root, f"{SAFETY}/{name}.json", used)

    test, test_ex = run("test-split"), run("test-split-examples")
    project = run("project-set")
    ordinary = [(run(f"ordinary-{s}"), run(f"ordinary-{s}-examples")) for s in ("reference", "everyday")]
    latency = run("latency-classifier"), run("latency-examples")

    def detection(f: dict) -> str:
        return f"{f['recall']:.3f} / {_pct(f['false_alarms_hard'], 1)} / {_pct(f['false_alarms_ordinary'], 1)}"

    def routed(f: dict) -> str:
        return f"{len(f['routed'])}/{f['turns']}"

    rows = [
        (
            "corpus test split: recall / false alarms on look-alikes / on ordinary lines",
            "`python -m evals.safety_eval [--learned examples]`",
            detection(test),
            detection(test_ex),
        ),
        (
            "corpus test split: build-ups on time; calm conversations routed",
            "same",
            *(f"{f['buildups_on_time']}; {f['calm_conversations_routed']}" for f in (test, test_ex)),
        ),
        (
            "project set (tuned on it): recall / false alarms",
            "`--split all --source project-set`",
            f"{project['routed']['crisis']} / {project['routed']['hard']}",
            "",
        ),
        (
            "ordinary turns routed: reference scenarios, everyday",
            "`python -m evals.safety_eval --ordinary SET.yaml [--learned examples]`",
            ", ".join(routed(shipped) for shipped, _ in ordinary),
            ", ".join(routed(alone) for _, alone in ordinary),
        ),
        (
            "screening latency p50 / p95 (machine load average)",
            "`python -m evals.safety_bench --learned classifier` / `examples`",
            *(f"{f['p50_ms']:.1f} / {f['p95_ms']:.1f} ms (load {f['load_avg_1m']:.1f})" for f in latency),
        ),
    ]
    header = ("set", "command", "classifier + examples (shipped)", "examples alone")
    per_category = ", ".join(
        f"{name.replace('self_', 'self-').replace('_', ' ')} {recall:.2f}"
        for name, recall in test["per_category_recall"].items()
    )
    lines = markdown_table(rows, header) + ["", f"Corpus test split recall per category (shipped): {per_category}."]
    return lines, used


# -- docs/listening.md ---------------------------------------------------------------------
LISTENING = f"{RUNS}/listening-adapter"
# (set label for its first row, system, run file): a .jsonl is a heldout_eval file, else a run folder
LISTENING_RUNS = (
    ("corpus test topics ({rows} rows)", "adapter", "heldout-adapter.jsonl"),
    ("corpus test topics ({rows} rows)", "without", "heldout-today.jsonl"),
    ("{scenarios} reference scenarios ({turns} turns)", "adapter", "reference-adapter"),
    ("everyday set ({turns} turns)", "adapter", "everyday-adapter"),
    ("everyday set ({turns} turns)", "without", "everyday-today"),
)


def _heldout_row(root: Path, path: str, used: list[str]) -> tuple[dict, list[str]]:
    from evals.heldout_eval import summarize

    used.append(path)
    text = (root / path).read_text(encoding="utf-8")
    s = summarize([json.loads(line) for line in text.splitlines() if line.strip()])
    latency = f"{s['latency_p50_s']:.2f} s (p95 {s['latency_p95_s']:.2f})"
    written = f"{s['model_written']} ({_pct(s['model_written_share'])})"
    return {"rows": s["rows"]}, [str(s["listening_replies"]), written, "–", "–", "–", "–", latency]


def _run_row(root: Path, folder: str, used: list[str]) -> tuple[dict, list[str]]:
    from evals.scorers import LISTENING_KINDS

    summary = _json(root, f"{folder}/summary.json", used)
    m = summary["metrics"]
    replies = sum(n for kind, n in m["kinds"]["by_kind"].items() if kind in LISTENING_KINDS)
    written = replies - round(m["kinds"]["pipeline_fallback_rate"] * replies)
    miti, rep = m["miti"], m["repetition"]
    cells = [
        str(replies),
        f"{written} ({_pct(written / replies)})",
        f"{miti['r_to_q']:.2f}",
        f"{miti['pct_complex_reflections']:.0f}%",
        str(miti["counts"]["advice"]),
        str(round(rep["exact_repeat_rate"] * rep["judged_replies"])),
        f"{m['speed']['latency_s']['median']:.2f} s",
    ]
    return summary, cells


def listening_results(root: Path) -> Built:
    used: list[str] = []
    rows, labelled = [], set()
    for label, system, name in LISTENING_RUNS:
        path = f"{LISTENING}/{name}"
        fields, cells = (_heldout_row if name.endswith(".jsonl") else _run_row)(root, path, used)
        # the set's size on its first row only
        shown = label.split(" (")[0].format(**fields) if label in labelled else label.format(**fields)
        labelled.add(label)
        rows.append((shown, system, *cells))
    header = (
        "set",
        "system",
        "listening replies",
        "written by the model",
        "R:Q",
        "complex reflections",
        "advice",
        "exact repeats",
        "latency p50",
    )
    return markdown_table(rows, header), used


BLIND_ROWS = (
    ("adapter, written by the model", "adapter (model-written)"),
    ("without: fixed text or deterministic reflection", "today (fixed or echo)"),
    ("without: written by the model", "today (model-written)"),
)


def listening_blind(root: Path) -> Built:
    used: list[str] = []
    audit = _json(root, f"{LISTENING}/blind/score.json", used)["audit"]
    rows = []
    for label, key in BLIND_ROWS:
        a = audit[key]
        enough = a["judged"] >= FEW
        rows.append(
            (
                label,
                str(a["judged"]),
                f"{a['fit']} ({_pct(a['fit_share'])})" if enough else str(a["fit"]),
                f"{a['r_to_q']:.2f}" if enough else "–",
                _pct(a["complex_share"]) if enough else "–",
                str(a["codes"].get("advice", 0)),
            )
        )
    header = ("", "judged", "fit to send", "R:Q (judge's codes)", "complex reflections", "advice")
    lines = markdown_table(rows, header) + ["", f"– : fewer than {FEW} replies judged."]
    return lines, used


# -- docs/coder.md -------------------------------------------------------------------------
AGREEMENT = (
    ("reflective turns", f"{RUNS}/coder/agreement-reflective.json"),
    ("information and advice turns", f"{RUNS}/coder/agreement-info-advice.json"),
    ("both", f"{RUNS}/coder/agreement-all.json"),
)


def coder_agreement(root: Path) -> Built:
    used: list[str] = []
    rows = []
    for label, path in AGREEMENT:
        a = _json(root, path, used)
        rows.append(
            (
                label,
                str(a["turns"]),
                str(a["segments"]),
                f"{a['agreement_9']:.3f}",
                f"{a['kappa_9']:.3f}",
                f"{a['kappa_4']:.3f}",
                f"{a['kappa_simple_complex']:.3f} ({a['reflections_both']} pairs)",
            )
        )
    header = (
        "sample",
        "turns",
        "segments",
        "agreement (9 labels)",
        "kappa, 9 labels",
        "kappa, 4 classes",
        "kappa, simple vs complex",
    )
    return markdown_table(rows, header), used


CODER_HEADER = (
    "set",
    "coder",
    "segments",
    "9-label accuracy",
    "4-class macro-F1",
    "reflection vs question",
    "simple vs complex",
)


def coder_validation(root: Path) -> Built:
    used: list[str] = []
    # written by `python -m chatbot.coder.tuned train` beside the model it measured
    v = _json(root, "chatbot/coder/model/encoder.json", used)["validation"]
    row = (
        "validation turns",
        "fine-tuned",
        f"{v['segments']:,}",
        f"{v['accuracy_9']:.3f}",
        f"{v['macro_f1_4']:.3f}",
        f"{v['reflection_vs_question_accuracy']:.3f}",
        f"{v['simple_vs_complex_accuracy']:.3f}",
    )
    return markdown_table([row], CODER_HEADER), used


TABLES = (
    Table("safety", "docs/safety.md", safety_results),
    Table("listening", "docs/listening.md", listening_results),
    Table("blind", "docs/listening.md", listening_blind),
    Table("agreement", "docs/coder.md", coder_agreement),
    Table("coder", "docs/coder.md", coder_validation),
)


# -- rewriting the docs --------------------------------------------------------------------
def render(table: Table, root: Path) -> str:
    lines, used = table.build(root)
    sources = ", ".join(f"`{p}`" for p in used)
    return "\n".join([*lines, "", f"_Generated by `{COMMAND}` from {sources}._"])


def replace_block(text: str, name: str, body: str, where: str = "the document") -> str:
    pattern = re.compile(rf"(<!-- results:{name} -->\n)(?:.*?\n)?(<!-- /results:{name} -->)", re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise DocTablesError(f"{where}: needs one <!-- results:{name} --> ... <!-- /results:{name} --> block")
    return pattern.sub(lambda m: f"{m.group(1)}{body}\n{m.group(2)}", text)


def update(root: Path, check: bool = False, tables: tuple[Table, ...] = TABLES) -> list[str]:
    """Rewrite every table (or, with check, only compare); the "doc:name" of each that differed."""
    docs: dict[str, str] = {}
    changed = []
    for table in tables:
        before = docs.get(table.doc) or (root / table.doc).read_text(encoding="utf-8")
        after = replace_block(before, table.name, render(table, root), table.doc)
        if after != before:
            changed.append(f"{table.doc}:{table.name}")
        docs[table.doc] = after
    if not check:
        for doc, text in docs.items():
            (root / doc).write_text(text, encoding="utf-8")
    return changed
