"""Secrets the operator did not configure: generated once, kept in the data dir.

The phone HMAC key must be the same on every start, or the dedupe keys written
yesterday would no longer match today's evaluations; so a generated key is
written to ``<data_dir>/secrets/<name>`` (mode 0600) and read back next time.
The same goes for the default API token, which an operator reads from its file,
and for the password of the private Redis (``REDIS_PASSWORD``: gateway.private_redis
starts redis-server with it, gateway.running hands it to the ``hcp`` commands that
read that Redis).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from pathlib import Path

from gateway.config import Config

SECRETS_DIR = "secrets"
REDIS_PASSWORD = "redis_password"  # requirepass of the private redis-server


def persistent_secret(data_dir: Path, name: str) -> str:
    """The secret stored under ``name``; created (atomically, 0600) if absent."""
    folder = data_dir / SECRETS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(32)
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    try:
        os.link(tmp, path)  # fails if another process got there first: keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def read_secret(data_dir: Path, name: str) -> str | None:
    """The stored secret, or None when there is none yet; writes nothing.
    PermissionError when the file is someone else's (run as the gateway's user)."""
    try:
        return (Path(data_dir) / SECRETS_DIR / name).read_text().strip() or None
    except FileNotFoundError:
        return None


def api_token_path(data_dir: Path) -> Path:
    return data_dir / SECRETS_DIR / "api_token"


def with_secrets(config: Config) -> Config:
    """``config`` with the phone secret and an API token filled from the data dir."""
    changes = {}
    if not config.intake_phone_secret:
        changes["intake_phone_secret"] = persistent_secret(config.data_dir, "phone_secret")
    if not config.http_tokens:
        changes["http_tokens"] = (persistent_secret(config.data_dir, "api_token"),)
    return replace(config, **changes) if changes else config


def secret_locations(config: Config) -> dict[str, str | None]:
    """The files holding the API token and the console password, for a start-up line.

    ``api_token_file`` is the generated token's file when the API uses it (no
    ``http.tokens`` configured, or the configured one is that file's), else None;
    ``console_password_file`` is the generated admin password's file when the console
    is on without ``console.users``. The ``*_from`` fields say where the secret
    comes from instead. Never a secret's value.
    """
    from console.app import admin_password_path  # only when asked: console is heavy

    data_dir = Path(config.data_dir)
    token_path = api_token_path(data_dir)
    tokens = tuple(config.http_tokens or ())
    token_from_file = not tokens or (token_path.exists()
                                     and token_path.read_text().strip() in tokens)
    if not config["console.enabled"]:
        console_file, console_from = None, "console disabled"
    elif config["console.users"]:
        console_file, console_from = None, "console.users"
    else:
        console_file = admin_password_path(data_dir)
        console_from = "file"
    return {
        "api_token_file": str(token_path) if token_from_file else None,
        "api_token_from": "file" if token_from_file else "http.tokens",
        "console_password_file": str(console_file) if console_file else None,
        "console_password_from": console_from,
        "console_user": "admin" if console_file else None,
    }
