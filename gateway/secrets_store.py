"""Secrets the operator did not configure: generated once, kept in the data dir.

The phone HMAC key must be the same on every start, or the dedupe keys written
yesterday would no longer match today's evaluations; so a generated key is
written to ``<data_dir>/secrets/<name>`` (mode 0600) and read back next time.
The same goes for the default API token, which an operator reads from its file.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from pathlib import Path

from gateway.config import Config

SECRETS_DIR = "secrets"


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
