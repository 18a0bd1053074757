"""Shared command-line options: --config, --set and a few shortcuts."""

from __future__ import annotations

import argparse


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a YAML file of settings (see chatbot/defaults.yaml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set model.backend=transformers (repeatable)",
    )
    parser.add_argument(
        "--model",
        help="shortcut: a Hugging Face model id or local folder "
        "(implies --set model.backend=transformers unless --backend says otherwise)",
    )
    parser.add_argument("--backend", choices=["embedded", "transformers", "openai"])
    parser.add_argument("--base-url", help="shortcut for model.base_url (openai backend)")
    parser.add_argument("--country", help="crisis resources for this country, e.g. US, UK, DE")


def config_from_args(args: argparse.Namespace):
    from chatbot.config import load_config

    overrides = list(args.overrides)
    if args.model:
        overrides.append(f"model.name={args.model}")
        if not args.backend:
            overrides.append("model.backend=transformers")
    if args.backend:
        overrides.append(f"model.backend={args.backend}")
    if args.base_url:
        overrides.append(f"model.base_url={args.base_url}")
    if args.country:
        overrides.append(f"locale.country={args.country}")
    return load_config(args.config, overrides)


def load_listener(prog: str, description: str | None, argv: list[str] | None):
    """Parse the shared options and build the listener: (config, listener), or None after a
    clear error on stderr. Entry points share this so they start the same way."""
    import sys

    from chatbot.config import ConfigError
    from chatbot.factory import build_listener, offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    print("Loading the model...", file=sys.stderr, flush=True)
    listener = build_listener(config)
    if listener.model is None:
        print(f"warning: {listener.model_problem}", file=sys.stderr)
    return config, listener
