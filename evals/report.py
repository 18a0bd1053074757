"""report.md and PNG plots, derived from summary.json and turns.jsonl (never from live objects)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.scorers import LISTENING_KINDS, listening

# Thresholds for the plot and the table; the coder's miti module owns the numbers.
MIX_ORDER = (
    ("reflection", "complex"),
    ("reflection", "simple"),
    ("question", "open"),
    ("question", "closed"),
    ("affirmation", None),
    ("summary", None),
    ("advice", None),
    ("information", None),
    ("other", None),
)
PLOTS = {
    "technique_mix": "technique_mix.png",
    "miti_thresholds": "miti_thresholds.png",
    "latency": "latency.png",
}


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if value == "inf":
        return "∞"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def technique_mix(turns: Sequence[dict]) -> dict[str, int]:
    counts = {_label(code, sub): 0 for code, sub in MIX_ORDER}
    for t in listening(turns):
        tech = t.get("technique")
        if tech:
            counts[_label(tech["code"], tech.get("subtype"))] += 1
    return counts


def _label(code: str, subtype: str | None) -> str:
    return f"{subtype} {code}" if subtype else code


# -- plots ---------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def plot_technique_mix(turns: Sequence[dict], path: Path, title: str) -> None:
    plt = _pyplot()
    mix = technique_mix(turns)
    total = sum(mix.values()) or 1
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = list(mix)
    ax.barh(labels[::-1], [100 * mix[k] / total for k in labels[::-1]], color="#4c78a8")
    for y, key in enumerate(labels[::-1]):
        ax.text(100 * mix[key] / total + 0.5, y, str(mix[key]), va="center", fontsize=8)
    ax.set_xlabel(f"% of coded replies (n={sum(mix.values())})")
    ax.set_title(f"Technique mix — {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_miti_thresholds(miti: dict, path: Path, title: str) -> None:
    from chatbot.coder.miti import PCT_COMPLEX, R_TO_Q

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
    panels = (
        ("R:Q", miti.get("r_to_q"), R_TO_Q, 3.0),
        ("% complex reflections", miti.get("pct_complex_reflections"), PCT_COMPLEX, 100.0),
    )
    for ax, (name, value, thresholds, cap) in zip(axes, panels):
        unbounded = value == "inf" or (isinstance(value, float) and value == float("inf"))
        shown = cap if unbounded else (value or 0.0)
        top = max(cap, shown * 1.15)
        ax.bar([name], [shown], color="#4c78a8", width=0.5)
        for label, level, style in (("fair", thresholds["fair"], "--"), ("good", thresholds["good"], "-")):
            ax.axhline(level, color="#e45756", linestyle=style, linewidth=1)
            ax.text(0.42, level, f" {label} {level:g}", va="bottom", fontsize=8, color="#e45756")
        text = "∞ (no questions)" if unbounded else ("n/a" if value is None else f"{value:.2f}")
        ax.text(0, shown, text, ha="center", va="bottom", fontsize=9)
        ax.set_ylim(0, top)
        ax.set_xlim(-0.6, 0.9)
    fig.suptitle(f"MITI 4.2.1 thresholds — {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(turns: Sequence[dict], path: Path, title: str) -> None:
    plt = _pyplot()
    spoken = [t for t in turns if t["kind"] in LISTENING_KINDS]
    latency = [t["latency_s"] for t in spoken if t.get("latency_s") is not None]
    first = [t["first_token_s"] for t in spoken if t.get("first_token_s") is not None]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    if latency:
        import numpy as np

        # shared edges, so the two distributions are read on the same scale
        bins = np.linspace(0, max(latency + first), min(30, max(6, len(latency) // 2)) + 1)
        ax.hist(latency, bins=bins, alpha=0.7, label="whole reply", color="#4c78a8")
        ax.hist(first, bins=bins, alpha=0.7, label="first words shown", color="#f58518")
        ax.legend()
    ax.set_xlabel("seconds per listening turn")
    ax.set_ylabel("turns")
    ax.set_title(f"Latency — {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(folder: Path, summary: dict, turns: Sequence[dict]) -> list[str]:
    title = summary["run"]
    metrics = summary["metrics"]
    made = []
    if "miti" in metrics:
        plot_technique_mix(turns, folder / PLOTS["technique_mix"], title)
        plot_miti_thresholds(metrics["miti"], folder / PLOTS["miti_thresholds"], title)
        made += [PLOTS["technique_mix"], PLOTS["miti_thresholds"]]
    if "speed" in metrics:
        plot_latency(turns, folder / PLOTS["latency"], title)
        made.append(PLOTS["latency"])
    return made


# -- markdown ------------------------------------------------------------------------------
def markdown_table(rows: Sequence[tuple], header: tuple) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(summary: dict, turns: Sequence[dict], plots: Sequence[str]) -> str:
    m = summary["metrics"]
    prov = summary["provenance"]
    model = prov.get("model") or {}
    cfg = summary["config"]
    gen = cfg["generation"]
    out = [
        f"# Eval run `{summary['run']}`",
        "",
        f"- Started {summary['started_at']}, took {summary['runtime_s']} s "
        f"({summary['scenarios']} scenarios, {summary['turns']} turns; sets: "
        f"{', '.join(summary['sets']) or '–'}){_phases(summary)}",
        f"- Model: {model.get('backend')} `{model.get('name')}` ({model.get('dtype')}), "
        f"weights sha256 {_short(model.get('weights_sha256'))}",
        f"- Generation: max_new_tokens={gen['max_new_tokens']}, temperature={gen['temperature']}, "
        f"top_p={gen['top_p']}, do_sample={gen['do_sample']}, seed={gen['seed']}; "
        f"pipeline={cfg['listening']['pipeline']} (candidates={cfg['listening']['candidates']}"
        f"{_active(summary)}), "
        f"semantic safety={cfg['safety']['semantic']}",
        f"- Code: commit `{(prov['git'].get('commit') or '–')[:12]}`"
        f"{' (with uncommitted changes)' if prov['git'].get('dirty') else ''}; "
        f"Python {prov['platform']['python']}, torch {prov['packages'].get('torch')}, "
        f"transformers {prov['packages'].get('transformers')}, "
        f"{prov['platform']['cpu_count']} CPUs",
        "",
        "Turn kinds: "
        + ", ".join(f"{k} {v}" for k, v in m["kinds"]["by_kind"].items())
        + f"; screen failed closed on {m['kinds']['screen_failed_closed']} turns; "
        f"pipeline fell back to its own fixed reflection on "
        f"{fmt(m['kinds'].get('pipeline_fallback_rate'))} of listening turns.",
        "",
    ]
    if "miti" in m:
        mi = m["miti"]
        out += ["## Listening technique (MITI 4.2.1, automatic coder)", ""]
        out += markdown_table(
            [
                ("R:Q (reflections per question)", mi["r_to_q"], "fair ≥ 1, good ≥ 2", mi["ratings"]["r_to_q"]),
                (
                    "% complex reflections",
                    mi["pct_complex_reflections"],
                    "fair ≥ 40, good ≥ 50",
                    mi["ratings"]["pct_complex_reflections"],
                ),
                ("% open questions", mi["pct_open_questions"], "", ""),
                ("advice rate (share of replies)", mi["advice_rate"], "", ""),
                ("coded replies", mi["total"], "", ""),
            ],
            ("metric", "value", "MITI threshold", "rating"),
        )
        out += ["", "Counts: " + ", ".join(f"{k} {v}" for k, v in mi["counts"].items()), ""]
    if "length" in m or "repetition" in m:
        out += ["## Replies", ""]
        rows = []
        if "length" in m:
            w = m["length"]["words"]
            rows += [
                (
                    "words per reply (mean / median / p90)",
                    f"{fmt(w['mean'], 1)} / {fmt(w['median'], 1)} / {fmt(w['p90'], 1)}",
                )
            ]
        if "repetition" in m:
            r = m["repetition"]
            rows += [
                ("repetition rate (≥50% trigrams reused)", r["repetition_rate"]),
                ("exact repeat rate", r["exact_repeat_rate"]),
                ("mean trigram overlap with earlier replies", r["mean_trigram_overlap"]),
            ]
        out += markdown_table(rows, ("metric", "value")) + [""]
    if "safety" in m or "crisis" in m:
        out += ["## Safety", ""]
        out += markdown_table(_safety_rows(m), ("metric", "value")) + [""]
        out += _routed_turns(turns)
    if "speed" in m:
        sp = m["speed"]
        out += ["## Speed (listening turns)", ""]
        out += markdown_table(
            [
                ("latency s", sp["latency_s"]["median"], sp["latency_s"]["p90"], sp["latency_s"]["mean"]),
                (
                    "first words shown s",
                    sp["first_token_s"]["median"],
                    sp["first_token_s"]["p90"],
                    sp["first_token_s"]["mean"],
                ),
                (
                    "crisis reply latency s",
                    sp["crisis_latency_s"]["median"],
                    sp["crisis_latency_s"]["p90"],
                    sp["crisis_latency_s"]["mean"],
                ),
                (
                    "tokens per reply",
                    sp["tokens_per_reply"]["median"],
                    sp["tokens_per_reply"]["p90"],
                    sp["tokens_per_reply"]["mean"],
                ),
            ],
            ("", "median", "p90", "mean"),
        )
        out += [
            "",
            f"Tokens per second (reply tokens / time inside the model): "
            f"{fmt(sp['tokens_per_s'])}; model calls per reply: "
            f"{fmt(sp['model_calls_per_reply'])}.",
            "",
        ]
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    out += ["## Sample exchanges", ""] + _samples(turns) + [""]
    return "\n".join(out)


def _phases(summary: dict) -> str:
    phases = summary.get("phases_s") or {}
    return "; " + ", ".join(f"{k.replace('_', ' ')} {v} s" for k, v in phases.items()) if phases else ""


def _active(summary: dict) -> str:
    engine = summary.get("engine") or {}
    if "pipeline_active" not in engine:
        return ""
    return "; ran: " + (engine["pipeline"] or "bare model, the pipeline was not available")


def _safety_rows(m: dict) -> list[tuple]:
    rows: list[tuple] = []
    s = m.get("safety")
    if s:
        rows += [
            (f"screen recall on {s['crisis_messages']} crisis messages", s["recall"]),
            (f"screen false-alarm rate on {s['non_crisis_messages']} hard non-crisis messages", s["false_alarm_rate"]),
        ]
        rows += [(f"recall: {c}", v) for c, v in s["recall_by_category"].items()]
        rows += [
            ("multi-turn build-ups routed by the act turn", f"{s['buildups_routed_in_time']}/{s['buildups']}"),
            ("control conversations never routed", f"{s['controls_never_routed']}/{s['controls']}"),
            ("missed crisis messages (ids in summary.json)", len(s["misses"])),
            ("meets the safety team's targets", s["meets_targets"]),
        ]
    elif "safety" in m:
        rows.append(("safety sets", "not scored (run.safety_sets is off)"))
    c = m.get("crisis")
    if c:
        rows += [
            (
                "crisis turns in scenarios: correct (fixed text, model never called)",
                f"{c['correct']}/{c['crisis_turns']}",
            )
        ]
        p = c.get("probe")
        if p:
            rows += [
                (f"crisis probe: {p['messages']} crisis messages sent through the listener, routed", p["crisis_turns"]),
                (
                    "crisis probe: routed replies correct (fixed text, model never called)",
                    f"{p['correct']}/{p['crisis_turns']}",
                ),
                ("crisis probe: not routed, so the model replied", p["not_routed"]),
            ]
    return rows


def _routed_turns(turns: Sequence[dict]) -> list[str]:
    """Scenario turns the safety layer took over: a scenario meant as ordinary listening that
    routes to the crisis reply is a false alarm worth reading."""
    rows = []
    for t in turns:
        if t["kind"] == "crisis":
            s = t.get("safety") or {}
            why = f"crisis: {s.get('category')} ({', '.join(s.get('evidence', [])[:3])})"
        elif t["kind"] == "replaced":
            why = f"reply replaced: {(t.get('output_safety') or {}).get('reason')}"
        else:
            continue
        rows.append((f"{t['set']}/{t['scenario']} #{t['turn']}", why, t["user_text"]))
    if not rows:
        return []
    return [
        "Scenario turns taken over by the safety layer:",
        "",
        *markdown_table(rows, ("turn", "decision", "user text")),
        "",
    ]


def _short(digest: str | None) -> str:
    return f"`{digest[:16]}…`" if digest else "– (not recorded by this backend)"


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif not isinstance(v, list):
            out[f"{prefix}{k}"] = v
    return out


def _samples(turns: Sequence[dict], n: int = 2) -> list[str]:
    """The first turns of the first `n` scenarios, so a reader sees what the numbers describe."""
    lines: list[str] = []
    seen: list[tuple[str, str]] = []
    for t in turns:
        key = (t["set"], t["scenario"])
        if key not in seen:
            if len(seen) == n:
                break
            seen.append(key)
            lines.append(f"**{t['set']}/{t['scenario']}**")
            lines.append("")
        code = t.get("technique") or {}
        tag = _label(code["code"], code.get("subtype")) if code else t["kind"]
        lines.append(f"> **User:** {t['user_text']}")
        lines.append(">")
        reply = t["reply"].replace("\n", "\n> ")
        lines.append(f"> **Listener** _({tag})_: {reply}")
        lines.append("")
    return lines


def write_report(folder: Path, summary: dict, turns: Sequence[dict], plots: bool = True) -> Path:
    made = write_plots(folder, summary, turns) if plots else []
    path = folder / "report.md"
    path.write_text(render_markdown(summary, turns, made), encoding="utf-8")
    return path
