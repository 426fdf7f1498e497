"""Who may read the gateway's Redis (issue 14 point 6), against real redis-servers.

The private Redis requires the password generated into ``<data_dir>/secrets`` and
keeps its files from other local users (dir 0700, files 0600, also when an earlier
version left them readable); the password is on no command line and in no log line;
the ``hcp`` commands (gateway.running) and the console find it. An external Redis with a password,
and one over TLS (``rediss://``, a throwaway CA made with openssl here), serve the
gateway.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ResponseError
from redis.retry import Retry

from adapters.redis_server import RedisServer, free_port, redis_server_binary
from gateway.config import load
from gateway.private_redis import PrivateRedis
from gateway.running import find
from gateway.secrets_store import REDIS_PASSWORD, SECRETS_DIR
from gateway.serve import Gateway
from tests.gateway.test_cli_store_evaluations import hcp


ONCE = Retry(NoBackoff(), 0)  # a refusal expected: no retries


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private_files(folder: Path) -> None:
    """Nothing in ``folder`` (nor itself) is open to the group or to others."""
    for path in [folder, *folder.rglob("*")]:
        assert mode(path) & 0o077 == 0, (path, oct(mode(path)))


def refused(url_without_password: str) -> None:
    with pytest.raises((AuthenticationError, ResponseError)) as caught:
        redis.Redis.from_url(url_without_password).get("k")
    assert "auth" in str(caught.value).lower()


async def test_the_private_redis_wants_its_password_and_keeps_its_files_private(tmp_path):
    data = tmp_path / "data"
    folder = data / "redis"
    # what an earlier version left: a world-readable folder and AOF
    (folder / "appendonlydir").mkdir(parents=True)
    RedisServer(folder).start().stop()
    os.chmod(folder, 0o755)
    for path in folder.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    private = PrivateRedis(folder)
    await private.start()
    try:
        secret = data / SECRETS_DIR / REDIS_PASSWORD
        password = secret.read_text().strip()
        assert len(password) >= 32 and mode(secret) == 0o600
        assert password in private.url
        refused(f"redis://127.0.0.1:{private.server.port}/0")
        client = redis.Redis.from_url(private.url)
        client.set("k", "v")
        client.bgrewriteaof()  # files written now: base, incr, manifest, temp files
        deadline = time.monotonic() + 10
        while client.info("persistence")["aof_rewrite_in_progress"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.close()
        private_files(folder)
        names = {p.name for p in (folder / "appendonlydir").iterdir()}
        assert any(n.endswith(".incr.aof") for n in names), names
        cmdline = Path(f"/proc/{private.pid}/cmdline").read_bytes()
        assert password.encode() not in cmdline
    finally:
        await private.stop()
    again = PrivateRedis(folder)  # the next start: the same password, from the file
    await again.start()
    try:
        assert again.server.password == password
        assert redis.Redis.from_url(again.url).get("k") == b"v"
    finally:
        await again.stop()


async def test_hcp_commands_and_logs_of_a_served_gateway(served_gateway):
    gw = await served_gateway().start()
    password = (gw.data_dir / SECRETS_DIR / REDIS_PASSWORD).read_text().strip()
    # unsafe: keep cookies of an IP address (the console's, on 127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post(f"{gw.base_url}/v1/evaluations", headers=gw.auth, json={
                "target": {"kind": "item", "id": "GD-ACCESS-1"}, "grade": "satisfied",
                "channel": "api"}) as resp:
            assert resp.status == 201, await resp.text()
            ev_id = (await resp.json())["id"]
        # the console's own client (console.app) signs in through the same Redis
        admin = (gw.data_dir / SECRETS_DIR / "console_admin").read_text().strip()
        async with session.get(f"{gw.base_url}/console/signin") as resp:
            pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
        async with session.post(f"{gw.base_url}/console/signin", allow_redirects=False,
                                data={"_pre": pre, "user": "admin",
                                      "password": admin}) as resp:
            assert resp.status == 303, await resp.text()
        async with session.get(f"{gw.base_url}/console/ops") as resp:
            assert resp.status == 200 and "signin" not in str(resp.url)
    code, out, err = await hcp(gw, "evaluations", "show", ev_id)
    assert code == 0, out + err
    assert ev_id in out and password not in out + err
    private_files(gw.data_dir / "redis")
    assert password.encode() not in Path(f"/proc/{gw.redis_pid()}/cmdline").read_bytes()
    refused(f"redis://127.0.0.1:{(gw.data_dir / 'redis' / 'redis.port').read_text().strip()}/0")
    await gw.stop()
    assert password not in gw.log_text()


def gateway_config(tmp_path, redis_url: str):
    return load(env={"HCP_DATA_DIR": str(tmp_path / "data"), "HCP_HTTP_PORT": "0",
                     "HCP_REDIS_URL": redis_url, "HCP_DRAIN_TIMEOUT_S": "2",
                     "HCP_CORE_PF_API": "1"}, cwd=tmp_path)


async def rate_through(config, item: str) -> dict:
    """Start the gateway on ``config``, take one rating, read its status back."""
    gw = Gateway(config)
    await gw.start()
    try:
        base = f"http://127.0.0.1:{gw.http_port}"
        auth = {"Authorization": f"Bearer {gw.config.http_tokens[0]}"}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/v1/evaluations", headers=auth, json={
                    "target": {"kind": "item", "id": item}, "grade": "satisfied"}) as resp:
                assert resp.status == 201, await resp.text()
                ev_id = (await resp.json())["id"]
            async with session.get(f"{base}/v1/evaluations/{ev_id}", headers=auth) as resp:
                assert resp.status == 200
                return await resp.json()
    finally:
        await gw.stop()


async def test_an_external_redis_with_a_password(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    password = "ext-redis-pw-0123456789"
    server = RedisServer(tmp_path / "ext", aof=False, password=password).start()
    try:
        refused(f"redis://127.0.0.1:{server.port}/0")
        status = await rate_through(gateway_config(tmp_path, server.url), "GD-EXT-PW")
        assert status["status"] in ("accepted", "submitted")
        found = find(gateway_config(tmp_path, server.url))
        assert found.url == server.url and password not in found.description
    finally:
        server.stop()
    assert password not in caplog.text


def _tls_files(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    folder.mkdir(parents=True)
    ca_key, ca, key, csr, cert, ext = (folder / n for n in (
        "ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt", "ext.cnf"))
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1",
        "-subj", "/CN=hcp-test-ca")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "1", "-extfile", ext)
    return {"ca": ca, "cert": cert, "key": key}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for the test CA")
async def test_rediss_with_tls_and_a_password(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    files = _tls_files(tmp_path / "tls")
    password, port = "tls-redis-pw-0123456789", free_port()
    # the password on stdin, as adapters.redis_server does; no plain port at all
    proc = subprocess.Popen(
        [redis_server_binary(), "-", "--port", "0", "--tls-port", str(port),
         "--bind", "127.0.0.1", "--tls-cert-file", str(files["cert"]),
         "--tls-key-file", str(files["key"]), "--tls-ca-cert-file", str(files["ca"]),
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--logfile", str(tmp_path / "tls-redis.log")],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.write(f"requirepass {password}\n".encode())
    proc.stdin.close()
    url = f"rediss://:{password}@127.0.0.1:{port}/0?ssl_ca_certs={files['ca']}"
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, (tmp_path / "tls-redis.log").read_text()
            try:
                redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "TLS redis-server did not answer"
                time.sleep(0.05)
        status = await rate_through(gateway_config(tmp_path, url), "GD-TLS-1")
        assert status["status"] in ("accepted", "submitted")
        # really TLS: plain text on that port gets no answer, an unknown CA no session
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=port, password=password, socket_timeout=0.2, retry=ONCE).ping()
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(url.split("?")[0], socket_timeout=0.5, retry=ONCE).ping()
    finally:
        proc.terminate()
        proc.wait(10)
    assert password not in caplog.text
