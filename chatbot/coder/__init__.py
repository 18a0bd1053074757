"""Technique coder: MITI 4.2.1 codes for a listener's utterance.

`default_coder()` is the fine-tuned encoder (chatbot/coder/tuned.py) where its model ships, else
the rules + MiniLM regression coder (`TechniqueCoder`), which also serves tests and comparisons.
"""

from __future__ import annotations

from chatbot.coder.coder import TechniqueCoder, load_labelled
from chatbot.coder.codes import CODES, Code
from chatbot.coder.miti import miti_summary
from chatbot.coder.rules import is_diagnosis
from chatbot.coder.tuned import TunedCoder, default_tuned_coder, has_tuned_model

__all__ = [
    "CODES",
    "Code",
    "TechniqueCoder",
    "TunedCoder",
    "default_coder",
    "is_diagnosis",
    "load_labelled",
    "miti_summary",
]


def default_coder(kind: str = "auto") -> TechniqueCoder | TunedCoder:
    """The coder the app and evals use: "tuned", "rules", or "auto" (tuned where it ships)."""
    if kind == "tuned" or (kind == "auto" and has_tuned_model()):
        return default_tuned_coder()
    if kind not in ("auto", "rules"):
        raise ValueError(f"unknown coder {kind!r}: tuned, rules or auto")
    return TechniqueCoder.load()
