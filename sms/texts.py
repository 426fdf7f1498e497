"""Reminder and confirmation texts, until the messaging flow (flows/shipped) supplies them.

Seed art. 4: voluntary and genuine — the text lists every grade in scale order
with equal weight, names no preferred answer and does not press. The digits
come from ``Grade.keypad`` (the reply convention), never from this module.
"""

from __future__ import annotations

from ratings.grades import Grade

DEFAULT_SIGNATURE = "广东政务服务"


def grade_menu() -> str:
    return " ".join(f"{g.keypad}{g.name_zh}" for g in Grade)


def reminder_text(service_name: str, code: str, signature: str = DEFAULT_SIGNATURE) -> str:
    return (f"【{signature}】您办理的“{service_name}”已办结，欢迎评价。"
            f"请回复：{grade_menu()}；多件待评时请加评价码{code}。回复TD退订")


def opt_out_confirmation(signature: str = DEFAULT_SIGNATURE) -> str:
    return f"【{signature}】您已退订办件评价短信，此后不再发送。"


def template_params(service_name: str, code: str) -> dict[str, str]:
    """Parameters for templated HTTP providers (their template holds the fixed words)."""
    return {"name": service_name, "code": code}
