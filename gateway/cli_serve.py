"""``hcp serve``: load and validate the config, set up JSON logs, run the gateway.

Exit codes: 0 after a graceful stop, 2 for a configuration error (the message
names the setting), 1 if a part failed to start or died while running (a
supervisor — systemd, Docker's restart policy — should then restart it).

What keeps a start from going ahead is found before anything starts and ends it
with one JSON log line (``config.error``, ``gateway.data_dir_in_use``,
``gateway.port_in_use``), not a traceback from deep inside aiohttp or a worker.
For ports, every port the process (and its IVR workers) will listen on is bound
once and released (``listeners``); a taken one names the setting and its
variable: ``http.port 8080 (HCP_HTTP_PORT) is already in use``. Should a port be taken in
the moment between that check and the real bind, the bind's own error is
translated the same way.

``--check-config`` prints the settings this very command would run with (JSON on
stdout) and, on stderr, where each value that is not an embedded default came
from. ``scripts/run`` exports its own defaults (one IVR worker) and passes its
arguments through, so ``scripts/run --check-config`` is what ``scripts/run``
starts with.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import socket
import sys
from dataclasses import dataclass

import gateway.http_edge  # noqa: F401  (registers the HTTP edge settings before load)
import gateway.redis_connect  # noqa: F401  (registers the replica-ack settings before load)
import gateway.sms_settings  # noqa: F401  (registers the SMS settings before load)
import ivr.pool_config  # registers the IVR pool settings before load
from gateway.config import Config, ConfigError, all_settings, load
from gateway.data_dir_lock import DataDirLock, DataDirLocked
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


# -- ports ----------------------------------------------------------------------

@dataclass(frozen=True)
class Listener:
    """One socket the gateway will bind, and the setting that chose its port."""

    setting: str  # "ivr.sip_port"
    base: int  # the setting's value
    port: int  # the port bound: base, or base + i for IVR worker i
    host: str  # "" = every address
    kind: socket.SocketKind
    worker: int | None = None  # IVR worker index
    shared: bool = False  # bound with SO_REUSEPORT (http.reuse_port): others may hold it

    @property
    def env(self) -> str:
        return next((s.env for s in all_settings() if s.name == self.setting), "")

    def message(self) -> str:
        proto = "udp" if self.kind == socket.SOCK_DGRAM else "tcp"
        where = f" on {self.host}" if self.host else ""
        hint = "stop what holds it or choose another port"
        if self.worker:
            return (f"{self.setting} {self.base} ({self.env}): port {self.port}/{proto} of "
                    f"IVR worker {self.worker + 1} is already in use{where}; {hint}")
        return (f"{self.setting} {self.port} ({self.env}) is already in use{where} "
                f"({proto}); {hint}")


def listeners(config: Config) -> list[Listener]:
    """Every port ``hcp serve`` will listen on (0 = a free one, never taken)."""
    out = []
    if config.http_port:
        out.append(Listener("http.port", config.http_port, config.http_port,
                            config.http_host, socket.SOCK_STREAM,
                            shared=config.http_reuse_port))
    if ivr.pool_config.pool_enabled_in(config):
        bind = config["ivr.bind"]
        for i in range(config["ivr.workers"]):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):  # SIP on UDP and TCP
                out.append(Listener("ivr.sip_port", config["ivr.sip_port"],
                                    config["ivr.sip_port"] + i, bind, kind, i))
            # prometheus_client's server: every address
            out.append(Listener("ivr.metrics_port", config["ivr.metrics_port"],
                                config["ivr.metrics_port"] + i, "", socket.SOCK_STREAM, i))
    return out


def _in_use(listener: Listener) -> bool:
    """True if another socket holds the port (one sharing it by SO_REUSEPORT does not,
    for a listener that shares it too: the kernel lets both bind)."""
    host = listener.host or None
    try:
        addresses = socket.getaddrinfo(host, listener.port, type=listener.kind,
                                       flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # the real bind reports a bad host in its own words
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            if kind == socket.SOCK_STREAM:  # as aiohttp and pjsua: TIME_WAIT is no owner
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if listener.shared:  # held by another gateway sharing the port: not in use
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False


def port_in_use(config: Config) -> Listener | None:
    """The first port of ``listeners`` that another process holds, if any."""
    return next((item for item in listeners(config) if _in_use(item)), None)


def _bind_error_listener(config: Config, exc: BaseException) -> Listener | None:
    """The listener an EADDRINUSE raised while starting was about (by its port)."""
    if not isinstance(exc, OSError) or exc.errno != errno.EADDRINUSE:
        return None
    ports = {int(p) for p in re.findall(r"\b(\d{1,5})\b", str(exc))}
    return next((item for item in listeners(config) if item.port in ports), None)


# -- the command ------------------------------------------------------------------

def _check_config(config: Config) -> int:
    import json

    try:
        ivr.pool_config.check_config(config)  # overlapping pool ports, found before a start
    except ConfigError as exc:
        print(f"hcp serve: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps(config.describe(), ensure_ascii=False, indent=2, default=str))
    if config.sources:
        where = ", ".join(f"{name} ({source})" for name, source in config.sources.items())
        print(f"hcp serve: not embedded defaults: {where}", file=sys.stderr)
    else:
        print("hcp serve: every setting is an embedded default", file=sys.stderr)
    return 0


def _refusal(config: Config) -> int | None:
    """The exit code of a start that cannot go ahead, logged as one line; else None.

    In the order an operator fixes things: the settings themselves, then another
    gateway on this data dir (its own ports would look "taken" too), then a port
    some other program holds."""
    log = logging.getLogger("gateway")
    try:
        ivr.pool_config.check_config(config)
    except ConfigError as exc:
        log.error("config.error", extra={"error": str(exc)})
        return EXIT_CONFIG
    try:
        DataDirLock(config.data_dir).check()  # logs gateway.data_dir_in_use itself
    except DataDirLocked:
        return EXIT_FAILED
    taken = port_in_use(config)
    if taken is not None:
        log.error("gateway.port_in_use", extra={"error": taken.message()})
        return EXIT_FAILED
    return None


def serve(args) -> int:
    try:
        config = load(args.config)
    except ConfigError as exc:
        if args.check_config:
            print(f"hcp serve: configuration error: {exc}", file=sys.stderr)
        else:
            setup_logging()
            logging.getLogger("gateway").error("config.error", extra={"error": str(exc)})
        return EXIT_CONFIG
    if args.check_config:
        return _check_config(config)
    setup_logging(config.log_level)
    log = logging.getLogger("gateway")
    refused = _refusal(config)
    if refused is not None:
        return refused

    from gateway.serve import Gateway

    try:
        gateway = Gateway(config)
        asyncio.run(gateway.run())
    except DataDirLocked:  # another gateway took the dir since the check; logged
        return EXIT_FAILED
    except Exception as exc:
        taken = _bind_error_listener(config, exc)
        if taken is None and "exited at start" in str(exc):  # an IVR worker's bind
            taken = port_in_use(config)
        if taken is not None:  # taken between the check and the bind
            log.error("gateway.port_in_use", extra={"error": taken.message()})
            return EXIT_FAILED
        log.exception("gateway.failed")
        return EXIT_FAILED
    if gateway.failure is not None:
        log.error("gateway.failed", extra={"error": type(gateway.failure).__name__})
        return EXIT_FAILED
    return 0
