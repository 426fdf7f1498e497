"""``hcp cases``: the bad-rating cases (seed art. 15) for operators and tests.

  hcp cases list [--status open|all|<status>] [--json]
  hcp cases show ID [--json]                    the case, its next steps and its log
  hcp cases move ID FROM TO --by NAME [--note T] [--verification true|partly|untrue]
                                                [--days N]
  hcp cases verify ID --by NAME --result true|partly|untrue --finding T
  hcp cases rectify ID --by NAME [--days N] [--note T]
  hcp cases request-exclusion ID --by NAME --kind mistaken|malicious --finding T
  hcp cases approve-exclusion ID --by NAME [--note T] [--no-send]
  hcp cases reject-exclusion ID --by NAME --note T
  hcp cases send-corrections                    one pass of the correction queue

Every step is the same compare-and-set as on the console (``ratings.cases``); the
case log records ``via: cli <os user>@<host>`` as where the decision came from (the
OS account is the audit anchor here: ``--by`` is the supervisor's name as typed).
``approve-exclusion`` then sends the queued correction to the configured core store
(``--no-send`` leaves it to the gateway's sender). Exit status: 0 done, 1 refused
(the reason on stderr), 2 the gateway's Redis not found. Phone numbers are masked.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
import sys

from gateway import running
from gateway.cli_store import config_options, load_config
from ratings.model import mask_phones_in_text

SHOWN = ("id", "status", "status_label", "grade", "grade_label", "target_kind", "target",
         "assess_number", "phone_masked", "deadline", "overdue", "overdue_kind",
         "verification", "verification_label", "verification_note", "verified_by",
         "rectify_deadline", "rectify_result", "rectified_late", "feedback",
         "exclusion_kind", "exclusion_requested_by", "exclusion_finding",
         "exclusion_approved_by", "exclusion_rejected_by", "exclusion_rejected_why",
         "correction_status", "correction_error", "next")


def via() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"cli {user}@{socket.gethostname()}"


def shown(rec: dict) -> dict:
    """The case as it may be shown: no phone number, free text masked."""
    return {k: mask_phones_in_text(rec[k]) if isinstance(rec[k], str) else rec[k]
            for k in SHOWN if k in rec}


async def _with_cases(config, work):
    import redis.asyncio as aioredis

    from ratings.cases import Cases

    found = running.find(config)
    client = aioredis.Redis.from_url(found.url, socket_connect_timeout=2, socket_timeout=10)
    try:
        try:
            await client.ping()
        except Exception as exc:  # redis-py's ConnectionError, AuthenticationError, OSError
            raise running.unreachable(found, exc) from None
        return await work(Cases(client), client)
    finally:
        await client.aclose()


async def _send_corrections(config, client) -> dict:
    from gateway.serve import build_store
    from ratings.corrections import CorrectionSender

    store = build_store(config)
    try:
        return await CorrectionSender(client, store, consumer="cli").drain()
    finally:
        await store.close()


def _step(args, cases):

    who = {"by": args.by, "via": via()}
    if args.step == "move":
        return cases.move(args.id, args.from_status, args.to_status, args.by, args.note,
                          verification=args.verification, via=who["via"],
                          working_days=args.days)
    if args.step == "verify":
        return cases.verify(args.id, args.result, args.finding, **who)
    if args.step == "rectify":
        return cases.rectify(args.id, note=args.note, working_days=args.days, **who)
    if args.step == "request-exclusion":
        return cases.request_exclusion(args.id, args.kind, args.finding, **who)
    if args.step == "approve-exclusion":
        return cases.approve_exclusion(args.id, None, args.note, **who)
    if args.step == "reject-exclusion":
        return cases.reject_exclusion(args.id, args.note, **who)
    raise AssertionError(args.step)


def run(args) -> int:
    from ratings.cases import CaseError

    config = load_config(args, f"cases {args.step}")
    if config is None:
        return 2

    async def work(cases, client):
        if args.step == "list":
            status = None if args.status in ("", "all") else args.status
            return [shown(r) for r in await cases.list(status, limit=args.limit)]
        if args.step == "send-corrections":
            return await _send_corrections(config, client)
        if args.step == "show":
            rec = await cases.get(args.id)
            if rec is None:
                raise CaseError("not_found", "no such case")
            log = [{k: mask_phones_in_text(v) if isinstance(v, str) else v
                    for k, v in h.items()} for h in await cases.history(args.id)]
            return {"case": shown(rec), "log": log}
        out = {"case": shown(await _step(args, cases))}
        if args.step == "approve-exclusion" and not args.no_send:
            out["corrections"] = await _send_corrections(config, client)
        return out

    try:
        result = asyncio.run(_with_cases(config, work))
    except running.GatewayNotRunning as exc:
        print(f"hcp cases: {exc}", file=sys.stderr)
        return 2
    except CaseError as exc:
        print(f"hcp cases {args.step}: refused ({exc.code}): {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False) or args.step not in ("show", "list"):
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    rows = result if args.step == "list" else [result["case"]]
    for rec in rows:
        print("  ".join(f"{k}={rec[k]}" for k in ("id", "status_label", "grade_label",
                                                  "verification_label", "overdue_kind",
                                                  "next") if rec.get(k) not in (None, "")))
    if args.step == "show":
        for h in result["log"]:
            print(f"  {h.get('at', '')}  {h.get('by', '')}  {h.get('step', '')} "
                  f"{h.get('from', '')} → {h.get('to', '')}  {h.get('note', '')}  "
                  f"{h.get('via', '')}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("cases", help="bad-rating cases: callback, verification, "
                              "rectification, exclusion (seed art. 15)")
    sub = p.add_subparsers(dest="step", required=True)

    def add(name, help_text, with_id=True, by=True):
        q = sub.add_parser(name, help=help_text)
        if with_id:
            q.add_argument("id", help="the case id (= the evaluation id)")
        if by:
            q.add_argument("--by", required=True, help="the supervisor taking the step")
        config_options(q)
        q.set_defaults(func=run)
        return q

    q = add("list", "cases, newest first (open: nearest deadline first)", False, False)
    q.add_argument("--status", default="open")
    q.add_argument("--limit", type=int, default=200)
    q.add_argument("--json", action="store_true")
    q = add("show", "one case, its next steps and its log", by=False)
    q.add_argument("--json", action="store_true")
    q = add("move", "the console's status move (FROM TO)")
    q.add_argument("from_status", metavar="FROM")
    q.add_argument("to_status", metavar="TO")
    q.add_argument("--note", default="")
    q.add_argument("--verification", choices=("true", "partly", "untrue"), default=None)
    q.add_argument("--days", type=int, default=None, help="rectification deadline")
    q = add("verify", "record the verification result of a called-back case")
    q.add_argument("--result", required=True, choices=("true", "partly", "untrue"))
    q.add_argument("--finding", required=True)
    q = add("rectify", "start the rectification (属实/部分属实) with its deadline")
    q.add_argument("--days", type=int, default=None, help="working days (default: config)")
    q.add_argument("--note", default="")
    q = add("request-exclusion", "ask that a rating verified 不属实 be excluded")
    q.add_argument("--kind", required=True, choices=("mistaken", "malicious"))
    q.add_argument("--finding", required=True)
    q = add("approve-exclusion", "approve another supervisor's exclusion request")
    q.add_argument("--note", default="")
    q.add_argument("--no-send", action="store_true",
                   help="leave the correction to the gateway's sender")
    q = add("reject-exclusion", "reject another supervisor's exclusion request")
    q.add_argument("--note", required=True)
    add("send-corrections", "send the queued corrections to the core store once", False,
        False)
