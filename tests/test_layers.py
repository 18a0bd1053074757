"""Import arrows between the packages: safety/ is the lowest layer, chatbot/ sits on it, evals/ on both."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages it must never import
FORBIDDEN = {"safety": {"chatbot", "evals", "app"}, "chatbot": {"evals", "app"}}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, wherever it sits (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_higher_layer(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    wrong = {
        str(f.relative_to(ROOT)): sorted(imported_packages(f) & FORBIDDEN[package])
        for f in files
        if imported_packages(f) & FORBIDDEN[package]
    }
    assert wrong == {}


def test_the_import_parser_sees_lazy_and_dotted_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\ndef f():\n    from chatbot.embeddings import embed\n    import evals.runner\n")
    assert imported_packages(module) == {"os", "chatbot", "evals"}
