"""`python -m evals run|compare|report|docs|code|bench`. Heavy imports wait until a command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """Evaluate the listener reproducibly.

  run CONFIG.yaml       run every scenario through the app's listener; writes a run folder
  compare RUN_A RUN_B   metrics of two run folders side by side (markdown to stdout)
  report RUN            rebuild summary metrics, report.md and plots from a run's turns.jsonl
  docs [--check]        rewrite the results tables in docs/ from the committed run files
  code ...              code utterances with the technique coder (see `code --help`)
  bench ...             engine benchmarks (see `bench --help`)
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run a config (see evals/configs/)")
    run.add_argument("config", help="run config YAML, e.g. evals/configs/ci.yaml")
    run.add_argument("--out", help="run folder (default: <run.output_dir>/<run.name>-<UTC time>)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a setting, e.g. run.limit=1",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    compare = sub.add_parser("compare", help="compare two run folders")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    report = sub.add_parser("report", help="rebuild a run's summary metrics and report")
    report.add_argument("run_dir")
    docs = sub.add_parser("docs", help="rewrite the docs' results tables from committed run files")
    docs.add_argument("--check", action="store_true", help="write nothing; fail if a table is out of date")
    docs.add_argument("--root", type=Path, default=Path("."), help="the repository (default: here)")
    sub.add_parser("code", help="technique coder CLI", add_help=False)
    sub.add_parser("bench", help="engine benchmarks", add_help=False)
    return parser


def _delegate(command: str, rest: list[str]) -> int:
    if command == "code":
        from evals.coding_cli import main as code_main

        return code_main(rest) or 0
    from evals.bench import main as bench_main

    return bench_main(rest) or 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("code", "bench"):  # their own parsers own the rest of the line
        return _delegate(argv[0], argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        import logging

        # Per-turn events (crisis routed, replies replaced) are in turns.jsonl; keep stderr for
        # the progress bar and real errors.
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
        from chatbot.models import ModelError
        from evals.datasets import DatasetError
        from evals.runconfig import RunConfigError, load_run_config
        from evals.runner import run

        try:
            config = load_run_config(args.config, args.overrides)
            folder = run(config, args.out, progress=not args.no_progress, plots=not args.no_plots)
        except (RunConfigError, DatasetError, ModelError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(folder)
        return 0
    if args.command == "compare":
        from evals.compare import CompareError, compare_dirs

        try:
            print(compare_dirs(args.run_a, args.run_b), end="")
        except CompareError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "report":
        from evals.runner import rebuild_report

        print(rebuild_report(args.run_dir))
        return 0
    if args.command == "docs":
        from evals.doc_tables import DocTablesError, update

        try:
            changed = update(args.root, check=args.check)
        except (DocTablesError, OSError, KeyError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        verb = "out of date" if args.check else "rewritten"
        print("\n".join(f"{verb}: {name}" for name in changed) or "all tables up to date")
        return 1 if args.check and changed else 0
    parser.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
