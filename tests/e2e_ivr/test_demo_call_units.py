"""Unit: the demo call's INVITE context lines are what the worker's parser reads, and its
caller-side timeline arithmetic (segments, key → next sound)."""

from __future__ import annotations

from ivr.context import ContextMapping, context_from_invite
from ivr.demo_call import FRAME_S, SPEECH_RMS, Heard, context_headers


def invite_with(lines: tuple[str, ...]) -> str:
    return ("INVITE sip:ivr@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\n" + "\r\n".join(lines)
            + "\r\nContent-Length: 0\r\n\r\n")


def test_headers_and_uui_carry_ticket_and_agent():
    for uui in (False, True):
        ctx = context_from_invite(invite_with(context_headers("GD-9", "A3", uui)),
                                  ContextMapping())
        assert (ctx.get("ticket"), ctx.get("agent")) == ("GD-9", "A3"), (uui, ctx)
    assert "ticket" not in context_from_invite(invite_with(context_headers("", "", False)),
                                               ContextMapping())
    for uui in (False, True):
        ctx = context_from_invite(invite_with(context_headers("GD-9", "A3", uui, True)),
                                  ContextMapping())
        assert ctx.get("closes_item") == "true", (uui, ctx)
        assert "closes_item" not in context_from_invite(
            invite_with(context_headers("GD-9", "A3", uui)), ContextMapping())


def test_segments_and_the_gap_after_a_key():
    heard = Heard()
    loud, quiet = float(SPEECH_RMS * 2), 0.0
    # 1 s prompt, 1 s quiet (key at 1.4 s), 0.5 s prompt; then a barge-in inside it
    heard.levels = [loud] * 50 + [quiet] * 50 + [loud] * 25
    heard.keys = [("1", 1.4), ("2", 2.2)]
    assert heard.segments() == [(0.0, 1.0), (2.0, 2.5)]
    assert heard.silence_after_keys() == [("1", 0.6), ("2", 0.0)]
    assert abs(heard.now() - 125 * FRAME_S) < 1e-9
