"""The 已整改 text to the evaluator: one 。 at the end, a long note shortened at a clause
boundary (never inside a word), the signature from configuration, and a preview on the
case page that shows exactly the text sent, its length and segments (issue 13)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from aiohttp import web
from aiohttp.test_utils import TestServer

from console.app import make_app
from console.feedback import NOTE_LIMIT, clean_note, compose, preview
from ratings import results
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind
from sms import segments
from tests.console.test_app_inprocess import sign_in, users

REC = {"assessed_at": "2026-11-03T09:30:00+08:00"}


def test_the_note_ends_with_one_full_stop():
    for note in ("已对窗口人员进行培训。", "已对窗口人员进行培训", "已对窗口人员进行培训！ \n",
                 "已对窗口人员进行培训。。"):
        text = compose(REC, note, "某市12345")
        assert text == ("【某市12345】您好，您于11月3日反映的服务问题已整改完毕："
                        "已对窗口人员进行培训。感谢您的监督。"), note
        assert "。。" not in text
    assert compose(REC, "  ", "某市12345").endswith("整改完毕。感谢您的监督。")


def test_a_long_note_is_shortened_at_a_clause_boundary_not_inside_a_word():
    note = ("已约谈窗口负责人，对全体窗口人员开展服务规范培训，重新梳理了不动产登记的办理流程和"
            "材料清单，并调整了叫号系统的设置，增加了周末延时服务窗口，另对相关责任人进行了通报批评。")
    short, cut = clean_note(note)
    assert cut and short.endswith("…") and len(short) <= NOTE_LIMIT + 1
    assert note.startswith(short[:-1]) and note[len(short) - 1] in "，。"  # at a comma
    latin = "已更新 " + "x" * 30 + " 系统 " + "Windows-Server-Configuration-Update " * 3
    short, cut = clean_note(latin)
    kept = short[:-1]
    assert cut and short.endswith("…") and latin.startswith(kept)
    assert latin[len(kept)] == " "  # ends before a word, not inside one
    short, cut = clean_note("A" * 60 + " " + "Configuration" * 3)  # no boundary after 35
    assert cut and short == "A" * 60 + "…"
    assert "。。" not in compose(REC, note) and compose(REC, note).endswith("窗口…。感谢您的监督。")


def test_the_preview_counts_length_and_segments():
    p = preview(REC, "已对窗口人员进行培训", "某市12345")
    info = segments.count(p.text)
    assert (p.length, p.segments, p.encoding) == (len(p.text), info.segments, "ucs2")
    assert preview(REC, "好" * 200).segments == segments.count(compose(REC, "好" * 200)).segments


async def test_the_text_sent_is_the_preview_with_the_configured_signature(aredis, tmp_path):
    ev = Evaluation(target=Target(TargetKind.ITEM, "P-8"), channel=Channel.HOTLINE,
                    grade=Grade.DISSATISFIED, assessed_at=datetime.now(timezone.utc),
                    reasons=("attitude",), phone="+8613912345678")
    await results.record_accepted(aredis, ev)
    root = web.Application()
    root.add_subapp("/console/", make_app(aredis, users(), data_dir=tmp_path,
                                          sms_signature="某市政务服务"))
    server = TestServer(root)
    await server.start_server()
    try:
        session, csrf = await sign_in(server, "sup")
        note = "已对窗口人员进行培训。"
        for frm, to in (("pending_callback", "called_back"), ("called_back", "rectifying")):
            async with session.post(f"/console/cases/{ev.id}/move", data={
                    "_csrf": csrf, "from": frm, "to": to, "note": "x",
                    "verification": "true"}) as resp:
                page = await resp.text()
        assert 'class="fb-preview"' in page and "【某市政务服务】" in page
        async with session.get(f"/console/api/cases/{ev.id}/feedback",
                               params={"note": note}) as resp:
            shown = await resp.json()
        assert shown["segments"] == segments.count(shown["text"]).segments
        assert f'{shown["length"]} 字 · {shown["segments"]} 条短信' in shown["html"]
        async with session.post(f"/console/cases/{ev.id}/move", data={
                "_csrf": csrf, "from": "rectifying", "to": "rectified", "note": note}) as resp:
            assert resp.status == 200
        sent = [json.loads(p.read_text()) for p in (tmp_path / "sms-outbox").glob("*.json")]
        assert [m["text"] for m in sent] == [shown["text"]]
        assert sent[0]["text"].startswith("【某市政务服务】") and "。。" not in sent[0]["text"]
        await session.close()
    finally:
        await server.close()
