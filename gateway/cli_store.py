"""``hcp store records``: what reached the core rating store.

  hcp store records [--ticket T] [--item I] [--last N] [--json]

Reads whichever store the config names (the same settings as ``hcp serve``):

* the embedded local store (no ``core.url``): ``<data_dir>/core-store.sqlite3``,
  read-only, whether the gateway runs or not — the records themselves, newest last;
* an HTTP core store (``core.url``): the records live at the exchange, which the
  gateway does not read back. The command says so and shows what the gateway knows
  instead: the evaluations the exchange acknowledged (status ``submitted`` in the
  gateway's Redis, kept 90 days), which needs the gateway's Redis (gateway.running).

``--ticket`` and ``--item`` both select by ``projectNo``: an item's record carries
its item id there (a ticket's item too, rated once, by SMS, the API, or a call that
closes it). A call's own ratings are filed as ``call:<call id>`` and
``staff:<agent>:<call id>`` (docs/intake.md, "Record identity"): ``--project``
selects one of those. Phone numbers are masked (``ratings.model.mask_phone``); free
text (comments) goes through the same phone filter as the logs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from ratings.model import mask_phone, mask_phones_in_text

LOCAL_STORE_FILE = "core-store.sqlite3"  # gateway.serve.LOCAL_STORE_FILE
FREE_TEXT = ("writingEvaluation", "evalDetail")


def config_options(p) -> None:
    """--config and --data-dir, as ``hcp serve`` reads them (for the commands that look)."""
    p.add_argument("--config", metavar="FILE", default=None,
                   help="TOML settings file (default: ./hcp.toml if present)")
    p.add_argument("--data-dir", default=None,
                   help="the gateway's data dir (default: from the config / HCP_DATA_DIR)")


def load_config(args, command: str):
    """The gateway's settings (exactly as ``hcp serve`` loads them), or None after
    printing the error."""
    import gateway.sms_settings  # noqa: F401  (the same settings as hcp serve)
    import ivr.pool_config  # noqa: F401
    from gateway.config import ConfigError, load

    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"hcp {command}: configuration error: {exc}", file=sys.stderr)
        return None
    if args.data_dir:
        config = dataclasses.replace(config, data_dir=Path(args.data_dir).resolve())
    return config


def local_store_path(config) -> Path:
    return config.data_dir / LOCAL_STORE_FILE


def masked_payload(payload: dict) -> dict:
    """A store record as it may be shown: no full phone number."""
    shown = dict(payload)
    if shown.get("mobile"):
        shown["mobile"] = mask_phone(str(shown["mobile"]))
    for name in FREE_TEXT:
        if isinstance(shown.get(name), str):
            shown[name] = mask_phones_in_text(shown[name])
    return shown


def grade_text(code) -> str:
    from ratings.grades import Grade, UnknownGrade

    try:
        return f"{code} {Grade.from_exchange_code(int(code)).id}"
    except (UnknownGrade, TypeError, ValueError):
        return str(code)


def record_row(record: dict) -> dict:
    """One local-store record, masked, for JSON and the table."""
    return {"stored_at": record["stored_at"], "project_no": record["project_no"],
            "evaluation_id": record["evaluation_id"],
            "idempotency_key": record["idempotency_key"],
            "payload": masked_payload(record["payload"])}


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def records_table(rows: list[dict]) -> list[str]:
    header = ("STORED (UTC)", "PROJECTNO", "SATISFACTION", "PF", "N", "STAFF", "EVALUATION",
              "COMMENT")
    lines = []
    for row in rows:
        p = row["payload"]
        comment = ",".join(x for x in (p.get("evalDetail"), p.get("writingEvaluation")) if x)
        lines.append((row["stored_at"][:19].replace("T", " "), row["project_no"],
                      grade_text(p.get("satisfaction")), str(p.get("pf", "")),
                      str(p.get("assessNumber", "")), str(p.get("proManager") or "-"),
                      row["evaluation_id"], _cut(comment or "-", 40)))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    return [fmt.format(*header).rstrip(), *(fmt.format(*line).rstrip() for line in lines)]


def _add_records(sub) -> None:
    p = sub.add_parser(
        "records", help="what reached the core store (numbers masked)",
        description="The records the core store holds, newest last: the local SQLite store "
                    "in the data dir, or, for an HTTP core store (core.url), the "
                    "evaluations the exchange acknowledged (from the gateway's Redis).")
    p.add_argument("--ticket", default=None,
                   help="a ticket's item (its records' projectNo)")
    p.add_argument("--item", default=None, help="an item id (projectNo)")
    p.add_argument("--project", default=None,
                   help="any projectNo, e.g. call:<call id> or staff:<agent>:<call id>")
    p.add_argument("--last", type=int, default=20, metavar="N",
                   help="the newest N matching records (default 20)")
    p.add_argument("--json", action="store_true", help="one JSON document")
    config_options(p)
    p.set_defaults(func=run_records)


def _project_filter(args) -> tuple[str | None, bool]:
    """(projectNo to match, False if --ticket, --item, --project disagree: nothing matches)."""
    chosen = {value for value in (args.ticket, args.item, args.project) if value}
    if len(chosen) > 1:
        return None, False
    return next(iter(chosen), None), True


def run_records(args) -> int:
    config = load_config(args, "store records")
    if config is None:
        return 2
    if args.last < 0:
        print("hcp store records: --last is 0 or more", file=sys.stderr)
        return 2
    if config.core_url:
        return _http_store_records(config, args)
    return _local_store_records(config, args)


def _local_store_records(config, args) -> int:
    from adapters.store_local import read_records

    path = local_store_path(config)
    project, possible = _project_filter(args)
    try:
        records, total = read_records(path, project_no=project, last=args.last) \
            if possible else ([], 0)
    except FileNotFoundError:
        records, total = [], 0
        if not args.json:
            print(f"core store: local SQLite {path}: no record yet (the file is created "
                  f"when the gateway stores its first record)")
            return 0
    rows = [record_row(r) for r in records]
    if args.json:
        print(json.dumps({"store": "local", "path": str(path), "matching": total,
                          "records": rows}, ensure_ascii=False, indent=1))
        return 0
    which = f" with projectNo {project}" if project else ""
    print(f"core store: local SQLite {path}: {total} record{'s' * (total != 1)}{which}"
          + (f", the newest {len(rows)} shown (oldest first)" if len(rows) < total else ""))
    if rows:
        print("\n".join(records_table(rows)))
    return 0


def _http_store_records(config, args) -> int:
    from gateway import running
    from gateway.config_values import redact_url

    url = redact_url(config.core_url)
    project, possible = _project_filter(args)
    note = (f"core store: HTTP {url} (core.url): the records live at the exchange; "
            f"the gateway does not read them back.")
    try:
        found = running.find(config)
        evaluations = asyncio.run(submitted_evaluations(found, project, args.last)) \
            if possible else []
    except running.GatewayNotRunning as exc:
        if not args.json:
            print(note)
        print(f"hcp store records: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"store": "http", "url": url, "records_at_exchange": True,
                          "redis": found.description, "submitted": evaluations},
                         ensure_ascii=False, indent=1))
        return 0
    print(note)
    which = f" for projectNo {project}" if project else ""
    print(f"What the gateway knows ({found.description}): evaluations the exchange "
          f"acknowledged{which}, newest {len(evaluations)} (oldest first; kept 90 days):")
    if evaluations:
        print("\n".join(submitted_table(evaluations)))
    return 0


def submitted_table(evaluations: list[dict]) -> list[str]:
    header = ("SUBMITTED (UTC)", "PROJECTNO", "GRADE", "CHANNEL", "N", "ATTEMPTS",
              "EVALUATION")
    lines = []
    for st in evaluations:
        ev = st.get("evaluation") or {}
        lines.append(((st.get("submitted_at") or "")[:19].replace("T", " "),
                      ",".join(st.get("covers") or []) or "-", ev.get("grade", "-"),
                      ev.get("channel", "-"), str(ev.get("assess_number", "")),
                      str(st.get("attempts", "")), st["id"]))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    return [fmt.format(*header).rstrip(), *(fmt.format(*line).rstrip() for line in lines)]


async def submitted_evaluations(found, project: str | None, last: int) -> list[dict]:
    """Status records with status submitted (for one projectNo, or the newest ``last``)."""
    from gateway.cli_evaluations import Reader, shown_status

    async with Reader(found) as reader:
        ids = await reader.ids_for_project(project) if project else await reader.all_ids()
        statuses = [s for s in await reader.statuses(ids) if s.get("status") == "submitted"]
    statuses.sort(key=lambda s: s.get("submitted_at") or "")
    return [shown_status(s) for s in statuses[-last:]] if last else []


SUBCOMMANDS = (_add_records,)


def register(subparsers) -> None:
    store = subparsers.add_parser("store", help="the core rating store: what reached it")
    sub = store.add_subparsers(dest="store_command", required=True)
    for add in SUBCOMMANDS:
        add(sub)

