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

One number's replies are handled one at a time across processes: a short
Redis lock keyed by the number's phone_ref (several gateways behind one HTTP
provider callback may get two replies of one citizen at once). A waiting
session's deadline (the wait's own ``timeout_s``) is in the WAITS sorted set;
``expire_waits`` resumes expired sessions with ``Timeout``. A bad grade whose
reason never came is then submitted anyway, with no reason code and the
comment ``REASON_TIMEOUT_COMMENT`` and ``reason_missing=timeout`` — the same
decision the IVR takes on a hang-up in its reason menu (docs/ivr.md): the
citizen's grade is genuine, the exchange accepts a bad grade with a comment,
and no reason is invented. Every engine step's statistics go to the shared
flow-statistics stream (sms.flow_stats), so the console's funnel shows SMS too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from datetime import datetime, timezone

from flows import effects as fx
from flows import engine
from flows import events as ev
from flows.session import EXPIRED, EngineError, Session, Trigger
from ratings.grades import Grade
from ratings.intake import MESSAGES as INTAKE_MESSAGES
from ratings.model import Channel, Evaluation, Target, TargetKind, mask_phones_in_text
from sms import grammar, keys, texts
from sms.flow_stats import record_flow_stats
from sms.carrier import CarrierError, InboundSms, OutboundSms
from sms.grammar import Intent
from sms.optout import OptOuts
from sms.reminders import SENT, SKIPPED_RATED, Reminder, Reminders

log = logging.getLogger(__name__)

KINDS = {"i": TargetKind.ITEM, "b": TargetKind.BATCH, "t": TargetKind.THEME,
         "c": TargetKind.CALL}  # c: the invitation after an unrated call rates the call
# Intake refusals the flow words as "already evaluated"; the others that are
# final (not "try later") are answered with the intake's own sentence.
DUPLICATE_REASONS = {"already_evaluated": "duplicate", "follow_up_already_given": "duplicate"}
OWN_WORDS = {"follow_up_window_closed", "no_first_evaluation"}
REASON_TIMEOUT_COMMENT = "评价人未在期限内回复不满意原因，未选择原因"
# why the reason wait ended (the engine's end_reason) -> the comment submitted with the grade
MISSING_REASON_COMMENTS = {"no_reply": REASON_TIMEOUT_COMMENT,
                           "no_valid_reply": "评价人回复的不满意原因未能识别，未选择原因"}


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
        async with self._number_lock(message.phone):
            return await self._route(message)

    @contextlib.asynccontextmanager
    async def _number_lock(self, phone: str):
        """In-process lock first (no Redis round trips for a burst in one process), then
        the cross-process Redis lock keyed by phone_ref; a holder that died frees it after
        CONVERSATION_LOCK_S. Raises redis LockError when it cannot be had in that time
        (the carrier then keeps the reply for a retry)."""
        lock = self._locks.get(phone)
        if lock is None:  # weak values: a lock lives only while someone holds it
            lock = self._locks[phone] = asyncio.Lock()
        async with lock:
            ref = keys.phone_ref(self.reminders.secret, phone)
            async with self.redis.lock(keys.conversation_lock(ref),
                                       timeout=keys.CONVERSATION_LOCK_S,
                                       blocking_timeout=keys.CONVERSATION_LOCK_S):
                yield

    async def _route(self, message: InboundSms) -> str:
        phone, text = message.phone, message.text
        items = await self.reminders.for_phone(phone)
        parsed = grammar.parse(text, pending_codes=[r.code for r in items])
        if parsed.intent is Intent.OPT_OUT:
            return await self._opt_out(phone)
        if parsed.flagged:  # reported pressure: a supervisor sees it; the flow asks again
            await self._flag(parsed, items)
        outcome = await self._route_reply(message, parsed, items)
        if parsed.opt_out:  # a grade with TD: the grade first (above), then the opt-out
            return f"{outcome}+{await self._opt_out(phone)}"
        return outcome

    async def _opt_out(self, phone: str) -> str:
        if await self.optouts.add(phone):
            await self._reply(phone, texts.opt_out_confirmation(), limited=False)
            return "opted_out"
        return "opted_out_again"

    async def _flag(self, parsed, items: list[Reminder]) -> None:
        """Record a reply that reports pressure (窗口的人叫我回满意) where supervisors look
        (keys.FLAGGED; GET /v1/sms/flagged): the items it may concern, never the number."""
        entry = {"at": str(int(self.reminders.clock())),
                 "text": mask_phones_in_text(parsed.comment),  # a reply may carry a number
                 "detail": parsed.detail, "code": parsed.code or "",
                 "reminders": ",".join(r.id for r in items if r.state == SENT) or ""}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.FLAGGED, entry, maxlen=keys.FLAGGED_MAXLEN, approximate=True)
            pipe.expire(keys.FLAGGED, keys.FLAGGED_TTL_S)
            await pipe.execute()
        log.warning("sms reply flagged for review: %s", parsed.detail)

    async def _route_reply(self, message: InboundSms, parsed, items: list[Reminder]) -> str:
        phone = message.phone
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
        if reminder.is_invitation:
            return await self.intake.is_call_rated(reminder.target_id)
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
            started = list(session.stats)
        else:
            started = []
        try:
            session, effects = engine.resume(session, ev.Reply(message.text), now,
                                             flow=self.flow, grammar=grammar)
        except EngineError as exc:  # the flow changed under a stored session
            log.warning("sms conversation %s restarted: %s", reminder.id, exc.code)
            await self._forget(reminder.id)
            return await self._converse(reminder, message, intent)
        return await self._drive(reminder, message.phone, message.carrier_id, session, effects,
                                 started)

    async def _drive(self, reminder: Reminder, phone: str, source_id: str | None,
                     session: Session, effects: list, stats: list | None = None) -> str:
        """Run the effects of one step (answers, submissions) to the next wait or end.
        The steps' statistics are written once at the end (one round trip)."""
        stats = [*(stats or ()), *session.stats]
        try:
            return await self._drive_effects(reminder, phone, source_id, session, effects, stats)
        finally:
            await record_flow_stats(self.redis, stats)

    async def _drive_effects(self, reminder: Reminder, phone: str, source_id: str | None,
                             session: Session, effects: list, stats: list) -> str:
        while True:
            for effect in effects:
                if isinstance(effect, fx.SendSms):
                    await self._reply(phone, effect.text)
            last = effects[-1] if effects else None
            if not isinstance(last, fx.SubmitEvaluation):
                break
            result, refusal = await self._submit(reminder, phone, source_id, last)
            session, effects = engine.resume(session, result, self._now(), flow=self.flow)
            stats.extend(session.stats)
            if refusal in OWN_WORDS:
                effects = [e for e in effects if not isinstance(e, fx.SendSms)]
                await self._reply(phone, f"【{texts.DEFAULT_SIGNATURE}】"
                                  + INTAKE_MESSAGES[refusal])
        if session.ended:
            await self._forget(reminder.id)
            await self._bad_grade_without_reason(reminder, phone, session)
            return session.end_reason or session.status
        wait = last if isinstance(last, fx.WaitReply) else None
        timeout_s = wait.timeout_s if wait is not None else keys.REPLY_WINDOW_S
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.conversation(reminder.id), session.to_json(), ex=keys.REPLY_WINDOW_S)
            pipe.zadd(keys.WAITS, {reminder.id: self.reminders.clock() + timeout_s})
            await pipe.execute()
        return f"waiting:{session.node}"

    async def _forget(self, rid: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.conversation(rid))
            pipe.zrem(keys.WAITS, rid)
            await pipe.execute()

    # -- timeouts --------------------------------------------------------
    async def expire_waits(self, limit: int = 100) -> int:
        """Resume every conversation whose wait has timed out with ``Timeout``; how
        many were handled. Safe to run in several processes (the number's lock, and the
        deadline re-read under it)."""
        now = self.reminders.clock()
        due = await self.redis.zrangebyscore(keys.WAITS, "-inf", now, start=0, num=limit)
        handled = 0
        for raw in due:
            rid = raw.decode() if isinstance(raw, bytes) else raw
            reminder = await self.reminders.get(rid)
            if reminder is None:  # record expired: nothing left to finish
                await self._forget(rid)
                continue
            try:
                async with self._number_lock(reminder.phone):
                    handled += await self._expire_one(reminder)
            except Exception:  # next sweep tries again; never kill the loop
                log.exception("sms conversation %s: timeout not handled", rid)
        return handled

    async def _expire_one(self, reminder: Reminder) -> int:
        deadline = await self.redis.zscore(keys.WAITS, reminder.id)
        if deadline is None or deadline > self.reminders.clock():
            return 0  # a reply came in meanwhile and moved or ended the wait
        session = await self._load(reminder.id)
        if session is None:
            await self._forget(reminder.id)
            return 0
        try:
            session, effects = engine.resume(session, ev.Timeout(), self._now(), flow=self.flow)
        except EngineError as exc:
            log.warning("sms conversation %s dropped on timeout: %s", reminder.id, exc.code)
            await self._forget(reminder.id)
            return 1
        await self._drive(reminder, reminder.phone, None, session, effects)
        return 1

    async def _bad_grade_without_reason(self, reminder: Reminder, phone: str,
                                        session: Session) -> None:
        """The wait for a reason expired (no reply, or no reply it could read) after a
        bad grade: submit the grade as given, with a comment that says so."""
        node = self.flow.nodes.get(session.node, {})
        v = session.vars or {}
        comment = MISSING_REASON_COMMENTS.get(session.end_reason or "")
        if (comment is None or session.status != EXPIRED or node.get("expect") != "reasons"
                or not v.get("grade")):
            return
        grade = Grade.from_id(v["grade"])
        if not grade.needs_reason or v.get("reasons") or v.get("comment"):
            return
        effect = fx.SubmitEvaluation(
            "item", grade.id, (), comment,
            assess_number=int(session.context.get("assess_number") or 1),
            flow_id=session.flow_id, flow_version=session.flow_version)
        missing = "timeout" if session.end_reason == "no_reply" else "unreadable"
        _, refusal = await self._submit(reminder, phone, None, effect,
                                        {"reason_missing": missing})
        log.info("sms conversation %s: bad grade without a reason submitted (%s)",
                 reminder.id, refusal or "accepted")

    async def _submit(self, reminder: Reminder, phone: str, source_id: str | None,
                      effect: fx.SubmitEvaluation, extra: dict | None = None
                      ) -> tuple[ev.EvaluationResult, str | None]:
        kind = KINDS[reminder.id[0]]
        items = reminder.items if kind in (TargetKind.BATCH, TargetKind.THEME) else ()
        evaluation = Evaluation(
            target=Target(kind, reminder.target_id, items), channel=Channel.SMS,
            grade=Grade.from_id(effect.grade), assessed_at=self._now(),
            reasons=tuple(effect.reasons), comment=effect.comment, phone=phone,
            assess_number=effect.assess_number, flow_id=effect.flow_id or None,
            flow_version=effect.flow_version or None,
            source_id=source_id or None, context={**reminder.context(), **(extra or {})})
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
