"""Call context from the raw INVITE (X- headers, RFC 7433 UUI) and the posted store."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from ivr.context import ContextMapping, context_from_invite, decode_uui, merge_context
from ivr.context_api import CallContextStore, add_call_context_route, context_key

INVITE = (
    "INVITE sip:ivr@10.0.0.5 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1\r\n"
    "f: <sip:+8613800138000@10.0.0.9>;tag=1\r\n"
    "i: abc@10.0.0.9\r\n"
    "{extra}"
    "Content-Type: application/sdp\r\n\r\n"
    "v=0\r\nX-Ticket-Id: not-a-header-in-the-body\r\n"
)


def invite(*headers: str) -> str:
    return INVITE.format(extra="".join(h + "\r\n" for h in headers))


def test_x_headers_map_to_context_names():
    ctx = context_from_invite(invite("X-Ticket-Id: GD-1", "x-agent-id: A9", "X-Lang: yue"),
                              ContextMapping())
    assert ctx == {"ticket": "GD-1", "agent": "A9", "lang": "yue"}


def test_body_lines_are_not_headers():
    assert context_from_invite(invite(), ContextMapping()) == {}


def test_uui_hex_with_isdn_discriminator_and_text_encoding():
    payload = (b"\x04" + "ticket=GD-7&agent=A1".encode()).hex()
    ctx = context_from_invite(invite(f"User-to-User: {payload};encoding=hex;purpose=isdn-uui"),
                              ContextMapping())
    assert ctx == {"ticket": "GD-7", "agent": "A1"}
    assert decode_uui("GD-8;encoding=text") == "GD-8"
    assert context_from_invite(invite("User-to-User: 47442d38;encoding=hex"),
                               ContextMapping()) == {"ticket": "GD-8"}


def test_headers_win_over_uui_and_bad_values_are_dropped():
    uui = "ticket=FROM-UUI".encode().hex()
    ctx = context_from_invite(invite(f"User-to-User: {uui}", "X-Ticket-Id: FROM-HDR",
                                     "X-Agent-Id: <script>"), ContextMapping())
    assert ctx == {"ticket": "FROM-HDR"}


def test_undecodable_uui_is_ignored():
    assert context_from_invite(invite("User-to-User: zz-not-hex"), ContextMapping()) == {}


def test_custom_mapping():
    mapping = ContextMapping.from_dict({"headers": {"X-Case": "ticket"}, "uui": False})
    ctx = context_from_invite(invite("X-Case: C-1", "X-Ticket-Id: ignored"), mapping)
    assert ctx == {"ticket": "C-1"}


def test_merge_posted_wins_and_missing_is_flagged():
    assert merge_context({"ticket": "A", "agent": "X"}, {"ticket": "B"}) == {
        "ticket": "B", "agent": "X"}
    assert merge_context({"agent": "X"}, None)["context_missing"] == "true"


async def test_posted_context_round_trip_over_http(aredis):
    store = CallContextStore(aredis, ttl_s=60)
    app = web.Application()
    add_call_context_route(app, aredis, ttl_s=60)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/v1/calls/context"
            ok = await http.post(url, json={"correlation_id": "c-1", "ticket": "GD-5",
                                            "agent": "A3"})
            assert ok.status == 201
            bad = await http.post(url, json={"correlation_id": "c 2", "phone": "13800138000"})
            assert bad.status == 400
            unknown = await http.post(url, json={"correlation_id": "c-3", "phone": "1380013"})
            assert unknown.status == 400
    finally:
        await runner.cleanup()
    ttl = await aredis.ttl(context_key("c-1"))
    assert 0 < ttl <= 60
    assert await store.take("c-1") == {"ticket": "GD-5", "agent": "A3"}
    assert await store.take("c-1") is None  # read once


@pytest.mark.parametrize("cid", ["", "../x", "a" * 65])
async def test_bad_correlation_ids_read_nothing(aredis, cid):
    assert await CallContextStore(aredis).take(cid) is None


async def test_a_phone_like_correlation_id_never_becomes_a_key(aredis):
    store = CallContextStore(aredis, ttl_s=60)
    await store.put("13800138000", {"ticket": "T-1"})
    assert [k async for k in aredis.scan_iter("*13800138000*")] == []
    assert await store.take("13800138000") == {"ticket": "T-1"}


# -- language from the context (issue 11 part 3) --------------------------------------

@pytest.mark.parametrize("value, lang", [
    ("yue", "yue"), ("zh-HK", "yue"), ("Cantonese", "yue"), ("粤语", "yue"),
    ("zh", "zh"), ("zh-CN", "zh"), ("cmn", "zh"), ("普通话", "zh"),
    ("en", "en"), ("en-US", "en"), ("fr", None), ("", None)])
def test_x_language_in_any_usual_spelling(value, lang):
    ctx = context_from_invite(invite(f"X-Language: {value}"), ContextMapping())
    assert ctx.get("lang") == lang


def test_language_from_the_dialled_number_then_the_trunk_default():
    mapping = ContextMapping.from_dict({"dialled_lang": {"ivr": "Cantonese"},
                                        "default_lang": "en"})
    assert context_from_invite(invite(), mapping)["lang"] == "yue"  # INVITE sip:ivr@…
    assert context_from_invite(invite("X-Language: zh"), mapping)["lang"] == "zh"
    other = ContextMapping.from_dict({"dialled_lang": {"12345": "yue"}, "default_lang": "en"})
    assert context_from_invite(invite(), other)["lang"] == "en"
    assert "lang" not in context_from_invite(invite(), ContextMapping())  # flow default: zh


def test_a_posted_language_is_normalised():
    assert merge_context({"lang": "zh"}, {"lang": "zh-HK"})["lang"] == "yue"
    assert merge_context({"lang": "zh"}, {"lang": "klingon"})["lang"] == "zh"


# -- an agent id that is a phone number is refused (issue 11, "Smaller") ----------------

@pytest.mark.parametrize("agent", ["13812345678", "+8613812345678", "138-1234-5678",
                                   "020-83001234", "A13812345678"])
def test_a_phone_number_is_not_an_agent_id(agent, caplog):
    caplog.set_level("WARNING", logger="hcp.ivr.context")
    ctx = context_from_invite(invite("X-Ticket-Id: GD-1", f"X-Agent-Id: {agent}"),
                              ContextMapping())
    assert ctx == {"ticket": "GD-1", "agent_refused": "phone_like"}
    assert "****" in caplog.text and "12345678" not in caplog.text
    assert "83001234" not in caplog.text


@pytest.mark.parametrize("agent", ["A1017", "1017", "123456", "EMP-000123", "gz_agent_7"])
def test_ordinary_agent_ids_are_kept(agent):
    assert context_from_invite(invite(f"X-Agent-Id: {agent}"), ContextMapping())["agent"] == agent


def test_a_posted_phone_like_agent_or_staff_id_is_refused():
    ctx = merge_context({"ticket": "GD-1", "agent": "A9"},
                        {"agent": "13900139000", "staff_id": "+8613900139000"})
    assert "agent" not in ctx and "staff_id" not in ctx and ctx["agent_refused"] == "phone_like"


@pytest.mark.parametrize("header, flag", [("X-Call-Record-Id", "call_record_refused"),
                                          ("X-Work-Order", "call_record_refused"),
                                          ("X-Ticket-Id", "ticket_refused")])
def test_a_phone_like_call_record_or_ticket_never_names_a_record(header, flag, caplog):
    """The call's own id becomes the record's projectNo and a Redis key (done and
    invitation markers): a number there would put the caller's phone in both."""
    from ivr.outcome import call_target

    caplog.set_level("WARNING", logger="hcp.ivr.context")
    ctx = context_from_invite(invite(f"{header}: 13812345678"), ContextMapping())
    assert ctx == {flag: "phone_like"}
    assert "12345678" not in caplog.text
    target = call_target("item", ctx, "a84b4c76e66710@pc33")
    assert target.id.startswith("HL") and "1381234" not in target.id
    posted = merge_context({"call_record": "CR-1"}, {"call_record": "+86 138 1234 5678"})
    assert "call_record" not in posted and posted["call_record_refused"] == "phone_like"


def test_the_calls_own_id_and_closes_item_from_headers_and_uui():
    """What decides the record a call's rating is filed under (ivr.outcome.call_target)."""
    from ivr.outcome import call_target
    from ratings.model import TargetKind

    ctx = context_from_invite(invite("X-Ticket-Id: GD-1", "X-Call-Record-Id: CR-77",
                                     "X-Closes-Item: true"), ContextMapping())
    assert ctx == {"ticket": "GD-1", "call_record": "CR-77", "closes_item": "true"}
    assert call_target("item", ctx, "sip-1").kind is TargetKind.ITEM  # the ticket's item
    uui = "ticket=GD-2;work_order=WO-9".encode().hex()
    ctx = context_from_invite(invite(f"User-to-User: {uui};encoding=hex"), ContextMapping())
    assert ctx == {"ticket": "GD-2", "work_order": "WO-9"}
    target = call_target("item", ctx, "sip-2")
    assert (target.kind, target.id) == (TargetKind.CALL, "WO-9")  # the call, not GD-2


def test_a_posted_call_record_and_closes_item_are_kept():
    from ivr.context_api import validate_context

    cid, ctx = validate_context({"correlation_id": "c-9", "ticket": "GD-3",
                                 "call_record": "CR-1", "closes_item": "true"})
    assert ctx == {"ticket": "GD-3", "call_record": "CR-1", "closes_item": "true"}
