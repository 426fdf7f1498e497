"""docker/ cannot be built here (no Docker daemon); keep it consistent with the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gateway.config import SETTINGS, load

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
KNOWN_ENV = {s.env for s in SETTINGS}


def test_dockerfile_mirrors_the_install_command():
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", DOCKERFILE, re.M)
    assert "scripts/install-deps" in DOCKERFILE
    assert 'CMD ["hcp", "serve"]' in DOCKERFILE
    for name in re.findall(r"\b(HCP_[A-Z_]+)=", DOCKERFILE):
        assert name in KNOWN_ENV | {"HCP_VENV"}, name


def test_compose_runs_gateway_with_redis7():
    services = COMPOSE["services"]
    assert services["redis"]["image"].startswith("redis:7")
    gateway = services["gateway"]
    assert gateway["build"]["dockerfile"] == "docker/Dockerfile"
    env = gateway["environment"]
    # Redis wants a password, never on a command line (issue 14 point 6)
    assert env["HCP_REDIS_URL"].startswith("redis://:${HCP_REDIS_PASSWORD:?")
    redis = services["redis"]
    assert "requirepass" in " ".join(redis["command"]) and "$$REDIS_PASSWORD" in \
        " ".join(redis["command"]) and "HCP_REDIS_PASSWORD" in redis["environment"][
            "REDIS_PASSWORD"]
    assert set(env) <= KNOWN_ENV


def test_compose_environment_is_a_valid_config(tmp_path):
    """What compose passes (unset ${X:-} become empty strings) must load."""
    env = {k: re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "pw", re.sub(
               r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)))
           for k, v in COMPOSE["services"]["gateway"]["environment"].items()}
    config = load(env=env, cwd=tmp_path)
    assert config.redis_url == "redis://:pw@redis:6379/0"
    assert config.core_url is None and config.core_hmac_secret is None
    assert config.http_tokens == () and config.intake_phone_secret is None
    assert config.http_host == "0.0.0.0"
