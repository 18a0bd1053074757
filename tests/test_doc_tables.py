"""The docs' results tables are what `python -m evals docs` makes from the committed run files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evals.__main__ import main
from evals.doc_tables import TABLES, DocTablesError, replace_block, update

ROOT = Path(__file__).resolve().parents[1]


def test_every_results_table_in_the_docs_is_up_to_date_with_its_run_files(capsys):
    assert main(["docs", "--check", "--root", str(ROOT)]) == 0, capsys.readouterr().out


def test_a_changed_run_file_changes_its_table_and_only_that_one(tmp_path):
    agreement = next(t for t in TABLES if t.name == "agreement")
    for path in [agreement.doc, *agreement.build(ROOT)[1]]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    run_file = tmp_path / "docs/example-run/coder/agreement-all.json"
    figures = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**figures, "kappa_4": 0.5}))

    assert update(tmp_path, check=True, tables=(agreement,)) == ["docs/coder.md:agreement"]
    update(tmp_path, tables=(agreement,))
    assert "| 0.500 |" in (tmp_path / agreement.doc).read_text()
    assert update(tmp_path, check=True, tables=(agreement,)) == []


def test_a_block_is_replaced_between_its_markers_and_nowhere_else():
    text = "a\n<!-- results:x -->\nold\n<!-- /results:x -->\nb\n"
    assert replace_block(text, "x", "new") == "a\n<!-- results:x -->\nnew\n<!-- /results:x -->\nb\n"
    assert replace_block("<!-- results:x -->\n<!-- /results:x -->", "x", "t") == (
        "<!-- results:x -->\nt\n<!-- /results:x -->"
    )
    with pytest.raises(DocTablesError, match="results:y"):
        replace_block(text, "y", "new")
