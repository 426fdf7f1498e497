"""``scripts/hcp store records`` and ``scripts/hcp evaluations show`` against a real ``hcp serve``.

The gateway runs as a child process on free ports in a temp data dir (its private
Redis, the local SQLite store; or the loopback HTTP store); evaluations go in through
``POST /v1/evaluations``; the two commands run as a newcomer types them
(``scripts/hcp …``, another working directory) and their output is read: the record,
the status, attempts, the store record, and never a full phone number.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import aiohttp

from tests.gateway.process import ROOT, GatewayProcess
from tests.support.corestore import DEFAULT_SECRET, LoopbackCoreStore

SCRIPT = ROOT / "scripts" / "hcp"
PHONE = "13812345678"
COMMENT_PHONE = "13987654321"  # a number typed into a comment is masked too


async def hcp(gw: GatewayProcess, *args: str, cwd=None) -> tuple[int, str, str]:
    """scripts/hcp as a child process, with the gateway's settings, not blocking the loop."""
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT), *args, cwd=cwd or "/", env=gw.env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


def no_phone(*texts: str) -> None:
    for text in texts:
        for number in (PHONE, COMMENT_PHONE, PHONE[3:], COMMENT_PHONE[3:]):
            assert number not in text, text


async def post(session, gw, body) -> str:
    async with session.post(f"{gw.base_url}/v1/evaluations", json=body,
                            headers=gw.auth) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]


async def wait_final(session, gw, ev_id, timeout=20.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with session.get(f"{gw.base_url}/v1/evaluations/{ev_id}",
                               headers=gw.auth) as resp:
            status = await resp.json()
        if status["status"] in ("submitted", "dead"):
            return status
        assert loop.time() < deadline, status
        await asyncio.sleep(0.05)


def body(item: str, **changes) -> dict:
    data = {"target": {"kind": "item", "id": item}, "grade": "dissatisfied",
            "reasons": ["attitude"], "comment": f"请回电 {COMMENT_PHONE}", "phone": PHONE,
            "channel": "api"}
    data.update(changes)
    return data


async def test_local_store_records_and_evaluation_status(served_gateway, tmp_path):
    gw = await served_gateway().start()
    async with aiohttp.ClientSession() as session:
        first = await post(session, gw, body("GD2026-CLI-1"))
        other = await post(session, gw, body("GD2026-CLI-2", grade="very_satisfied",
                                              reasons=[], comment=""))
        for ev_id in (first, other):
            assert (await wait_final(session, gw, ev_id))["status"] == "submitted"

    code, out, err = await hcp(gw, "store", "records", "--last", "5", cwd=tmp_path)
    assert code == 0, err
    lines = out.splitlines()
    assert "local SQLite" in lines[0] and "2 records" in lines[0]
    assert lines[1].split()[:3] == ["STORED", "(UTC)", "PROJECTNO"]
    assert "GD2026-CLI-1" in lines[2] and first in lines[2] and "2 dissatisfied" in lines[2]
    assert "GD2026-CLI-2" in lines[3] and "5 very_satisfied" in lines[3]
    assert "<phone>" in lines[2]  # the comment's number, masked as in the logs
    no_phone(out, err)

    code, out, err = await hcp(gw, "store", "records", "--ticket", "GD2026-CLI-2", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["store"] == "local" and shown["matching"] == 1
    [record] = shown["records"]
    assert record["project_no"] == "GD2026-CLI-2" and record["evaluation_id"] == other
    assert record["payload"]["satisfaction"] == 5

    code, out, err = await hcp(gw, "store", "records", "--last", "1")
    assert code == 0 and "newest 1 shown" in out and "GD2026-CLI-2" in out
    assert "GD2026-CLI-1" not in out

    code, out, err = await hcp(gw, "evaluations", "show", first)
    assert code == 0, err
    assert f"evaluation {first}  submitted" in out
    assert "attempts      1" in out and "last error    -" in out
    assert "rated         item GD2026-CLI-1: dissatisfied, api, first evaluation" in out
    assert "caller        138****5678" in out
    assert "1 record in" in out and "projectNo GD2026-CLI-1" in out
    assert "satisfaction 2 dissatisfied" in out
    no_phone(out, err)

    code, out, err = await hcp(gw, "evaluations", "show", "--ticket", "GD2026-CLI-1", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert "private Redis" in shown["redis"] and shown["redis_problem"] is None
    [evaluation] = shown["evaluations"]
    assert evaluation["id"] == first
    assert evaluation["status"]["status"] == "submitted"
    assert evaluation["status"]["evaluation"]["phone"] == "138****5678"
    assert [r["project_no"] for r in evaluation["store_records"]] == ["GD2026-CLI-1"]
    no_phone(out)

    code, out, err = await hcp(gw, "evaluations", "show", "0123456789abcdef")
    assert code == 1 and "no evaluation 0123456789abcdef" in err

    assert await gw.stop() == 0
    # stopped: the store is still readable; the status is not, and the command says why
    code, out, err = await hcp(gw, "store", "records")
    assert code == 0 and "GD2026-CLI-1" in out
    code, out, err = await hcp(gw, "evaluations", "show", first)
    assert code == 1
    assert "the gateway is not running" in err and "scripts/run" in err
    assert "status unknown" in out and "projectNo GD2026-CLI-1" in out


async def test_http_store_says_where_records_are_and_shows_what_the_gateway_knows(served_gateway):
    async with LoopbackCoreStore() as store:
        gw = await served_gateway(HCP_CORE_URL=store.url,
                           HCP_CORE_HMAC_SECRET=DEFAULT_SECRET.decode()).start()
        async with aiohttp.ClientSession() as session:
            good = await post(session, gw, body("GD2026-HTTP-1"))
            assert (await wait_final(session, gw, good))["status"] == "submitted"
            store.reject_next(1, reason=f"bad record from {PHONE}", status=422)
            bad = await post(session, gw, body("GD2026-HTTP-2"))
            assert (await wait_final(session, gw, bad))["status"] == "dead"

        code, out, err = await hcp(gw, "store", "records", "--last", "5")
        assert code == 0, err
        assert "the records live at the exchange" in out and store.url.split("/v")[0] in out
        assert "GD2026-HTTP-1" in out and good in out
        assert bad not in out  # not acknowledged by the exchange

        code, out, err = await hcp(gw, "store", "records", "--json")
        shown = json.loads(out)
        assert shown["store"] == "http" and shown["records_at_exchange"] is True
        assert [s["id"] for s in shown["submitted"]] == [good]

        code, out, err = await hcp(gw, "evaluations", "show", bad)
        assert code == 0, err
        assert f"evaluation {bad}  dead" in out
        assert "last error    bad record from <phone>" in out
        assert "not acknowledged" in out
        no_phone(out, err)
        code, out, err = await hcp(gw, "evaluations", "show", good)
        assert "acknowledged every record" in out
        assert await gw.stop() == 0

        code, out, err = await hcp(gw, "store", "records")
        assert code == 1 and "the records live at the exchange" in out
        assert "the gateway is not running" in err


async def test_not_running_and_external_redis_messages(tmp_path):
    gw = GatewayProcess(tmp_path / "never-started")
    code, out, err = await hcp(gw, "evaluations", "show", "--ticket", "T-1")
    assert code == 1 and err.startswith("hcp evaluations show: the gateway is not running")
    assert str(gw.data_dir / "redis" / "redis.pid") in err
    gw.extra_env["HCP_REDIS_URL"] = "redis://:secret-password@127.0.0.1:1/0"
    code, out, err = await hcp(gw, "evaluations", "show", "abc")
    assert code == 1 and "does not answer" in err and "redis.url" in err
    assert "secret-password" not in err
    # files left by a crash: a pid of a dead process, then a recycled (live) pid with
    # no Redis on the port
    (gw.data_dir / "redis").mkdir(parents=True)
    (gw.data_dir / "redis" / "redis.port").write_text("1\n")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (gw.data_dir / "redis" / "redis.pid").write_text(f"{dead.pid}\n")
    del gw.extra_env["HCP_REDIS_URL"]
    code, out, err = await hcp(gw, "evaluations", "show", "abc")
    assert code == 1 and f"pid {dead.pid}, is gone" in err
    (gw.data_dir / "redis" / "redis.pid").write_text(f"{os.getpid()}\n")
    code, out, err = await hcp(gw, "evaluations", "show", "abc")
    assert code == 1 and "does not answer on port 1" in err
