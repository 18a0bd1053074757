"""Fixed crisis replies: pure, deterministic, never touches a language model."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources as pkg_resources

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .resources import Country, Resource, ResourceFileError, load_resources
from .types import CATEGORIES, Assessment, ReplyCheck

REPLIES_FILE = "replies.yaml"
MAX_LISTED = 4  # keep the reply short; the web panel shows the full list


class _Replacement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default: str
    method_detail: str
    encouragement: str
    diagnosis: str
    claims_human: str
    claims_therapist: str
    crisis_voice: str


class _Replies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    immediate_danger: str
    by_category: dict[str, str]
    helping_someone_else: str
    check_in: str
    screen_error: str
    replacement: _Replacement


@functools.lru_cache(maxsize=1)
def load_replies() -> _Replies:
    text = pkg_resources.files("safety").joinpath(REPLIES_FILE).read_text(encoding="utf-8")
    try:
        replies = _Replies.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResourceFileError(f"safety/{REPLIES_FILE}: field '{where}': {first['msg']}") from exc
    missing = set(CATEGORIES) - set(replies.by_category)
    if missing:
        raise ResourceFileError(f"safety/{REPLIES_FILE}: by_category lacks {sorted(missing)}")
    return replies


@dataclass(frozen=True)
class CrisisReply:
    text: str  # fixed, reviewed, warm text (markdown); includes the resources for the country
    resources: tuple[Resource, ...]  # what the web app shows in its persistent panel
    country: str  # the directory entry actually used (fallback "INTL")
    category: str | None

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "resources": [r.model_dump() for r in self.resources],
            "country": self.country,
            "category": self.category,
        }


def select_resources(entry: Country, category: str | None, helping_other: bool) -> tuple[Resource, ...]:
    """Category-specific services first, then general ones; specialised audiences last."""
    pool = [r for r in entry.resources if r.serves(category)] if category else list(entry.resources)
    if helping_other:
        pool = [r for r in pool if r.helping_others] or pool

    def rank(r: Resource) -> tuple[int, int]:
        specific = 0 if category and category in r.for_categories else 1
        return (specific, 1 if r.audience else 0)

    return tuple(sorted(pool, key=rank))  # sorted() is stable, so YAML order breaks ties


def _bullets(resources: tuple[Resource, ...]) -> str:
    """Short list for the reply text: services for specific audiences only if little else exists."""
    general = [r for r in resources if not r.audience]
    shown = general if len(general) >= 2 else list(resources)
    lines = []
    for r in shown[:MAX_LISTED]:
        who = f" (for {r.audience})" if r.audience else ""
        lines.append(f"- **{r.name}**{who}: {r.display}")
    return "\n".join(lines)


def learned_only(assessment: Assessment) -> bool:
    """Routed by a learned layer alone (the classifier or the nearest examples): no rule, no
    conversation build-up, no danger now. Such a route asks before it assumes (the check-in)."""
    return (
        bool(assessment.evidence)
        and assessment.evidence[0].startswith(("example:", "classifier:"))
        and not assessment.immediate_danger
        and assessment.error is None
    )


def crisis_reply(assessment: Assessment, country: str = "US") -> CrisisReply:
    replies = load_replies()
    code, entry = load_resources().country(country)
    category = assessment.category if assessment.category in CATEGORIES else None
    helping_other = assessment.subject == "other"
    chosen = select_resources(entry, category, helping_other)

    if helping_other:
        template = replies.helping_someone_else
    elif category is not None and learned_only(assessment):
        template = replies.check_in
    elif category is None:
        template = replies.screen_error
    else:
        template = replies.by_category[category]
    text = template.format(emergency=entry.emergency.number, resources=_bullets(chosen), where=entry.name)
    if assessment.immediate_danger and not helping_other and category != "medical_emergency":
        text = replies.immediate_danger.format(emergency=entry.emergency.number) + "\n\n" + text
    return CrisisReply(text=text, resources=chosen, country=code, category=category)


def safe_replacement_reply(check: ReplyCheck) -> str:
    table = load_replies().replacement
    return getattr(table, check.reason or "default", None) or table.default
