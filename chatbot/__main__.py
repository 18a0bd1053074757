"""Terminal chat: `python -m chatbot`. Type /quit to leave, /undo to take back a turn."""

from __future__ import annotations

import argparse
import sys

from chatbot.cli import add_config_arguments, config_from_args
from chatbot.config import ConfigError
from chatbot.factory import offline_environment

DISCLOSURE = (
    "I'm an AI offering reflective listening. I'm not a therapist or a crisis service.\n"
    "Nothing you type leaves this computer or is saved. /quit to leave, /undo to take back a turn."
)


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    parser = argparse.ArgumentParser(prog="python -m chatbot", description=__doc__)
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from chatbot.factory import build_listener

    print("Loading...", file=sys.stderr, flush=True)
    listener = build_listener(config)
    if listener.model is None:
        print(f"warning: {listener.model_problem}", file=sys.stderr)
    conversation = listener.new_conversation()
    interactive = sys.stdin.isatty()
    print(DISCLOSURE, flush=True)
    while True:
        try:
            line = input("you> " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line.strip() == "/quit":
            return 0
        if line.strip() == "/undo":
            conversation.undo()
            print("(took back the last turn)")
            continue
        if not interactive:
            print(f"you> {line}")
        print("bot> ", end="", flush=True)
        for piece in listener.respond(conversation, line):
            print(piece, end="", flush=True)
        print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
