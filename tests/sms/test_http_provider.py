"""The HTTP provider adapter against a loopback provider; callbacks into a real aiohttp app."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from adapters.redis_server import free_port
from adapters.sms_http import (HttpProviderConfig, HttpSmsCarrier, add_sms_callback_routes,
                               signed_headers)
from sms.carrier import DeliveryState, OutboundSms, PermanentError, Throttled, TransientError

from .http_provider import CB_KEY, CB_SECRET, KEY, SECRET, LoopbackProvider

PHONE = "+8613800138000"


@pytest.fixture
async def world():
    provider = await LoopbackProvider().start()
    carrier = HttpSmsCarrier(HttpProviderConfig(
        "acme", provider.url, KEY, SECRET, "广东政务服务", "SMS_0001",
        callback_key=CB_KEY, callback_secret=CB_SECRET))
    got = {"mo": [], "dlr": []}

    async def on_inbound(m):
        got["mo"].append(m)

    async def on_receipt(r):
        got["dlr"].append(r)

    await carrier.start(on_inbound, on_receipt)
    app = web.Application()
    add_sms_callback_routes(app, {"acme": carrier})
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield provider, carrier, got, f"http://127.0.0.1:{port}"
    await carrier.stop()
    await runner.cleanup()
    await provider.stop()


def message(i=1):
    return OutboundSms(f"m{i}", PHONE, "ignored by templated providers", template=None,
                       params={"name": "居住证签注", "code": "101"})


async def test_templated_signed_send(world):
    provider, carrier, _, _ = world
    result = await carrier.send(message())
    assert provider.refused == []
    sent = provider.sent[0]
    assert sent["PhoneNumbers"] == "13800138000" and sent["TemplateCode"] == "SMS_0001"
    assert json.loads(sent["TemplateParam"]) == {"name": "居住证签注", "code": "101"}
    assert sent["OutId"] == "m1" and result.carrier_id == sent["BizId"]


async def test_wrong_secret_is_refused_by_the_provider(world):
    provider, _, _, _ = world
    bad = HttpSmsCarrier(HttpProviderConfig("acme", provider.url, KEY, "wrong", "S", "T"))
    await bad.start(None, None)
    with pytest.raises(PermanentError):
        await bad.send(message())
    await bad.stop()
    assert provider.refused == ["bad signature"]


@pytest.mark.parametrize("status,payload,error", [
    (429, {"Code": "Throttling"}, Throttled),
    (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL"}, Throttled),
    (503, {}, TransientError),
    (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL"}, PermanentError),
])
async def test_error_mapping(world, status, payload, error):
    provider, carrier, _, _ = world
    provider.fail_next.append((status, payload))
    with pytest.raises(error) as caught:
        await carrier.send(message())
    if status == 429:
        assert caught.value.retry_after == 7.0
    assert (await carrier.send(message(2))).carrier_id  # the next one goes through


async def test_unreachable_provider_is_transient():
    carrier = HttpSmsCarrier(HttpProviderConfig(
        "acme", f"http://127.0.0.1:{free_port()}", KEY, SECRET, "S", "T"))
    await carrier.start(None, None)
    with pytest.raises(TransientError):
        await carrier.send(message())
    await carrier.stop()


async def test_mo_and_receipt_callbacks(world):
    provider, carrier, got, base = world
    result = await carrier.send(message())
    status, body = await provider.callback(f"{base}/v1/sms/inbound/acme", [
        {"phone_number": "13800138000", "content": "１ 非常满意", "send_time":
         "2026-11-27 10:00:00", "dest_code": "101", "sequence_id": 77}])
    assert status == 200 and body["handled"] == 1
    assert got["mo"][0].phone == PHONE and got["mo"][0].text == "１ 非常满意"
    assert got["mo"][0].received_at.utcoffset().total_seconds() == 8 * 3600
    status, body = await provider.callback(f"{base}/v1/sms/receipts/acme", [
        {"biz_id": result.carrier_id, "out_id": "m1", "success": True, "err_code": "DELIVERED"},
        {"biz_id": "BIZ-other", "success": False, "err_code": "EXPIRED"},
        {"biz_id": "BIZ-x", "success": False, "err_code": "MK:0001"}])
    assert status == 200 and body["handled"] == 3
    assert [r.state for r in got["dlr"]] == [
        DeliveryState.DELIVERED, DeliveryState.EXPIRED, DeliveryState.FAILED]
    assert got["dlr"][0].carrier_id == result.carrier_id


async def test_callbacks_refuse_bad_signature_replay_and_unknown_provider(world):
    provider, _, got, base = world
    url = f"{base}/v1/sms/inbound/acme"
    item = [{"phone_number": "13800138000", "content": "TD"}]
    status, _ = await provider.callback(url, item, secret="forged")
    assert status == 401
    body = json.dumps(item).encode()
    headers = signed_headers(CB_KEY, CB_SECRET, "POST", "/v1/sms/inbound/acme", body)
    assert (await provider.callback(url, item, headers=headers))[0] == 200
    assert (await provider.callback(url, item, headers=headers))[0] == 401  # replayed nonce
    stale = dict(headers, **{"X-Hcp-Timestamp": "1000000000"})
    assert (await provider.callback(url, item, headers=stale))[0] == 401
    assert (await provider.callback(f"{base}/v1/sms/inbound/nobody", item))[0] == 404
    assert len(got["mo"]) == 1
