#!/usr/bin/env python3
"""A gateway-like process for the kill -9 checks: one Submitter, HTTP store, until SIGTERM.

    runner.py --redis-url URL --store-url URL [--secret-hex HEX] [--concurrency 64]
              [--claim-idle 2.0]

Prints "RUNNING <consumer>" once it is reading the outbox, and its counts on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from datetime import timedelta

import redis.asyncio as aioredis

from adapters.store_http import HttpCoreStore
from ratings.submitter import Submitter, default_consumer_name


async def serve(args) -> None:
    client = aioredis.Redis.from_url(args.redis_url)
    store = HttpCoreStore(args.store_url, bytes.fromhex(args.secret_hex), timeout=5.0,
                          concurrency=args.concurrency)
    consumer = default_consumer_name()
    submitter = Submitter(client, store, consumer, concurrency=args.concurrency,
                          claim_idle=timedelta(seconds=args.claim_idle),
                          block=timedelta(milliseconds=200), retry_max_wait=1.0)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(submitter.stop(10)))
    task = asyncio.create_task(submitter.run())
    print(f"RUNNING {consumer}", flush=True)
    try:
        await task
    finally:
        await store.close()
        await client.aclose()
        print(json.dumps(dict(submitter.counts)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--secret-hex", default=b"loopback-core-store-secret".hex())
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--claim-idle", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="runner %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
