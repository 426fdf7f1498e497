"""Reminder and confirmation texts: from the shipped messaging flow, with a fallback.

Seed art. 4: voluntary and genuine — the text lists every grade in scale order
with equal weight, names no preferred answer and does not press. The digits
come from ``Grade.keypad`` (the reply convention), never from this module.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timezone

from flows.lint_sms_length import ITEM_NAME_BUDGET
from ratings.grades import Grade

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "广东政务服务"
REMINDER_FLOW = "sms-reminder"
INVITATION_FLOW = "sms-invitation"
INVITATION_NAME = "12345热线通话"  # what a reply-code list calls an invitation's call


def grade_menu() -> str:
    return " ".join(f"{g.keypad}{g.name_zh}" for g in Grade)


def clip_item_name(name: str, budget: int = ITEM_NAME_BUDGET) -> str:
    """The item's name as a reminder quotes it: at most ``budget`` characters (the last
    one "…" when cut), so the reminder stays one segment (flows/lint_sms_length.py)."""
    name = " ".join(name.split())
    return name if len(name) <= budget else name[:budget - 1] + "…"


def reminder_text(service_name: str, code: str, signature: str = DEFAULT_SIGNATURE,
                  assess_number: int = 1) -> str:
    """The reminder as the shipped messaging flow words it (flows/shipped/sms_reminder.yaml);
    the fixed template below only if that flow cannot be loaded or rendered."""
    try:
        return _flow_text(service_name, code, assess_number)
    except Exception:  # a broken flow must not stop reminders; the template is neutral too
        log.exception("sms-reminder flow did not render; using the built-in template")
        return template_text(service_name, code, signature)


@functools.lru_cache(maxsize=1)
def _reminder_flow():
    from flows.loader import shipped_flow

    return shipped_flow(REMINDER_FLOW)


def _flow_text(service_name: str, code: str, assess_number: int) -> str:
    from flows.engine import start
    from flows.session import Trigger

    context = {"item_name": clip_item_name(service_name), "reply_code": code,
               "assess_number": str(assess_number)}
    _, effects = start(_reminder_flow(), Trigger("reminder", context),
                       datetime.now(timezone.utc))
    return next(e.text for e in effects if e.TYPE == "send_sms")


def invitation_text(code: str, signature: str = DEFAULT_SIGNATURE) -> str:
    """The invitation after an unrated call, as flows/shipped/sms_invitation.yaml words
    it; a fixed neutral text only if that flow cannot be loaded or rendered."""
    try:
        from flows.engine import start
        from flows.loader import shipped_flow
        from flows.session import Trigger

        _, effects = start(shipped_flow(INVITATION_FLOW), Trigger("invitation", {
            "reply_code": code}), datetime.now(timezone.utc))
        return next(e.text for e in effects if e.TYPE == "send_sms")
    except Exception:
        log.exception("sms-invitation flow did not render; using the built-in template")
        return f"【{signature}】12345热线通话评价，回复数字：{grade_menu()}。回TD退订"


def template_text(service_name: str, code: str, signature: str = DEFAULT_SIGNATURE) -> str:
    """The flow's wording, fixed (one segment like the flow's own text)."""
    return (f"【{signature}】您办理的“{clip_item_name(service_name)}”已办结。"
            f"回复数字评价：{grade_menu()}。回TD退订")


SEVERAL_NAME_BUDGET = 8  # characters per item name in a text that lists several


def several_text(items: list[tuple[str, str]], signature: str = DEFAULT_SIGNATURE) -> str:
    """One text for several items of one number due together: each item's reply code
    and (clipped) name, how to reply with a code, the grade menu, the opt-out hint.
    ``items``: (service name, reply code) in code order."""
    listed = "；".join(f"{code}{clip_item_name(name, SEVERAL_NAME_BUDGET)}"
                      for name, code in items)
    first = items[0][1]
    key = list(Grade)[0].keypad
    return (f"【{signature}】您有{len(items)}件办件已办结：{listed}。请回复评价码+数字，"
            f"如“{first} {key}”。{grade_menu()}。回TD退订")


def opt_out_confirmation(signature: str = DEFAULT_SIGNATURE) -> str:
    return f"【{signature}】您已退订办件评价短信，此后不再发送。"


def template_params(service_name: str, code: str) -> dict[str, str]:
    """Parameters for templated HTTP providers (their template holds the fixed words)."""
    return {"name": service_name, "code": code}
