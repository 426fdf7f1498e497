"""``hcp sms …``: the SMS channel's commands.

  hcp sms parse [TEXT …]                 what replies mean (the reply grammar)
  hcp sms inject PHONE TEXT [--data-dir]   play a citizen's reply into the file inbox
  hcp sms outbox [--data-dir] [--follow]   what the embedded carrier has sent (masked)

Each subcommand is one ``_add_<name>(sub)`` function listed in ``SUBCOMMANDS``; adding
a command (e.g. ``hcp sms inject``) is one more function and one more entry.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path


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


def _data_dir_options(p) -> None:
    p.add_argument("--data-dir", default=None,
                   help="the gateway's data dir (default: from --config / HCP_DATA_DIR)")
    p.add_argument("--config", default=None, help="TOML settings file naming the data dir")


def _data_dir(args) -> Path:
    if args.data_dir:
        return Path(args.data_dir)
    from gateway.config import load

    return load(args.config).data_dir


def _add_inject(sub) -> None:
    p = sub.add_parser(
        "inject", help="play a citizen's SMS reply into the embedded carrier's inbox",
        description="Write a reply into <data>/sms-inbox/; the running gateway (sms.carrier "
                    "= file) picks it up within a second, as if the citizen had texted it.")
    p.add_argument("phone", help="the citizen's number (11 digits or E.164)")
    p.add_argument("text", help="the reply, e.g. 1 or \"5 窗口态度太差\"")
    _data_dir_options(p)
    p.set_defaults(func=run_inject)


def run_inject(args) -> int:
    from adapters.sms_file import inject
    from ratings.model import InvalidEvaluation, mask_phone, normalise_phone

    try:
        phone = normalise_phone(args.phone)
    except InvalidEvaluation:
        print("hcp sms inject: not a phone number", file=sys.stderr)
        return 2
    path = inject(_data_dir(args), phone, args.text)
    print(f"injected reply from {mask_phone(phone)}: {path.name}")
    return 0


def _add_outbox(sub) -> None:
    p = sub.add_parser(
        "outbox", help="print what the embedded carrier has sent (number masked)",
        description="One line per message in <data>/sms-outbox/, oldest first: time, masked "
                    "number, segments and encoding, text.")
    _data_dir_options(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new messages")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.set_defaults(func=run_outbox)


def _outbox_line(message: dict, as_json: bool) -> str:
    from ratings.model import mask_phone

    shown = {"sent_at": message.get("sent_at", ""), "to": mask_phone(message.get("to")),
             "segments": message.get("segments"), "encoding": message.get("encoding", ""),
             "text": message.get("text", "")}
    if as_json:
        return json.dumps(shown, ensure_ascii=False)
    return (f"{shown['sent_at'][:19]}  {shown['to']}  {shown['segments']} seg "
            f"{shown['encoding']}  {shown['text']}")


def run_outbox(args) -> int:
    from adapters.sms_file import read_outbox

    data_dir, last = _data_dir(args), ""
    try:
        while True:
            for message in read_outbox(data_dir, after=last):
                print(_outbox_line(message, args.json), flush=True)
                last = message["file"]
            if not args.follow:
                return 0
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0


SUBCOMMANDS = (_add_parse, _add_inject, _add_outbox)


def register(subparsers) -> None:
    sms = subparsers.add_parser("sms", help="the SMS channel")
    sub = sms.add_subparsers(dest="sms_command", required=True)
    for add in SUBCOMMANDS:
        add(sub)

