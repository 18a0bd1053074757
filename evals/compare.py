"""Side-by-side metrics of two runs, read back from their summary.json files."""

from __future__ import annotations

import json
from pathlib import Path

# Headline metrics first, in this order; every other numeric metric follows alphabetically.
HEADLINE = (
    "miti.r_to_q",
    "miti.pct_complex_reflections",
    "miti.pct_open_questions",
    "miti.advice_rate",
    "length.words.mean",
    "repetition.repetition_rate",
    "crisis.correct_rate",
    "speed.latency_s.median",
    "speed.first_token_s.median",
    "speed.tokens_per_s",
)


class CompareError(ValueError):
    pass


def load_summary(run_dir: str | Path) -> dict:
    path = Path(run_dir)
    path = path / "summary.json" if path.is_dir() else path
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompareError(f"No summary.json at {path} (is it a run folder?)") from None
    except json.JSONDecodeError as exc:
        raise CompareError(f"{path}: not valid JSON: {exc}") from None


def flatten(metrics: dict, prefix: str = "") -> dict[str, object]:
    """Dotted names for every number (and "inf") in the metrics; lists and text are skipped."""
    out: dict[str, object] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif value is None or value == "inf" or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            out[name] = value
    return out


def _cell(value) -> str:
    if value is None:
        return "–"
    if value == "inf":
        return "∞"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def difference(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return b - a
    return None


def rows(summary_a: dict, summary_b: dict) -> list[tuple[str, object, object, object]]:
    fa, fb = flatten(summary_a["metrics"]), flatten(summary_b["metrics"])
    names = [n for n in HEADLINE if n in fa or n in fb]
    names += sorted((set(fa) | set(fb)) - set(names))
    return [(n, fa.get(n), fb.get(n), difference(fa.get(n), fb.get(n))) for n in names]


def _describe(summary: dict) -> str:
    model = (summary.get("provenance") or {}).get("model") or {}
    gen = summary["config"]["generation"]
    return (
        f"{summary['run']} ({summary['started_at']}): {model.get('name')}, "
        f"{summary['turns']} turns, seed {gen.get('seed')}, "
        f"pipeline {summary['config']['listening']['pipeline']}"
    )


def render(summary_a: dict, summary_b: dict, label_a: str = "A", label_b: str = "B") -> str:
    lines = [
        f"# Compare {label_a} vs {label_b}",
        "",
        f"- **A**: {_describe(summary_a)}",
        f"- **B**: {_describe(summary_b)}",
        "",
        "| metric | A | B | B − A |",
        "|---|---:|---:|---:|",
    ]
    for name, a, b, diff in rows(summary_a, summary_b):
        sign = "+" if isinstance(diff, (int, float)) and diff > 0 else ""
        lines.append(f"| {name} | {_cell(a)} | {_cell(b)} | {sign}{_cell(diff)} |")
    changed = _config_changes(summary_a["config"], summary_b["config"])
    if changed:
        lines += ["", "Config differences: " + "; ".join(changed)]
    return "\n".join(lines) + "\n"


def _config_changes(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _config_changes(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}: {va!r} → {vb!r}")
    return out


def compare_dirs(run_a: str | Path, run_b: str | Path) -> str:
    return render(load_summary(run_a), load_summary(run_b), Path(run_a).name, Path(run_b).name)
