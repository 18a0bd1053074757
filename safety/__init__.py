"""Safety layer: every user message and every model reply passes through here.

Crisis language gets fixed, reviewed text with human resources; the language model is never called
for it. See docs/safety.md for the protocol.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from .resources import (
    Country,
    Emergency,
    Resource,
    ResourceDirectory,
    ResourceFileError,
    list_countries,
    load_resources,
)
from .risk import ConversationRisk
from .route import CrisisReply, crisis_reply, safe_replacement_reply
from .screen import SafetyScreen
from .types import CATEGORIES, Assessment, ReplyCheck

__all__ = [
    "CATEGORIES",
    "Assessment",
    "ConversationRisk",
    "Country",
    "CrisisReply",
    "Emergency",
    "ReplyCheck",
    "Resource",
    "ResourceDirectory",
    "ResourceFileError",
    "SafetyScreen",
    "crisis_reply",
    "list_countries",
    "load_resources",
    "safe_replacement_reply",
]
