"""``hcp sms …``: the SMS channel's commands.

Each subcommand is one ``_add_<name>(sub)`` function listed in ``SUBCOMMANDS``; adding
a command (e.g. ``hcp sms inject``) is one more function and one more entry.
"""

from __future__ import annotations

import argparse
import json
import re
import sys


def _add_parse(sub) -> None:
    p = sub.add_parser(
        "parse", help="read SMS replies and print what they mean, one JSON object per reply",
        description="Parse SMS replies given as arguments, or one per line on stdin.")
    p.add_argument("text", nargs="*", help="replies (default: one per line on stdin)")
    p.add_argument("--reason", action="store_true",
                   help="the flow expects a reason (digits are reason-menu numbers)")
    p.add_argument("--scale", choices=("keypad", "exchange", "gbt"), default="keypad",
                   help="which grade a bare digit means (default: keypad, 1 = 非常满意)")
    codes = p.add_mutually_exclusive_group()
    codes.add_argument("--numeric-codes", action="store_true",
                       help="reply codes are 4–6 digits (default: a letter and digits, A3)")
    codes.add_argument("--code-pattern", default=None, help="reply-code regex (upper case)")
    p.add_argument("--pending", default=None,
                   help="comma-separated pending reply codes; any other code is unknown")
    p.set_defaults(func=run_parse)


def run_parse(args) -> int:
    from sms.grammar import DigitScale, ReplyConvention, parse

    scale = DigitScale(args.scale)
    if args.code_pattern:
        try:
            convention = ReplyConvention(digit_scale=scale, code_pattern=args.code_pattern)
        except (ValueError, re.error) as exc:  # a bad regex, or one that reads digits
            print(f"hcp sms parse: {exc}", file=sys.stderr)
            return 2
    elif args.numeric_codes:
        convention = ReplyConvention.numeric_codes(scale=scale)
    else:
        convention = ReplyConvention.letter_codes(scale=scale)
    pending = [c for c in args.pending.split(",") if c.strip()] if args.pending else None
    replies = args.text if args.text else (line.rstrip("\r\n") for line in sys.stdin)
    for reply in replies:
        parsed = parse(reply, convention, expecting_reason=args.reason, pending_codes=pending)
        print(json.dumps({"text": reply, **parsed.to_json()}, ensure_ascii=False))
    sys.stdout.flush()
    return 0


SUBCOMMANDS = (_add_parse,)


def register(subparsers) -> None:
    sms = subparsers.add_parser("sms", help="the SMS channel")
    sub = sms.add_subparsers(dest="sms_command", required=True)
    for add in SUBCOMMANDS:
        add(sub)


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="hcp")
    register(parser.add_subparsers(dest="command", required=True))
    arguments = parser.parse_args()
    sys.exit(arguments.func(arguments))
