"""The wheel holds every file the code reads at run time, and the code finds them there.

The wheel is built from a copy of the source (so the checkout gets no build/ folder), installed
into a folder of its own, and the loaders run from that folder in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chatbot", "safety", "evals", "prompts")
SEALED = Path("evals/data/sealed")  # stays in the checkout: never shipped


def data_files(package: str) -> set[str]:
    """Every non-Python file of a package in the checkout, as wheel paths."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / package).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


def test_every_data_file_of_the_product_is_in_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set().union(*(data_files(p) for p in PACKAGES))
    expected = {n for n in expected if not n.startswith(SEALED.as_posix() + "/")}
    assert "chatbot/coder/data/labelled.jsonl" in expected  # the list is not empty by accident
    assert sorted(expected - names) == []


def test_sealed_test_sets_are_not_in_the_wheel(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("evals/data/") for n in names)
    assert [n for n in names if n.startswith(SEALED.as_posix())] == []


LOADERS = """
import json, sys
import chatbot, safety
from chatbot.config import load_config
from chatbot.prompts import load_prompt, prompts_dir
from chatbot.coder.coder import load_labelled
from chatbot.coder.reply_rules import load_reply_rules
from chatbot.coder.rules import load_rules as coder_rules
from chatbot.coder.tuned import load_turns
from chatbot.train.data import corpus_dir
from chatbot.backends.embedded import shipped_adapter_dir
from chatbot.webui import render
from safety.rules import load_rules
from safety.output_rail import load_rail
from safety.route import load_replies
from safety.resources import load_resources
from safety.normalize import tables
from safety.corpus import load_messages, load_conversations
from safety.semantic import load_examples_file
from safety.classifier import model_available
load_config()
prompts = [load_prompt(p.stem) for p in sorted(prompts_dir().glob("*.yaml"))]
coder_rules(); load_reply_rules(); load_rules(); load_rail(); load_replies(); load_resources(); tables()
render.load_texts()
print(json.dumps({
    "files": [chatbot.__file__, safety.__file__],
    "prompts": len(prompts),
    "labelled": len(load_labelled()),
    "turns": len(load_turns()),
    "listening_corpus": len(list(corpus_dir().glob("*.jsonl"))),
    "adapter": (shipped_adapter_dir("listening") / "adapter_config.json").is_file(),
    "safety_messages": len(load_messages()),
    "safety_conversations": len(load_conversations()),
    "examples": len(load_examples_file().crisis),
    "classifier": model_available(),
}))
"""


def test_the_installed_wheel_finds_its_data(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    # -P: the checkout (cwd) is not put on sys.path, so only the installed copy can be imported
    run = subprocess.run(
        [sys.executable, "-P", "-c", LOADERS], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(f.startswith(str(target)) for f in found.pop("files"))
    assert found.pop("adapter") is True
    assert found.pop("classifier") is True
    assert all(count > 0 for count in found.values()), found
