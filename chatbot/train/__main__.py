"""python -m chatbot.train CONFIG.yaml [--set key=value ...]: train the listening adapter."""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def main(argv: list[str] | None = None) -> int:
    from chatbot.train.lora import load_config, train

    parser = argparse.ArgumentParser(description="Fine-tune the listening LoRA adapter on CPU.")
    parser.add_argument("config", help="a YAML file of TrainConfig fields")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override one field, e.g. --set max_steps=20"
    )
    args = parser.parse_args(argv)
    config = load_config(args.config, args.set)
    metrics = train(config)
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
