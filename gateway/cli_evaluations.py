"""``hcp evaluations show``: one evaluation's way from the intake to the core store.

  hcp evaluations show ID [--json]
  hcp evaluations show --ticket T [--json]

For each evaluation: its status in the gateway's Redis (``accepted``: in the
outbox, not yet taken by the store; ``submitted``: the store has every record;
``dead``: refused for good or retries ran out), attempts, last error, accepted
and submitted times, what it rated — and its record(s) if they reached the
store: read from the local SQLite store, or, for an HTTP core store, the fact
that the exchange acknowledged them (the gateway does not read the exchange).

``--ticket T`` finds the evaluations of a ticket (or item) through the intake's
dedupe keys (``ratings.keys``: the item, batch, theme and staff keys of T and a
follow-up of each) and through the local store's records with projectNo T (which
outlive the 90 days Redis keeps a final status).

The Redis is found by ``gateway.running`` (redis.url, or the private Redis of the
running gateway); without it the command says the gateway is not running and
still shows what the local store holds. Phone numbers are masked.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys

from gateway import running
from gateway.cli_store import (
    config_options,
    grade_text,
    load_config,
    local_store_path,
    masked_payload,
)
from ratings import keys
from ratings.model import mask_phone, mask_phones_in_text

STATUS_MEANING = {
    "accepted": "in the outbox, not yet taken by the core store",
    "submitted": "the core store has it",
    "dead": "not stored: refused by the store for good, or retries ran out (last error)",
}
_GLOB = re.compile(r"([*?\[\]\\])")


class Reader:
    """The gateway's Redis, read through the intake's own status decoding."""

    def __init__(self, found: running.GatewayRedis):
        self.found = found

    async def __aenter__(self) -> Reader:
        import redis.asyncio as aioredis

        from ratings.intake import Intake

        self.redis = aioredis.Redis.from_url(self.found.url, socket_connect_timeout=2,
                                             socket_timeout=10)
        try:
            await self.redis.ping()
        except Exception as exc:  # redis-py's ConnectionError, AuthenticationError, OSError …
            await self.redis.aclose()
            raise running.unreachable(self.found, exc) from None
        self.intake = Intake(self.redis, b"")  # status() only: no phone key needed
        return self

    async def __aexit__(self, *exc) -> None:
        await self.redis.aclose()

    async def ids_for_project(self, project: str) -> list[str]:
        """Evaluations that hold project (a ticket or item id), with their follow-ups."""
        holders = await self.redis.mget(keys.item(project), keys.batch(project),
                                        keys.theme(project))
        found = [keys.decoded(h) for h in holders if h]
        pattern = _GLOB.sub(r"\\\1", keys.staff(project, "")) + "*"
        async for key in self.redis.scan_iter(match=pattern, count=1000):
            holder = await self.redis.get(key)
            if holder:
                found.append(keys.decoded(holder))
        follow_ups = [await self.redis.hget(keys.first(h), "fu") for h in found]
        found += [keys.decoded(f) for f in follow_ups if f]
        return list(dict.fromkeys(found))

    async def all_ids(self) -> list[str]:
        prefix = keys.evaluation("")
        ids = []
        async for key in self.redis.scan_iter(match=_GLOB.sub(r"\\\1", prefix) + "*",
                                              count=1000):
            ids.append(keys.decoded(key)[len(prefix):])
        return ids

    async def statuses(self, ids: list[str]) -> list[dict]:
        out: list[dict] = []
        for start in range(0, len(ids), 200):
            chunk = await asyncio.gather(*(self.intake.status(i) for i in ids[start:start + 200]))
            out += [s for s in chunk if s]
        return out


def shown_status(status: dict) -> dict:
    """A status record as it may be shown: the phone masked, free text filtered."""
    shown = dict(status)
    if shown.get("last_error"):
        shown["last_error"] = mask_phones_in_text(shown["last_error"])
    ev = dict(shown.get("evaluation") or {})
    if ev:
        if ev.get("phone"):
            ev["phone"] = mask_phone(ev["phone"])
        if ev.get("comment"):
            ev["comment"] = mask_phones_in_text(ev["comment"])
        shown["evaluation"] = ev
    return shown


def _add_show(sub) -> None:
    p = sub.add_parser(
        "show", help="an evaluation's status, attempts, last error and its store record",
        description="Status in the gateway's Redis (accepted/submitted/dead), attempts, last "
                    "error, accepted/submitted times and the core store's record(s).")
    p.add_argument("id", nargs="?", help="the evaluation id (POST /v1/evaluations answers it)")
    p.add_argument("--ticket", default=None,
                   help="every evaluation of a ticket or item id (instead of ID)")
    p.add_argument("--json", action="store_true", help="one JSON document")
    config_options(p)
    p.set_defaults(func=run_show)


def _store_records(config, ev_ids: list[str], project: str | None) -> dict[str, list[dict]]:
    """Local-store records by evaluation id ({} for an HTTP store or no store file)."""
    from adapters.store_local import read_records
    from gateway.cli_store import record_row

    if config.core_url:
        return {}
    path = local_store_path(config)
    found: dict[str, list[dict]] = {}
    try:
        if project is not None:
            for record in read_records(path, project_no=project, last=1000)[0]:
                found.setdefault(record["evaluation_id"], []).append(record_row(record))
        for ev_id in ev_ids:
            if ev_id not in found:
                rows = [record_row(r) for r in read_records(path, evaluation_id=ev_id,
                                                            last=1000)[0]]
                if rows:
                    found[ev_id] = rows
    except FileNotFoundError:
        return {}
    return found


async def _read(found: running.GatewayRedis, ev_id: str | None, ticket: str | None
                ) -> list[dict]:
    async with Reader(found) as reader:
        ids = [ev_id] if ev_id else await reader.ids_for_project(ticket)
        statuses = await reader.statuses(ids)
    statuses.sort(key=lambda s: s.get("accepted_at") or "")
    return [shown_status(s) for s in statuses]


def run_show(args) -> int:
    if bool(args.id) == bool(args.ticket):
        print("hcp evaluations show: give an evaluation ID or --ticket T", file=sys.stderr)
        return 2
    config = load_config(args, "evaluations show")
    if config is None:
        return 2
    problem = None
    statuses: list[dict] = []
    try:
        found = running.find(config)
        statuses = asyncio.run(_read(found, args.id, args.ticket))
        redis_text = found.description
    except running.GatewayNotRunning as exc:
        problem, redis_text = str(exc), None
    ids = [s["id"] for s in statuses] or ([args.id] if args.id else [])
    records = _store_records(config, ids, args.ticket)
    ids += [i for i in records if i not in ids]  # in the store, no status (left) in Redis
    by_id = {s["id"]: s for s in statuses}
    shown = [{"id": i, "status": by_id.get(i), "store_records": records.get(i, [])}
             for i in ids if i in by_id or i in records]
    store = _store_text(config)
    if args.json:
        print(json.dumps({"redis": redis_text, "redis_problem": problem, "store": store,
                          "evaluations": shown}, ensure_ascii=False, indent=1))
    else:
        for n, item in enumerate(shown):
            if n:
                print()
            print("\n".join(_evaluation_lines(config, item, problem is None)))
    if problem:
        print(f"hcp evaluations show: {problem}", file=sys.stderr)
        return 1
    if not shown:
        what = f"evaluation {args.id}" if args.id else f"evaluation of {args.ticket}"
        print(f"hcp evaluations show: no {what} in {redis_text} (a final status is kept "
              f"90 days) nor in the store ({store})", file=sys.stderr)
        return 1
    return 0


def _store_text(config) -> str:
    from gateway.config_values import redact_url

    if config.core_url:
        return f"HTTP core store {redact_url(config.core_url)}"
    return f"local SQLite {local_store_path(config)}"


def _evaluation_lines(config, item: dict, redis_read: bool) -> list[str]:
    status = item["status"]
    records = item["store_records"]
    if status is None:
        state = ("status unknown: the gateway is not running" if not redis_read
                 else "no status in Redis (a final status is kept 90 days)")
        lines = [f"evaluation {item['id']}  ({state})"]
    else:
        lines = [f"evaluation {item['id']}  {status['status']}: "
                 f"{STATUS_MEANING.get(status['status'], '')}"]
        ev = status.get("evaluation") or {}
        if ev:
            target = ev.get("target") or {}
            staff = f" staff {target['staff_id']}" if target.get("staff_id") else ""
            number = "follow-up" if ev.get("assess_number") == 2 else "first evaluation"
            lines.append(f"  rated         {target.get('kind', '?')} {target.get('id', '?')}"
                         f"{staff}: {ev.get('grade', '?')}, {ev.get('channel', '?')}, {number}")
            ticket = (ev.get("context") or {}).get("ticket")
            if ticket and ticket != target.get("id"):
                lines.append(f"  ticket        {ticket}")
            if ev.get("phone"):
                lines.append(f"  caller        {ev['phone']}")
        lines += [f"  attempts      {status.get('attempts', 0)}",
                  f"  last error    {status.get('last_error') or '-'}",
                  f"  accepted at   {status.get('accepted_at') or '-'}",
                  f"  submitted at  {status.get('submitted_at') or '-'}",
                  f"  covers        {', '.join(status.get('covers') or []) or '-'}"]
    lines += _store_lines(config, status, records)
    return lines


def _store_lines(config, status: dict | None, records: list[dict]) -> list[str]:
    if config.core_url:
        from gateway.config_values import redact_url

        where = f"HTTP {redact_url(config.core_url)}: records live at the exchange"
        if status and status.get("status") == "submitted":
            return [f"  store         {where}; it acknowledged every record"]
        return [f"  store         {where}; not acknowledged (yet)"]
    if not records:
        return [f"  store         no record in {local_store_path(config)}"]
    lines = [f"  store         {len(records)} record{'s' * (len(records) != 1)} in "
             f"{local_store_path(config)}:"]
    for row in records:
        p = masked_payload(row["payload"])
        staff = f"  proManager {p['proManager']}" if p.get("proManager") else ""
        lines.append(f"                projectNo {row['project_no']}  stored "
                     f"{row['stored_at'][:19]}  satisfaction {grade_text(p.get('satisfaction'))}"
                     f"  pf {p.get('pf', '')}{staff}")
    return lines


SUBCOMMANDS = (_add_show,)


def register(subparsers) -> None:
    evaluations = subparsers.add_parser(
        "evaluations", help="evaluations in the gateway: status and store record")
    sub = evaluations.add_subparsers(dest="evaluations_command", required=True)
    for add in SUBCOMMANDS:
        add(sub)

