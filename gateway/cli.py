"""``hcp``: one console script; each area registers its own subcommands.

Each ``gateway.cli_*`` module exposes ``register(subparsers)`` that adds its
commands and sets ``func`` (called with the parsed args; returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("gateway.cli_serve", "gateway.cli_flows", "gateway.cli_sms",
                   "gateway.cli_ivr", "gateway.cli_prompts", "gateway.cli_console",
                   "gateway.cli_store", "gateway.cli_evaluations", "gateway.cli_cases")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hcp", description="好差评 hotline and SMS gateway")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not an absent area
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
