"""MITI 4.2.1 summary scores from a bag of codes (pure arithmetic)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from chatbot.coder.codes import CODES, Code

# MITI 4.2.1 thresholds (Moyers et al. 2016): "fair" and "good" competency.
R_TO_Q = {"fair": 1.0, "good": 2.0}
PCT_COMPLEX = {"fair": 40.0, "good": 50.0}


def _rating(value: float | None, thresholds: dict[str, float]) -> str | None:
    if value is None:
        return None
    if value >= thresholds["good"]:
        return "good"
    return "fair" if value >= thresholds["fair"] else "below fair"


def utterance_codes(techniques: Iterable[dict | None]) -> list[Code]:
    """MITI codes utterances, not replies: a reflection followed by a question is one of each.
    Takes recorded techniques (a reply's code with its `segments`) and returns one Code per
    utterance, so the demo panel, the transcript and the evals count alike."""
    return [
        Code.from_dict(segment)
        for technique in techniques
        if technique
        for segment in (technique.get("segments") or [technique])
    ]


def miti_summary(codes: Iterable[Code]) -> dict:
    codes = list(codes)
    counts = Counter(c.code for c in codes)
    subtypes = Counter((c.code, c.subtype) for c in codes)
    # MITI 4.2.1 has no summary code: a summary is coded as a reflection, and as it gathers
    # several statements it goes beyond what was just said, so we count it as complex.
    reflections = counts["reflection"] + counts["summary"]
    complex_reflections = subtypes[("reflection", "complex")] + counts["summary"]
    questions = counts["question"]
    r_to_q: float | None
    if questions:
        r_to_q = reflections / questions
    else:  # no questions: the ratio is unbounded if there were reflections, undefined if not
        r_to_q = float("inf") if reflections else None
    pct_complex = 100 * complex_reflections / reflections if reflections else None
    pct_open = 100 * subtypes[("question", "open")] / questions if questions else None
    return {
        "total": len(codes),
        "counts": {code: counts[code] for code in CODES},
        "reflections_incl_summaries": reflections,
        "complex_reflections_incl_summaries": complex_reflections,
        "open_questions": subtypes[("question", "open")],
        "r_to_q": r_to_q,
        "pct_complex_reflections": pct_complex,
        "pct_open_questions": pct_open,
        "advice_rate": counts["advice"] / len(codes) if codes else None,
        "ratings": {
            "r_to_q": _rating(r_to_q, R_TO_Q),
            "pct_complex_reflections": _rating(pct_complex, PCT_COMPLEX),
        },
    }
