"""Terminal chat: `python -m chatbot`. Type /quit to leave, /undo to take back a turn."""

from __future__ import annotations

import sys

from chatbot.cli import load_listener

DISCLOSURE = (
    "I'm an AI offering reflective listening. I'm not a therapist or a crisis service.\n"
    "Nothing you type leaves this computer or is saved. /quit to leave, /undo to take back a turn."
)


def main(argv: list[str] | None = None) -> int:
    loaded = load_listener("python -m chatbot", __doc__, argv)
    if loaded is None:
        return 2
    _, listener = loaded
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
