"""The crisis resource directory (safety/resources.yaml), validated at load."""

from __future__ import annotations

import functools
import re
from importlib import resources as pkg_resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from .types import CATEGORIES

RESOURCES_FILE = "resources.yaml"
_CHECKED = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")  # a month is honest when the day is unknown


class ResourceFileError(ValueError):
    """The YAML file is missing, malformed or fails validation; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resource(_Strict):
    name: str
    how: tuple[Literal["call", "text", "chat", "web", "email"], ...]
    contact: str  # number, short code or address
    display: str  # one human line, e.g. "Call or text 988, or chat at 988lifeline.org"
    for_categories: tuple[str, ...]  # categories, or "any"
    helping_others: bool = False  # also for people worried about someone else
    audience: str | None = None  # e.g. "veterans"; None = anyone
    hours: str | None = None
    notes: str | None = None
    source: str
    checked: str | None  # YYYY-MM or YYYY-MM-DD; None only when never checked
    verified: bool

    @field_validator("for_categories")
    @classmethod
    def _known_categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c != "any" and c not in CATEGORIES]
        if unknown or not value:
            raise ValueError(f"unknown categories {unknown}; use {CATEGORIES} or 'any'")
        return value

    @field_validator("checked")
    @classmethod
    def _date_shape(cls, value: str | None) -> str | None:
        if value is not None and not _CHECKED.match(value):
            raise ValueError("checked must be YYYY-MM or YYYY-MM-DD")
        return value

    @model_validator(mode="after")
    def _verified_needs_date(self) -> Resource:
        if self.verified and not self.checked:
            raise ValueError("a verified entry needs a checked date")
        return self

    def serves(self, category: str | None) -> bool:
        return "any" in self.for_categories or (category in self.for_categories)


class Emergency(_Strict):
    number: str
    notes: str | None = None
    source: str
    checked: str | None
    verified: bool


class Country(_Strict):
    name: str
    emergency: Emergency
    resources: tuple[Resource, ...]


class ResourceDirectory(_Strict):
    countries: dict[str, Country]

    @model_validator(mode="after")
    def _has_fallback(self) -> ResourceDirectory:
        if "INTL" not in self.countries:
            raise ValueError("the directory needs an INTL fallback entry")
        return self

    def country(self, code: str) -> tuple[str, Country]:
        """The entry actually used for `code` (case-insensitive), falling back to INTL."""
        key = (code or "").strip().upper()
        if key == "GB":
            key = "UK"
        if key in self.countries:
            return key, self.countries[key]
        return "INTL", self.countries["INTL"]


def parse_resources(text: str, filename: str = RESOURCES_FILE) -> ResourceDirectory:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ResourceFileError(f"{filename}: not valid YAML: {exc}") from exc
    try:
        return ResourceDirectory.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResourceFileError(f"{filename}: field '{where}': {first['msg']} ({len(exc.errors())} error(s))") from exc


@functools.lru_cache(maxsize=4)
def load_resources(path: str | None = None) -> ResourceDirectory:
    if path is None:
        text = pkg_resources.files("safety").joinpath(RESOURCES_FILE).read_text(encoding="utf-8")
        return parse_resources(text, f"safety/{RESOURCES_FILE}")
    return parse_resources(Path(path).read_text(encoding="utf-8"), path)


def list_countries() -> list[tuple[str, str]]:
    """(code, display name) for the app's country selector; the fallback last."""
    directory = load_resources()
    codes = [c for c in directory.countries if c != "INTL"] + ["INTL"]
    return [(c, directory.countries[c].name) for c in codes]
