"""SMS conversations: a citizen's reply, routed to the right pending item and flow.

Theory of operation. ``on_inbound`` is the carriers' MO callback. A reply is
parsed once here (sms.grammar, with the number's live reply codes) to decide
*where* it goes; the messaging flow (flows/shipped/sms_reminder.yaml, run by the
pure engine) decides *what it means* for that item and what to answer.

  opt-out (TD/退订/T/R …)      -> remember it; confirm once (sms.optout)
  a reply code                 -> that item (unknown code: say which codes exist)
  a conversation waiting for a reason (after a bad grade) -> that one
  otherwise the number's reminders already sent: one not yet rated -> it; several -> ask which,
  listing codes and names; none pending but rated -> "already evaluated";
  追加 (follow-up) -> the rated item, as assess_number 2 (the intake keeps the
  window and the once-only rule)

A session is started lazily when the first reply for an item arrives (its
first effect, the reminder text, was already sent by the dispatcher, so it is
dropped) and kept in Redis only while it waits for another reply. The effect
loop sends SendSms texts, hands SubmitEvaluation to the intake and resumes
with the result, so a duplicate becomes the flow's "already evaluated" text.
Every automatic answer counts against a per-number hourly limit, so two
robots answering each other cannot loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from datetime import datetime, timezone

from flows import effects as fx
from flows import engine
from flows import events as ev
from flows.session import EngineError, Session, Trigger
from ratings.grades import Grade
from ratings.intake import MESSAGES as INTAKE_MESSAGES
from ratings.model import Channel, Evaluation, Target, TargetKind
from sms import grammar, keys, texts
from sms.carrier import CarrierError, InboundSms, OutboundSms
from sms.grammar import Intent
from sms.optout import OptOuts
from sms.reminders import SENT, SKIPPED_RATED, Reminder, Reminders

log = logging.getLogger(__name__)

KINDS = {"i": TargetKind.ITEM, "b": TargetKind.BATCH, "t": TargetKind.THEME}
# Intake refusals the flow words as "already evaluated"; the others that are
# final (not "try later") are answered with the intake's own sentence.
DUPLICATE_REASONS = {"already_evaluated": "duplicate", "follow_up_already_given": "duplicate"}
OWN_WORDS = {"follow_up_window_closed", "no_first_evaluation"}


class Conversations:
    def __init__(self, reminders: Reminders, intake, optouts: OptOuts, carrier, *,
                 replies_per_hour: int = 6, flow_id: str = texts.REMINDER_FLOW):
        self.reminders = reminders
        self.redis = reminders.redis
        self.intake = intake  # ratings.intake.Intake: accept(ev), is_evaluated(item_id)
        self.optouts = optouts
        self.carrier = carrier
        self.replies_per_hour = replies_per_hour
        self.flow_id = flow_id
        self._flow = None
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = \
            weakref.WeakValueDictionary()

    @property
    def flow(self):
        if self._flow is None:
            from flows.loader import shipped_flow

            self._flow = shipped_flow(self.flow_id)
        return self._flow

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.reminders.clock(), timezone.utc)

    # -- routing ---------------------------------------------------------
    async def on_inbound(self, message: InboundSms) -> str:
        """Handle one reply; returns what was done (for tests and metrics). Replies
        of one number are handled one at a time (HTTP callbacks may overlap)."""
        lock = self._locks.get(message.phone)
        if lock is None:  # weak values: a lock lives only while someone holds it
            lock = self._locks[message.phone] = asyncio.Lock()
        async with lock:
            return await self._route(message)

    async def _route(self, message: InboundSms) -> str:
        phone, text = message.phone, message.text
        items = await self.reminders.for_phone(phone)
        parsed = grammar.parse(text, pending_codes=[r.code for r in items])
        if parsed.intent is Intent.OPT_OUT:
            if await self.optouts.add(phone):
                await self._reply(phone, texts.opt_out_confirmation(), limited=False)
                return "opted_out"
            return "opted_out_again"
        if parsed.code:
            target = next((r for r in items if r.code == parsed.code), None)
            if target is None:
                return await self._say(phone, "unknown_code", self._which_text(items))
            return await self._converse(target, message, parsed.intent)
        waiting = await self._waiting_for_reason(items)
        if waiting is not None:
            return await self._converse(waiting, message, parsed.intent)
        rated = {r.id: await self._evaluated(r) for r in items}
        if parsed.intent is Intent.FOLLOW_UP:
            candidates = [r for r in items if rated[r.id]]
        else:  # a bare reply answers a reminder the citizen has received
            candidates = [r for r in items if r.state == SENT and not rated[r.id]]
        if len(candidates) == 1:
            return await self._converse(candidates[0], message, parsed.intent)
        if len(candidates) > 1:
            return await self._say(phone, "which", self._which_text(candidates))
        if any(rated.values()) and parsed.intent is not Intent.FOLLOW_UP:
            return await self._say(phone, "already_evaluated", self._already_text())
        return await self._say(phone, "nothing_pending", self._nothing_text())

    async def _waiting_for_reason(self, items: list[Reminder]) -> Reminder | None:
        newest, found = "", None
        for reminder in items:
            session = await self._load(reminder.id)
            node = self.flow.nodes.get(session.node, {}) if session is not None else {}
            if node.get("expect") == "reasons" and session.updated_at > newest:
                newest, found = session.updated_at, reminder
        return found

    async def _evaluated(self, reminder: Reminder) -> bool:
        if reminder.state == SKIPPED_RATED:
            return True
        if await self.intake.is_evaluated(reminder.target_id):
            return True
        return len(reminder.items) > 1 and all(
            [await self.intake.is_evaluated(i) for i in reminder.items])

    # -- one item's conversation -----------------------------------------
    async def _converse(self, reminder: Reminder, message: InboundSms, intent: Intent) -> str:
        session = await self._load(reminder.id)
        now = self._now()
        follow_up = intent is Intent.FOLLOW_UP
        if session is None:
            if not follow_up and await self._evaluated(reminder):
                return await self._say(message.phone, "already_evaluated", self._already_text())
            context = {"item_name": reminder.service_name, "reply_code": reminder.code,
                       "assess_number": "2" if follow_up else "1"}
            session, _invitation = engine.start(self.flow, Trigger("reply", context), now,
                                                grammar=grammar)
        try:
            session, effects = engine.resume(session, ev.Reply(message.text), now,
                                             flow=self.flow, grammar=grammar)
        except EngineError as exc:  # the flow changed under a stored session
            log.warning("sms conversation %s restarted: %s", reminder.id, exc.code)
            await self.redis.delete(keys.conversation(reminder.id))
            return await self._converse(reminder, message, intent)
        while True:
            for effect in effects:
                if isinstance(effect, fx.SendSms):
                    await self._reply(message.phone, effect.text)
            last = effects[-1] if effects else None
            if not isinstance(last, fx.SubmitEvaluation):
                break
            result, refusal = await self._submit(reminder, message, last)
            session, effects = engine.resume(session, result, self._now(), flow=self.flow)
            if refusal in OWN_WORDS:
                effects = [e for e in effects if not isinstance(e, fx.SendSms)]
                await self._reply(message.phone, f"【{texts.DEFAULT_SIGNATURE}】"
                                  + INTAKE_MESSAGES[refusal])
        if session.ended:
            await self.redis.delete(keys.conversation(reminder.id))
            return session.end_reason or session.status
        await self.redis.set(keys.conversation(reminder.id), session.to_json(),
                             ex=keys.REPLY_WINDOW_S)
        return f"waiting:{session.node}"

    async def _submit(self, reminder: Reminder, message: InboundSms,
                      effect: fx.SubmitEvaluation) -> tuple[ev.EvaluationResult, str | None]:
        kind = KINDS[reminder.id[0]]
        items = reminder.items if kind is not TargetKind.ITEM else ()
        evaluation = Evaluation(
            target=Target(kind, reminder.target_id, items), channel=Channel.SMS,
            grade=Grade.from_id(effect.grade), assessed_at=self._now(),
            reasons=tuple(effect.reasons), comment=effect.comment, phone=message.phone,
            assess_number=effect.assess_number, flow_id=effect.flow_id or None,
            flow_version=effect.flow_version or None,
            source_id=message.carrier_id or None, context={"reply_code": reminder.code})
        result = await self.intake.accept(evaluation)
        if result.accepted:
            await self.reminders.cancel(reminder.id)
        reason = DUPLICATE_REASONS.get(result.reason, result.reason or "")
        return ev.EvaluationResult(result.accepted, reason), result.reason

    async def _load(self, rid: str) -> Session | None:
        raw = await self.redis.get(keys.conversation(rid))
        return Session.from_json(raw, self.flow) if raw else None

    # -- answers ---------------------------------------------------------
    async def _say(self, phone: str, outcome: str, text: str) -> str:
        await self._reply(phone, text)
        return outcome

    async def _reply(self, phone: str, text: str, limited: bool = True) -> bool:
        if limited and not await self._within_reply_limit(phone):
            log.warning("auto-reply limit reached for a number; answer dropped")
            return False
        if await self.optouts.is_opted_out(phone) and limited:
            return False
        try:
            await self.carrier.send(OutboundSms(uuid.uuid4().hex, phone, text))
        except CarrierError as exc:
            log.warning("sms answer not sent: %s", type(exc).__name__)
            return False
        return True

    async def _within_reply_limit(self, phone: str) -> bool:
        hour = int(self.reminders.clock() // 3600)
        key = keys.reply_limit(keys.phone_ref(self.reminders.secret, phone), hour)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 7200)
            count, _ = await pipe.execute()
        return count <= self.replies_per_hour

    def _which_text(self, items: list[Reminder]) -> str:
        listed = "；".join(f"{r.code} {r.service_name}" for r in items[:5])
        return (f"【{texts.DEFAULT_SIGNATURE}】您有多件办件待评价：{listed}。"
                f"请在评价前加上评价码，如“{items[0].code}”加您的评价。"
                if items else self._nothing_text())

    @staticmethod
    def _already_text() -> str:
        return f"【{texts.DEFAULT_SIGNATURE}】该事项您已评价过，无需重复评价。感谢您的参与。"

    @staticmethod
    def _nothing_text() -> str:
        return f"【{texts.DEFAULT_SIGNATURE}】您目前没有待评价的办件。感谢您的关注。"
