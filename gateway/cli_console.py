"""``hcp console …``: demo data and password hashes for the console.

Registered in ``gateway.cli.COMMAND_MODULES``; ``python -m gateway.cli_console demo``
does the same.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys


def register(subparsers) -> None:
    console = subparsers.add_parser("console", help="the supervisor console")
    add_commands(console.add_subparsers(dest="console_command", required=True))


def add_commands(sub) -> None:
    p = sub.add_parser("hash-password", help="print a password hash for console.users")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from stdin instead of a prompt")
    p.set_defaults(func=run_hash)
    d = sub.add_parser("demo", help="post demo evaluations and flow statistics "
                                    "(real intake, real submitter, real engine)")
    d.add_argument("--config", default=None, help="TOML settings file (as for hcp serve)")
    d.add_argument("--evaluations", type=int, default=240)
    d.add_argument("--calls", type=int, default=160)
    d.set_defaults(func=run_demo)


def run_hash(args) -> int:
    from console.auth import hash_password

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else \
        getpass.getpass("password: ")
    if len(password) < 8:
        print("hcp console hash-password: at least 8 characters", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def run_demo(args) -> int:
    from gateway.config import ConfigError, load

    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"hcp console demo: configuration error: {exc}", file=sys.stderr)
        return 2
    if not config.redis_url:
        print("hcp console demo: needs redis.url / HCP_REDIS_URL (the Redis of a running "
              "gateway); or start the gateway with HCP_CONSOLE_DEMO=1", file=sys.stderr)
        return 2
    print(asyncio.run(_demo(config, args.evaluations, args.calls)))
    return 0


async def _demo(config, evaluations: int, calls: int) -> dict:
    import redis.asyncio as aioredis

    from console.demo import seed
    from gateway.secrets_store import with_secrets
    from ratings.intake import Intake

    config = with_secrets(config)
    client = aioredis.Redis.from_url(config.redis_url)
    try:
        intake = Intake(client, config.intake_phone_secret.encode(),
                        follow_up_window=config.intake_follow_up_window)
        done = await seed(client, intake, config.data_dir, evaluations, calls)
        done["submitted"] = await _submit_all(config, client)
        return done
    finally:
        await client.aclose()


async def _submit_all(config, client, timeout: float = 120.0) -> int:
    """Run a submitter (next to any running gateway's) until the outbox is drained."""
    from gateway.serve import build_store
    from ratings import keys
    from ratings.submitter import Submitter, default_consumer_name

    store = build_store(config)
    opener = getattr(store, "start", None)
    if opener is not None:
        await opener()
    submitter = Submitter(client, store, consumer=f"demo-{default_consumer_name()}")
    task = asyncio.create_task(submitter.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and await client.xlen(keys.OUTBOX):
            await asyncio.sleep(0.2)
    finally:
        await submitter.stop(timeout=10)
        await asyncio.gather(task, return_exceptions=True)
        await store.close()
    return submitter.counts["submitted"]


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="python -m gateway.cli_console")
    add_commands(parser.add_subparsers(dest="console_command", required=True))
    arguments = parser.parse_args()
    sys.exit(arguments.func(arguments))
