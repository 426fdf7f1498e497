"""Issue 14 (should fix): a compressed body inflates to at most http.max_body_bytes,
and not at all before the bearer token is checked.

Before gateway.http_edge, aiohttp inflated ``Content-Encoding: gzip`` bodies by
itself: a 58 KB body became 60 MB, also when the answer was 401 (aiohttp reads an
unread body away after the answer). Real HTTP against the full `hcp serve` app
in-process (a real Gateway on a real Redis); the bytes aiohttp's own inflater
produces are counted with a spy on it.
"""

from __future__ import annotations

import gzip
import json
import zlib

import aiohttp
import pytest
from aiohttp import compression_utils

import gateway.http_edge as http_edge
from gateway.config import load
from gateway.serve import Gateway

BOMB_PLAIN = 60_000_000
BOMB = gzip.compress(b"\0" * BOMB_PLAIN, compresslevel=9)
EVALUATION = {"target": {"kind": "item", "id": "GZ-1"}, "grade": "satisfied",
              "phone": "13800138000"}


@pytest.fixture
async def gateway(tmp_path, redis_url, monkeypatch):
    monkeypatch.delenv("HCP_IVR_WORKERS", raising=False)
    config = load(env={
        "HCP_DATA_DIR": str(tmp_path / "data"), "HCP_HTTP_PORT": "0",
        "HCP_REDIS_URL": redis_url, "HCP_DRAIN_TIMEOUT_S": "2", "HCP_CORE_PF_API": "1"},
        cwd=tmp_path)
    gw = Gateway(config)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.fixture
def inflated(monkeypatch):
    """Bytes produced by aiohttp's own inflater, and calls of ours (``inflate``)."""
    counts = {"aiohttp": 0, "ours": 0}
    original = compression_utils.ZLibDecompressor.decompress_sync

    def spy(self, data, max_length=compression_utils.ZLIB_MAX_LENGTH_UNLIMITED):
        out = original(self, data, max_length)
        counts["aiohttp"] += len(out)
        return out

    ours = http_edge.inflate

    def spy_ours(raw, encoding, limit):
        counts["ours"] += 1
        return ours(raw, encoding, limit)

    monkeypatch.setattr(compression_utils.ZLibDecompressor, "decompress_sync", spy)
    monkeypatch.setattr(http_edge, "inflate", spy_ours)
    return counts


async def _post(gw, body: bytes, encoding: str, token: str | None, path="/v1/evaluations"):
    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{gw.http_port}{path}", data=body,
                                headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)


async def test_a_gzip_bomb_without_a_token_is_never_inflated(gateway, inflated):
    assert len(BOMB) < 65536 < BOMB_PLAIN  # 58 KB on the wire, 60 MB inflated
    status, body = await _post(gateway, BOMB, "gzip", token=None)
    assert (status, body["error"]) == (401, "unauthorized")
    assert inflated == {"aiohttp": 0, "ours": 0}


async def test_a_gzip_bomb_with_a_token_is_refused_at_the_body_limit(gateway, inflated):
    token = gateway.config.http_tokens[0]
    status, body = await _post(gateway, BOMB, "gzip", token)
    assert status == 413, body
    assert body == {"error": "body_too_large", "field": "body",
                    "message": "the body decompresses to more than 65536 bytes"}
    assert inflated == {"aiohttp": 0, "ours": 1}


def test_inflating_stops_one_byte_past_the_limit():
    with pytest.raises(http_edge.InflateRefused) as refused:
        http_edge.inflate(BOMB, "gzip", 1000)
    assert refused.value.status == 413
    exact = gzip.compress(b"x" * 1000)
    assert http_edge.inflate(exact, "gzip", 1000) == b"x" * 1000


async def test_compressed_evaluations_are_accepted_and_broken_ones_refused(gateway):
    token = gateway.config.http_tokens[0]
    plain = json.dumps(EVALUATION).encode()
    status, body = await _post(gateway, gzip.compress(plain), "gzip", token)
    assert (status, body["status"]) == (201, "accepted"), body
    second = json.dumps({**EVALUATION, "target": {"kind": "item", "id": "GZ-2"}}).encode()
    status, body = await _post(gateway, zlib.compress(second), "deflate", token)
    assert status == 201, body
    status, body = await _post(gateway, gzip.compress(plain)[:-8], "gzip", token)  # truncated
    assert (status, body["error"]) == (400, "invalid_encoding"), body
    status, body = await _post(gateway, b"not gzip at all", "gzip", token)
    assert (status, body["error"]) == (400, "invalid_encoding"), body
    status, body = await _post(gateway, plain, "br", token)
    assert (status, body["error"]) == (415, "unsupported_encoding"), body
    # a deeply nested body inside gzip still meets the JSON checks (gateway.json_body)
    deep = b"[" * 20_000 + b"]" * 20_000
    status, body = await _post(gateway, gzip.compress(deep), "gzip", token)
    assert (status, body["error"]) == (400, "invalid_json"), body
