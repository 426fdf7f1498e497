"""What a call leaves behind: the evaluation(s) it submits, or an unrated record.

* ``SubmitEvaluation`` → ``ratings.model.Evaluation`` (channel hotline, source
  id = the SIP Call-ID, flow id and version, context with ticket and agent) →
  ``Intake.accept``. The evaluation id is derived from (Call-ID, target, assess
  number), so a retry after a lost answer is a replay, never a second rating.
  ``already_evaluated`` goes back to the flow as ``EvaluationResult(False,
  "duplicate")`` (it then says so).
* Target (``call_target``): the service rating rates *this call* (一次一评, target
  kind call), not the ticket's item, whose one evaluation comes after it is
  completed (seed art. 14) and keeps its 24 h reminder; only a context flag
  ``closes_item=true`` (this call completes the ticket) makes it the item's rating.
  The staff rating is per visit, and the visit is this call. The call's id is its
  own from the context (``call_record`` or ``work_order``); as a last resort one
  derived from the Call-ID (``HL`` + a UUID5 hex: stable, no host or number of the
  Call-ID in it). ``context_missing=true`` when there is no ticket.
* A reason menu that ran out without a choice: the flow's ``SubmitEvaluation``
  says ``reason_missing`` (no_input / invalid) and carries no words; the comment
  becomes the system's note from ``REASON_MISSING_COMMENTS``, flagged
  ``reason_missing`` and ``comment_by=system`` (the record marks it as system text).
* Hang-up inside a reason menu (item or staff) after a bad grade: the engine ends
  the session (interrupted) without a submission. We then submit the grade the
  caller did press, with the comment ``REASON_HANGUP_COMMENT`` (a true statement, which the
  exchange's "reason or comment" rule accepts) and ``reason_missing=hangup`` in
  the context; no reason code is invented (art. 4: genuine). The bad grade opens
  the art. 15 callback, where the reason is asked. A hang-up before any grade, in
  the confirmation of a grade, or before a good grade was submitted, is "unrated".
* Unrated: ``INCR {hcp}:ivr:unrated`` and an entry in ``{hcp}:ivr:unrated_calls``
  (Call-ID, ticket, flow, last node; no phone number).
* SMS invitation (the prompt promises "we will send you a text"): a call that ends
  unrated or failed, with nothing accepted, from a mobile number, asks the SMS
  channel for one invitation through the invitation hook. The workers are separate
  processes, so the default hook (``RedisInvitations``) writes a request to the
  ``ratings.keys.INVITATIONS`` stream and the gateway's SMS channel consumes it
  (``sms.invitations``). One Lua step ``SET NX`` the call's key and adds the entry:
  a retried finish or a second worker never asks twice. The key names the call's
  own id (``call_id_of``: the context's call record, else ``HL`` + UUID5 of the
  Call-ID), never the number, which is a value of the entry only.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable

import phonenumbers

from flows.events import EvaluationResult
from ivr.call import CallFacts, utcnow
from ivr.context import AGENT, CALL_RECORD, CLOSES_ITEM, TICKET, WORK_ORDER
from ratings import keys
from ratings.phone_vault import PhoneVault
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, InvalidEvaluation, Target, TargetKind

log = logging.getLogger("hcp.ivr.outcome")

UNRATED_COUNTER = "{hcp}:ivr:unrated"
UNRATED_STREAM = "{hcp}:ivr:unrated_calls"
CALLS_STREAM = "{hcp}:ivr:calls"
STREAM_MAXLEN = 100_000
REASON_HANGUP_COMMENT = "来电人在选择不满意原因时挂机，未选择原因"
# The flow's SubmitEvaluation.reason_missing (the reason menu ran out without a
# choice) -> the system's note; flagged reason_missing + comment_by=system, so the
# record marks it as system text (ratings.records.writing_evaluation)
REASON_MISSING_COMMENTS = {
    "no_input": "来电人在不满意原因菜单中未按键，未选择原因",
    "invalid": "来电人在不满意原因菜单中的按键无效，未选择原因",
    "hangup": REASON_HANGUP_COMMENT,
}
_ID_NAMESPACE = uuid.UUID("4f7d3c1e-2a55-4c7e-9a0b-5d1e8b6f0c21")

# (E.164, context): the context carries INVITATION_CALL, the call's own id (call_id_of)
InvitationHook = Callable[[str, dict], Awaitable[bool | None]]
INVITATION_CALL = "invitation_call"
INVITE_OUTCOMES = ("unrated", "failed")  # how a call ends that gets the SMS invitation


def evaluation_id(call_id: str, target: str, assess_number: int) -> str:
    return uuid.uuid5(_ID_NAMESPACE, f"hotline:{call_id}:{target}:{assess_number}").hex


CALL_RECORD_KEYS = (CALL_RECORD, WORK_ORDER)  # the call's own id, if the context has one


def call_id_of(ctx: dict, call_id: str) -> str:
    """This call's own id: the context's call record / work order, else from the Call-ID."""
    own = next((ctx[k] for k in CALL_RECORD_KEYS if ctx.get(k)), None)
    return own or "HL" + uuid.uuid5(_ID_NAMESPACE, f"call:{call_id}").hex


def call_target(effect_target: str, ctx: dict, call_id: str) -> Target:
    """What a hotline rating rates: this call, its agent on this call, or (only when the
    context says the call closes it) the ticket's item."""
    if effect_target == "staff":
        agent = ctx.get(AGENT)
        if not agent:
            raise InvalidEvaluation("target.staff_id", "no agent id in the call context")
        return Target(TargetKind.STAFF, call_id_of(ctx, call_id), staff_id=agent)
    ticket = ctx.get(TICKET)
    if ticket and str(ctx.get(CLOSES_ITEM, "")).lower() in ("1", "true", "yes"):
        return Target(TargetKind.ITEM, ticket)
    return Target(TargetKind.CALL, call_id_of(ctx, call_id))


def build_evaluation(effect, facts: CallFacts, comment_extra: dict | None = None
                     ) -> Evaluation:
    """An Evaluation from a SubmitEvaluation effect and what the call knows."""
    ctx = dict(facts.context)
    ctx.update(comment_extra or {})
    ticket = ctx.get(TICKET)
    target = call_target(effect.target, ctx, facts.call_id)
    ctx["context_missing"] = "false" if ticket else "true"
    comment, missing = effect.comment, getattr(effect, "reason_missing", None)
    if missing and not (effect.reasons or comment.strip()):
        comment = REASON_MISSING_COMMENTS.get(missing, REASON_MISSING_COMMENTS["no_input"])
        ctx.update(reason_missing=missing, comment_by="system")
    return Evaluation(
        id=evaluation_id(facts.call_id, effect.target, effect.assess_number),
        target=target, channel=Channel.HOTLINE, grade=Grade.from_id(effect.grade),
        assessed_at=utcnow(), reasons=tuple(effect.reasons), comment=comment,
        phone=facts.caller, assess_number=effect.assess_number,
        flow_id=effect.flow_id or None, flow_version=effect.flow_version or None,
        source_id=facts.call_id, voice_comment=effect.voice_comment,
        context={k: str(v) for k, v in ctx.items()})


def is_mobile(e164: str | None) -> bool:
    """Only a mobile can get the SMS invitation."""
    if not e164:
        return False
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False
    return kind in (phonenumbers.PhoneNumberType.MOBILE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


_INVITE_LUA = """
-- KEYS[1] invited(call), KEYS[2] INVITATIONS; ARGV[1] ttl, ARGV[2] maxlen,
-- ARGV[3] group, ARGV[4..] the entry's field/value pairs
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


class RedisInvitations:
    """The default invitation hook: one request per call in the INVITATIONS stream,
    the caller's number sealed (ratings.phone_vault: never in clear at rest)."""

    def __init__(self, redis, vault: PhoneVault):
        self._script = redis.register_script(_INVITE_LUA)
        self._vault = vault

    async def __call__(self, phone: str, context: dict) -> bool:
        """True if this call's invitation was requested now, False if it was already."""
        call_id = context[INVITATION_CALL]
        return bool(await self._script(
            keys=[keys.invited(call_id), keys.INVITATIONS],
            args=[keys.INVITED_TTL_S, keys.INVITATIONS_MAXLEN, keys.INVITATIONS_GROUP,
                  "call", call_id, "phone", self._vault.seal(phone),
                  "at", utcnow().isoformat()]))


class Outcomes:
    def __init__(self, intake, redis, invitation_hook: InvitationHook | None = None):
        self.intake = intake
        self.redis = redis
        # the gateway may hand in its own hook; a worker process uses Redis
        self.invitation_hook = invitation_hook if invitation_hook is not None \
            else RedisInvitations(redis, PhoneVault(intake.phone_secret))

    async def submit(self, effect, facts: CallFacts, hung_up: bool = False,
                     extra: dict | None = None) -> EvaluationResult:
        try:
            ev = build_evaluation(effect, facts, extra)
        except (InvalidEvaluation, ValueError) as exc:
            log.warning("call %s: evaluation not valid: %s", facts.call_id, exc)
            return EvaluationResult(False, "invalid")
        try:
            result = await self.intake.accept(ev)
        except Exception:  # Redis away: the flow says sorry, the call is counted
            log.exception("call %s: intake unavailable", facts.call_id)
            return EvaluationResult(False, "unavailable")
        log.info("call %s: evaluation %s (%s, %s) %s", facts.call_id, ev.id, effect.target,
                 effect.grade, "accepted" if result.accepted else result.reason)
        if result.accepted:
            return EvaluationResult(True)
        reason = "duplicate" if result.reason == "already_evaluated" else result.reason
        return EvaluationResult(False, reason or "rejected")

    async def finish(self, facts: CallFacts, session, outcome: str) -> str:
        """After the call: rescue a bad grade left in a reason menu, record the unrated,
        and write the call summary. Returns the final outcome."""
        if session is not None:
            rescued = await self._bad_grade_without_reason(facts, session)
            if rescued and outcome == "unrated":
                outcome = rescued
        if outcome == "unrated":
            await self._unrated(facts, session)
        if outcome in INVITE_OUTCOMES and "accepted" not in facts.submitted:
            await self._invite(facts)
        await self._summary(facts, session, outcome)
        return outcome

    async def _bad_grade_without_reason(self, facts: CallFacts, session) -> str | None:
        """The caller hung up *in a reason menu* (not in the confirmation before it)
        after a bad grade: submit that grade with REASON_HANGUP_COMMENT."""
        flow = getattr(session, "flow", None)
        node = flow.nodes.get(session.node) if flow is not None else None
        if session.status != "interrupted" or not node or node.get("type") != "reasons":
            return None
        target = "staff" if node.get("store") == "staff_reasons" else "item"
        grade_var, reasons_var = (("staff_grade", "staff_reasons") if target == "staff"
                                  else ("grade", "reasons"))
        v = session.vars or {}
        if not v.get(grade_var) or v.get(f"result_{target}") or v.get(reasons_var):
            return None
        grade = Grade.from_id(v[grade_var])
        if not grade.needs_reason:
            return None
        effect = _LateSubmit(target, grade.id, session.flow_id, session.flow_version,
                             v.get("voice_comment") if target == "item" else None)
        result = await self.submit(effect, facts, True, {"reason_missing": "hangup"})
        facts.submitted.append("accepted" if result.accepted else result.reason)
        if result.accepted:
            return "rated_reason_missing"
        return "duplicate" if result.reason == "duplicate" else None

    async def _unrated(self, facts: CallFacts, session) -> None:
        fields = {"call_id": facts.call_id, "ticket": facts.context.get(TICKET, ""),
                  "flow": getattr(session, "flow_id", "") or "",
                  "node": getattr(session, "node", "") or "", "at": utcnow().isoformat()}
        try:
            await self.redis.incr(UNRATED_COUNTER)
            await self.redis.xadd(UNRATED_STREAM, fields, maxlen=STREAM_MAXLEN,
                                  approximate=True)
        except Exception:
            log.exception("call %s: could not record the unrated call", facts.call_id)

    async def _invite(self, facts: CallFacts) -> None:
        """Ask the SMS channel for the invitation (a mobile caller only, once per call)."""
        if not is_mobile(facts.caller):
            return
        call = call_id_of(facts.context, facts.call_id)
        try:
            asked = await self.invitation_hook(facts.caller,
                                               {**facts.context, INVITATION_CALL: call})
        except Exception:
            log.exception("call %s: SMS invitation not requested", facts.call_id)
            return
        log.info("call %s: SMS invitation %s", facts.call_id,
                 "already requested" if asked is False else "requested")

    async def _summary(self, facts: CallFacts, session, outcome: str) -> None:
        fields = {
            "call_id": facts.call_id, "outcome": outcome,
            "ticket": facts.context.get(TICKET, ""), "agent": facts.context.get(AGENT, ""),
            "context_missing": facts.context.get("context_missing", "false"),
            "flow": getattr(session, "flow_id", "") or "",
            "flow_version": getattr(session, "flow_version", "") or "",
            "status": getattr(session, "status", "") or "",
            "digits": json.dumps(facts.digits), "submitted": json.dumps(facts.submitted),
            "prompts": json.dumps(facts.prompts), "began_at": facts.began_at,
        }
        try:
            await self.redis.xadd(CALLS_STREAM, fields, maxlen=STREAM_MAXLEN, approximate=True)
        except Exception:
            log.exception("call %s: could not write the call summary", facts.call_id)


class _LateSubmit:
    """A SubmitEvaluation-shaped record for the reason-menu hang-up rescue."""

    reasons: tuple[str, ...] = ()
    comment = REASON_HANGUP_COMMENT
    assess_number = 1

    def __init__(self, target: str, grade: str, flow_id: str, flow_version: str,
                 voice_comment):
        self.target = target
        self.grade = grade
        self.flow_id = flow_id
        self.flow_version = flow_version
        self.voice_comment = voice_comment
