"""Technique coder: MITI 4.2.1 codes for a listener's utterance (rules + MiniLM classifier)."""

from chatbot.coder.coder import TechniqueCoder, load_labelled
from chatbot.coder.codes import CODES, Code
from chatbot.coder.miti import miti_summary
from chatbot.coder.rules import is_diagnosis

__all__ = ["CODES", "Code", "TechniqueCoder", "is_diagnosis", "load_labelled", "miti_summary"]
