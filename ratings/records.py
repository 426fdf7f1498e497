"""Evaluation → national-style store records: one record per item (fan-out).

Record identity: the exchange keeps one record per (projectNo, assessNumber) and
refuses a repeat, so each kind of target has its own projectNo (``project_no``):

    item, batch, theme   the item id (办件编号) itself, one record per covered item
    staff                "staff:<staff id>:<visit id>"   (seed art. 10, 14: per visit)
    call                 "call:<call id>"                (一次一评: the call, not the item)

``ratings.model.Target`` refuses item ids starting with "staff:" or "call:" and staff
ids holding ':', so the three kinds never share a projectNo; the intake's dedupe
keys guarantee one first evaluation (assessNumber 1) and one follow-up (2) per target.

A batch or a theme is rated once but the exchange stores ratings per item
(办件), so one evaluation becomes one record per covered item (seed art. 14).
Each record carries its own idempotency key, ``<evaluation id>:<item>``, so a
fan-out that fails half-way and is retried, or re-claimed by another worker
after a crash, never stores an item twice.

The item list is the outbox entry's ``covers`` (written by the intake: a theme
covers only its items not rated on their own; a follow-up covers what its first
evaluation covered) and falls back to ``Target.record_items()``.

Field names follow provincial 好差评 exchange code (DESIGN.md, "Codes the outside
world uses"). The grade travels only as ``Grade.exchange_code`` (5 = 非常满意).
The evaluator's mobile number is left out unless a contract needs it.

Exchange fields from configuration (``RecordOptions``, built by the gateway):

* ``evalDetail``: the reasons mapped through the reason-code table
  (``ratings.reason_codes``: a shipped default, ``core.reason_codes`` for another).
* ``pf``: the code of the channel that really collected the rating — the context's
  ``pf`` if the channel says it, else the configured code of the evaluation's
  channel. A channel with no configured code (the API, unless ``core.pf_api`` is
  set) and no ``pf`` in the context gets no default: ``UnknownChannelCode``
  (the submitter dead-letters the entry with that reason; nothing is guessed).
* ``areaCode``: the context's ``area_code``, else ``core.area_code`` (6 digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ratings.model import CHINA, SYSTEM_COMMENT_MARK, Channel, Evaluation, TargetKind
from ratings.reason_codes import eval_detail, load_table
from ratings.store import StoreRecord

ASSESS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# pf (evaluation channel) of most provinces: 6 telephone, 7 SMS. One variant uses
# 6 = SMS, 7 = system default, so the mapping is configuration, not code. The API is
# no channel of its own: its caller says which channel collected the rating.
DEFAULT_PF_CODES: dict[str, int] = {
    Channel.HOTLINE.value: 6,
    Channel.SMS.value: 7,
}
DEFAULT_REASON_CODES: dict[str, str] = load_table()  # ratings/reason_codes.toml


class UnknownChannelCode(ValueError):
    """No pf for the channel that collected the rating: nothing is guessed."""


@dataclass(frozen=True)
class RecordOptions:
    pf_codes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PF_CODES))
    include_mobile: bool = False  # only where the provincial contract needs it
    default_user_prop: str = "1"  # 1 natural person, 2 legal person …
    reason_codes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REASON_CODES))
    area_code: str = ""  # core.area_code: the 6-digit 行政区划代码 of this hotline

    def pf(self, channel: Channel) -> int:
        code = self.pf_codes.get(channel.value)
        if code is None:
            raise UnknownChannelCode(
                f"no pf for channel {channel.value}: the caller must say which channel "
                f"collected the rating (context pf), or set core.pf_{channel.value}")
        return code


def idempotency_key(evaluation_id: str, item: str) -> str:
    return f"{evaluation_id}:{item}"


def project_no(ev: Evaluation, covered: str) -> str:
    """The projectNo of the record for ``covered`` (an id of the outbox ``covers``)."""
    kind = ev.target.kind
    if kind is TargetKind.STAFF:
        return f"staff:{ev.target.staff_id}:{covered}"
    if kind is TargetKind.CALL:
        return f"call:{covered}"
    return covered


def assess_time(ev: Evaluation) -> str:
    return ev.assessed_at.astimezone(CHINA).strftime(ASSESS_TIME_FORMAT)


def national_mobile(e164: str) -> str:
    """The number as the exchange writes it: 11 digits for +86, else E.164."""
    return e164[3:] if e164.startswith("+86") else e164


def writing_evaluation(ev: Evaluation) -> str:
    """The evaluator's own words; text the system wrote goes out marked as such."""
    if ev.comment.strip() and ev.comment_by_system:
        return f"{SYSTEM_COMMENT_MARK}{ev.comment}"
    return ev.comment


def record_payload(ev: Evaluation, item: str, options: RecordOptions) -> dict:
    ctx = ev.context
    payload: dict = {
        "projectNo": project_no(ev, item),
        "taskCode": ctx.get("task_code", ""),
        "deptCode": ctx.get("dept_code", ""),
        "areaCode": ctx.get("area_code") or options.area_code,
        "pf": int(ctx["pf"]) if ctx.get("pf") else options.pf(ev.channel),
        "satisfaction": ev.grade.exchange_code,
        "evalDetail": eval_detail(ev.reasons, options.reason_codes),
        "writingEvaluation": writing_evaluation(ev),
        "assessTime": assess_time(ev),
        "assessNumber": ev.assess_number,
        "userProp": ctx.get("user_prop", options.default_user_prop),
    }
    if ev.target.kind is TargetKind.STAFF:
        payload["proManager"] = ev.target.staff_id
    if options.include_mobile and ev.phone:
        payload["mobile"] = national_mobile(ev.phone)
    return payload


def fan_out(ev: Evaluation, options: RecordOptions | None = None,
            covers: list[str] | tuple[str, ...] | None = None) -> list[StoreRecord]:
    """One StoreRecord per covered item, each with its own idempotency key."""
    options = options or RecordOptions()
    items = tuple(covers) if covers else ev.target.record_items()
    return [StoreRecord(idempotency_key(ev.id, item), record_payload(ev, item, options))
            for item in items]
