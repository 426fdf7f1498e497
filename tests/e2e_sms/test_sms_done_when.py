"""Issue 5 "done when", through the real process: ``hcp serve`` as a child process
(the tests' redis-server, the loopback core store, the embedded file carrier), a
completion posted over HTTP, the reminder in the outbox, the citizen's replies
played with ``hcp sms inject`` in another process, the rating at the core store.

The texts a citizen would read are printed (``pytest -s`` shows them) and checked
the way a reader would: signed 【…】, polite, no 问卷调查, no number in them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import pytest

from ratings.reason_codes import load_table
from tests.gateway.process import GatewayProcess
from tests.support.corestore import DEFAULT_SECRET, LoopbackCoreStore

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-sms-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SIGNATURE = "【广东政务服务】"


def hcp(*args: str) -> subprocess.CompletedProcess:
    """The CLI as a separate process (the module, so this tree's code runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=True)


def outbox(gw: GatewayProcess) -> list[dict]:
    out = hcp("sms", "outbox", "--json", "--data-dir", str(gw.data_dir)).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def wait_for(predicate, what: str, timeout: float = 20.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def completion(item: str, phone: str, **extra) -> dict:
    body = {"item_id": item, "service_code": "11440100MB2C91234X", "service_name": "居住证签注",
            "department": "广州市公安局", "dept_code": "114401000072", "phone": phone,
            "completed_at": datetime.now(timezone.utc).isoformat()}
    body.update(extra)
    return body


def citizen_reads(text: str) -> None:
    """What a citizen sees, checked as a citizen would."""
    print("  SMS>", text)
    assert text.startswith(SIGNATURE), text
    assert "问卷调查" not in text
    assert "1380013" not in text and "+86" not in text


def records_for(store: LoopbackCoreStore, item: str) -> list[dict]:
    return [p for p in store.records.values() if p.get("projectNo") == item]


@pytest.fixture
async def gateway(tmp_path, redis_url):
    async with LoopbackCoreStore() as store:
        gw = GatewayProcess(tmp_path / "gw", {
            "HCP_REDIS_URL": redis_url, "HCP_CORE_URL": store.url,
            "HCP_CORE_HMAC_SECRET": DEFAULT_SECRET.decode(), "HCP_HTTP_TOKENS": TOKEN,
            "HCP_SMS_REMINDER_DELAY": "1s", "HCP_SMS_POLL_S": "0.2",
            "HCP_SMS_SEND_WINDOW": "00:00-24:00",  # always open
        })
        try:
            await gw.start()
            yield gw, store
            assert await gw.stop() == 0
        finally:
            gw.kill()


async def post_completion(gw: GatewayProcess, body: dict) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{gw.base_url}/v1/completions", json=body,
                                headers=AUTH) as resp:
            assert resp.status in (200, 201), await resp.text()
            return await resp.json()


async def reply(gw: GatewayProcess, phone: str, text: str, answers_before: int) -> list[dict]:
    """Inject a reply with the CLI; wait until the gateway has answered it."""
    print(f"  CITIZEN> {text}")
    assert "injected" in hcp("sms", "inject", phone, text, "--data-dir", str(gw.data_dir)).stdout
    sent = await wait_for(lambda: (m := outbox(gw)) and len(m) > answers_before and m,
                          f"an answer to {text!r}")
    for message in sent[answers_before:]:
        citizen_reads(message["text"])
    return sent


@pytest.mark.slow
async def test_done_when_reminder_reply_rating_already_evaluated(gateway):
    gw, store = gateway
    phone = "13800138001"
    scheduled = await post_completion(gw, completion("E2E-ITEM-1", phone))
    again = await post_completion(gw, completion("E2E-ITEM-1", phone))  # idempotent
    assert again["created"] is False and again["code"] == scheduled["code"]

    sent = await wait_for(lambda: outbox(gw), "the reminder in the outbox")
    assert len(sent) == 1
    reminder = sent[0]
    citizen_reads(reminder["text"])
    assert "居住证签注" in reminder["text"] and "TD退订" in reminder["text"]  # no code needed
    assert reminder["to"] == "138****8001"  # the outbox listing masks the number

    sent = await reply(gw, phone, "1", 1)
    assert "已收到" in sent[-1]["text"]
    records = await wait_for(lambda: records_for(store, "E2E-ITEM-1"), "the rating at the store")
    record = records[0]
    print("  STORE>", json.dumps(record, ensure_ascii=False))
    assert record["satisfaction"] and record["taskCode"] == "11440100MB2C91234X"
    assert record["deptCode"] == "114401000072"

    sent = await reply(gw, phone, "2", len(sent))
    assert "已评价过" in sent[-1]["text"]
    await asyncio.sleep(1.0)  # a second record, if one were (wrongly) made, would be sent now
    assert len(records_for(store, "E2E-ITEM-1")) == 1
    assert sum(store.duplicates.values()) == 0
    assert phone not in json.dumps(store.records)


@pytest.mark.slow
async def test_bad_grades_with_a_comment_and_with_a_reason(gateway):
    gw, store = gateway
    commenter, chooser = "13800138002", "13800138003"
    await post_completion(gw, completion("E2E-ITEM-2", commenter))
    await post_completion(gw, completion("E2E-ITEM-3", chooser, service_name="不动产登记"))
    await wait_for(lambda: len(outbox(gw)) == 2, "two reminders")
    for message in outbox(gw):
        citizen_reads(message["text"])

    # a bad grade with its reason in the same reply: no question, straight to the store
    sent = await reply(gw, commenter, "5 窗口态度太差", 2)
    assert "核实" in sent[-1]["text"]
    record = (await wait_for(lambda: records_for(store, "E2E-ITEM-2"), "the bad grade"))[0]
    print("  STORE>", json.dumps(record, ensure_ascii=False))
    # the exchange wants a reason code or a comment with a bad grade: here the comment
    assert record["writingEvaluation"] == "窗口态度太差" and record["satisfaction"] == 1

    # a bad grade alone: the flow asks for a reason; the reason number comes back
    sent = await reply(gw, chooser, "4", len(sent))
    assert "原因" in sent[-1]["text"]
    await asyncio.sleep(0.5)
    assert not records_for(store, "E2E-ITEM-3")  # nothing stored before the reason
    sent = await reply(gw, chooser, "2", len(sent))
    assert "核实" in sent[-1]["text"]
    record = (await wait_for(lambda: records_for(store, "E2E-ITEM-3"), "the bad grade"))[0]
    print("  STORE>", json.dumps(record, ensure_ascii=False))
    assert record["evalDetail"] == load_table()["attitude"] and record["satisfaction"] == 2
    assert record["taskCode"] == "11440100MB2C91234X"


@pytest.mark.slow
async def test_three_pending_items_of_one_number_get_one_text(gateway):
    """Issue 12: three completions of one number, due together → one text listing the
    three reply codes, one segment each reminder would have cost two before."""
    gw, store = gateway
    phone = "13800138004"
    names = ("居住证签注", "港澳通行证续签", "社会保障卡补办")
    codes = [(await post_completion(gw, completion(f"E2E-3-{i}", phone, service_name=name)))
             ["code"] for i, name in enumerate(names)]
    sent = await wait_for(lambda: outbox(gw), "the reminder in the outbox")
    await asyncio.sleep(1.5)  # a second text, if one were (wrongly) sent, would be here now
    sent = outbox(gw)
    assert len(sent) == 1, [m["text"] for m in sent]
    citizen_reads(sent[0]["text"])
    assert all(code in sent[0]["text"] for code in codes) and "您有3件" in sent[0]["text"]
    sent = await reply(gw, phone, f"{codes[2]} 满意", 1)
    assert "已收到" in sent[-1]["text"]
    records = await wait_for(lambda: records_for(store, "E2E-3-2"), "the rating at the store")
    assert records[0]["satisfaction"] == 4 and not records_for(store, "E2E-3-0")
