"""``hcp serve``: load and validate the config, set up JSON logs, run the gateway.

Exit codes: 0 after a graceful stop, 2 for a configuration error (the message
names the setting), 1 if a part failed to start or died while running (a
supervisor — systemd, Docker's restart policy — should then restart it).
"""

from __future__ import annotations

import asyncio
import logging
import sys

import gateway.sms_settings  # noqa: F401  (registers the SMS settings before load)
import ivr.pool_config  # registers the IVR pool settings before load
from gateway.config import ConfigError, load
from gateway.logs import setup_logging

EXIT_CONFIG = 2
EXIT_FAILED = 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the gateway: private Redis, intake, submitter, HTTP API",
        description="Run the gateway. Settings: --config TOML file (default ./hcp.toml "
                    "if present) and HCP_* environment variables; see "
                    "docs/configuration.md.")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="TOML settings file (default: ./hcp.toml if present)")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the settings, print them (secrets hidden) and exit")
    parser.set_defaults(func=serve)


def serve(args) -> int:
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"hcp serve: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.log_level)
    log = logging.getLogger("gateway")
    if args.check_config:
        import json

        try:
            ivr.pool_config.check_config(config)  # overlapping pool ports, found before a start
        except ConfigError as exc:
            print(f"hcp serve: configuration error: {exc}", file=sys.stderr)
            return EXIT_CONFIG

        print(json.dumps(config.describe(), ensure_ascii=False, indent=2, default=str))
        return 0

    from gateway.serve import Gateway

    try:
        gateway = Gateway(config)
        asyncio.run(gateway.run())
    except Exception:
        log.exception("gateway.failed")
        return EXIT_FAILED
    if gateway.failure is not None:
        log.error("gateway.failed", extra={"error": type(gateway.failure).__name__})
        return EXIT_FAILED
    return 0
