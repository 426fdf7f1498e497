"""The same "done when" over SMPP: ``hcp serve`` with ``sms.carrier = smpp`` bound to the
loopback SMSC (adapters/sms_smpp_loopback.py, smpp34's server) in another process. The
reminder is read from the SMSC's submit_sm PDUs (UCS-2, concatenation UDH), the
citizen's replies are MO deliver_sm from the SMSC, the rating arrives at the loopback
core store."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e_sms.test_sms_done_when import (AUTH, TOKEN, citizen_reads, completion,
                                              post_completion, records_for, wait_for)
from tests.gateway.process import GatewayProcess
from tests.sms.smsc_process import SmscProcess
from tests.support.corestore import DEFAULT_SECRET, LoopbackCoreStore

assert AUTH  # the token shared with the file-carrier test


def segment_text(event: dict) -> tuple[int, int, int, str]:
    """(reference, total, index, text) of one submit_sm; a single part is (0, 1, 1, …)."""
    raw = bytes.fromhex(event["sm"])
    ref, total, index = 0, 1, 1
    if event["esm"] & 0x40:  # UDH: length, then IE 00 (8-bit ref) or 08 (16-bit ref)
        header, raw = raw[1:1 + raw[0]], raw[1 + raw[0]:]
        if header[0] == 0x00:
            ref, total, index = header[2], header[3], header[4]
        else:
            ref, total, index = int.from_bytes(header[2:4], "big"), header[4], header[5]
    text = raw.decode("utf-16-be") if event["dc"] == 8 else raw.decode("latin-1")
    return ref, total, index, text


async def next_message(smsc: SmscProcess, dest: str, timeout: float = 20.0) -> str:
    """The next whole MT to ``dest``, its segments put together."""
    parts: dict[int, dict[int, str]] = {}
    while True:
        event = await smsc.wait_for("submit", timeout=timeout)
        if event["dest"] != dest:
            continue
        ref, total, index, text = segment_text(event)
        parts.setdefault(ref, {})[index] = text
        if len(parts[ref]) == total:
            return "".join(parts[ref][i] for i in sorted(parts[ref]))


@pytest.mark.slow
async def test_done_when_over_smpp(tmp_path, redis_url):
    smsc = await SmscProcess().start()
    try:
        async with LoopbackCoreStore() as store:
            gw = GatewayProcess(tmp_path / "gw", {
                "HCP_REDIS_URL": redis_url, "HCP_CORE_URL": store.url,
                "HCP_CORE_HMAC_SECRET": DEFAULT_SECRET.decode(), "HCP_HTTP_TOKENS": TOKEN,
                "HCP_SMS_REMINDER_DELAY": "1s", "HCP_SMS_POLL_S": "0.2",
                "HCP_SMS_SEND_WINDOW": "00:00-24:00",
                "HCP_SMS_CARRIER": "smpp", "HCP_SMPP_HOST": "127.0.0.1",
                "HCP_SMPP_PORT": str(smsc.port), "HCP_SMPP_PASSWORD": "hcp1234"})
            try:
                await gw.start()
                await smsc.wait_for("bound", timeout=20)
                phone, national = "13800138005", "8613800138005"
                await post_completion(gw, completion("SMPP-ITEM-1", phone))
                reminder = await next_message(smsc, national)
                citizen_reads(reminder)
                assert "居住证签注" in reminder and "TD退订" in reminder  # one item: no code

                print("  CITIZEN> 1")
                await smsc.command(mo={"from": national, "text": "1"})
                answer = await next_message(smsc, national)
                citizen_reads(answer)
                assert "已收到" in answer
                record = (await wait_for(lambda: records_for(store, "SMPP-ITEM-1"),
                                         "the rating at the store"))[0]
                print("  STORE>", json.dumps(record, ensure_ascii=False))
                assert record["taskCode"] == "11440100MB2C91234X" and record["pf"] == 7

                print("  CITIZEN> 2")
                await smsc.command(mo={"from": national, "text": "2"})
                answer = await next_message(smsc, national)
                citizen_reads(answer)
                assert "已评价过" in answer
                await asyncio.sleep(1.0)
                assert len(records_for(store, "SMPP-ITEM-1")) == 1
                assert await gw.stop() == 0
            finally:
                gw.kill()
    finally:
        await smsc.kill()
