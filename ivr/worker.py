"""An IVR worker process: one SIP agent, the flow engine, the intake, N ≤ 4 calls.

Start several on different SIP/RTP ports behind a dispatcher (the PyPI pjsua2
wheel holds 4 calls per process). SIGTERM drains: new INVITEs get 503, live
calls run to their end (at most ``drain_s``), then the endpoint is destroyed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from adapters.sip_pjsua2 import PjCall, SipAgent, SipSettings
from flows import engine
from flows.loader import resolve
from flows.session import EngineError, Trigger
from ivr.call import CallFacts, CallSettings, CallTask
from ivr.context import AGENT, CORRELATION, ContextMapping, context_from_invite, merge_context
from ivr.context_api import CallContextStore
from ivr.media import IncomingInvite
from ivr.metrics import IvrMetrics
from ivr.outcome import Outcomes
from ivr.prompts import PromptLibrary
from ivr.recordings import purge_old_recordings
from ratings.intake import Intake
from ratings.model import InvalidEvaluation, normalise_phone

log = logging.getLogger("hcp.ivr.worker")
STATS_STREAM = "{hcp}:flows:stats"
_USER_RE = re.compile(r"^sips?:([^@;]+)@")


@dataclass
class WorkerSettings:
    sip: SipSettings = field(default_factory=SipSettings)
    flow: str = "hotline-rating"
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: Path = Path("data")
    phone_secret: bytes = b"change-me"
    context: ContextMapping = field(default_factory=ContextMapping)
    max_call_s: float = 600.0
    recording_retention_days: int = 90
    metrics_port: int | None = None
    drain_s: float = 120.0
    prerender: bool = True  # render every fixed prompt text at start, in the background


def caller_number(uri: str) -> str | None:
    """E.164 of the caller from the From URI's user part, if it is a number."""
    match = _USER_RE.match(uri or "")
    if not match:
        return None
    try:
        return normalise_phone(match.group(1))
    except InvalidEvaluation:
        return None


class IvrWorker:
    def __init__(self, settings: WorkerSettings, invitation_hook=None):
        self.settings = settings
        self.invitation_hook = invitation_hook
        self.metrics = IvrMetrics(str(settings.sip.sip_port))
        self.agent = SipAgent(settings.sip, self)
        self.tasks: set[asyncio.Task] = set()
        self.flow = resolve(settings.flow)
        self.redis = None
        self.outcomes: Outcomes | None = None
        self.context_store: CallContextStore | None = None
        data = Path(settings.data_dir)
        self.prompts = PromptLibrary(data / "prompts", self.flow.base_dir)
        self.call_settings = CallSettings(max_call_s=settings.max_call_s,
                                          recordings_dir=data / "recordings", data_dir=data)
        self.stopped = asyncio.Event()

    async def start(self) -> None:
        self.redis = aioredis.Redis.from_url(self.settings.redis_url)
        intake = Intake(self.redis, self.settings.phone_secret)
        self.outcomes = Outcomes(intake, self.redis, self.invitation_hook)
        self.context_store = CallContextStore(self.redis)
        purge_old_recordings(self.call_settings.recordings_dir,
                             self.settings.recording_retention_days)
        if self.settings.metrics_port:
            from prometheus_client import start_http_server
            start_http_server(self.settings.metrics_port, registry=self.metrics.registry)
        await self.agent.start()
        if self.settings.prerender:
            self._prerender = asyncio.get_running_loop().create_task(
                asyncio.to_thread(self._render_prompts))
        log.info("IVR worker ready: flow %s@%s", self.flow.id, self.flow.version)

    def _render_prompts(self) -> None:
        """Warm the prompt cache with every text the flow can speak (flows.prompt_texts),
        so no caller waits for espeak-ng; texts that need call context render at call time."""
        from flows.prompt_texts import spoken_texts

        done = 0
        for spoken in spoken_texts(self.flow):
            if not spoken.renderable or self.stopped.is_set():
                continue
            try:
                self.prompts.resolve(spoken.text, spoken.lang, spoken.audio)
                done += 1
            except Exception:
                log.exception("prompt %s (%s) could not be rendered", spoken.prompt_id,
                              spoken.lang)
        log.info("%d prompt(s) of %s ready", done, self.flow.id)

    # -- SipListener -----------------------------------------------------------------
    def on_incoming(self, call: PjCall, invite: IncomingInvite) -> int:
        context = context_from_invite(invite.raw, self.settings.context)
        facts = CallFacts(call_id=invite.call_id, context=context,
                          caller=caller_number(invite.caller_uri))
        task = CallTask(call, facts, self._start_flow(facts), self._resume_flow,
                        self.prompts, self.outcomes.submit, self.metrics, self.call_settings)
        task.on_step = self._record_stats
        call.sink = task.deliver
        runner = asyncio.get_running_loop().create_task(self._run_call(task),
                                                        name=f"call-{invite.call_id}")
        self.tasks.add(runner)
        runner.add_done_callback(self.tasks.discard)
        return 200

    def on_refused(self, status: int) -> None:
        self.metrics.refusal(status)

    def _start_flow(self, facts: CallFacts):
        def start(now):
            lang = facts.context.get("lang")
            context = dict(facts.context)
            if context.get(AGENT):  # the flows call the agent the staff member
                context.setdefault("staff_id", context[AGENT])
            trigger = Trigger("call", context, lang if lang in self.flow.languages else None)
            return engine.start(self.flow, trigger, now)
        return start

    @staticmethod
    def _resume_flow(session, event, now):
        return engine.resume(session, event, now)

    async def _run_call(self, task: CallTask) -> None:
        facts = task.facts
        self.metrics.active.inc()
        outcome = "failed"
        try:
            facts.context = merge_context(facts.context, await self._posted_context(facts))
            outcome = await task.run()
        except EngineError as exc:
            log.error("call %s: engine refused: %s", facts.call_id, exc)
            task.media.hangup()
        except Exception:
            log.exception("call %s failed", facts.call_id)
            task.media.hangup()
        finally:
            self.metrics.active.dec()
        try:
            outcome = await self.outcomes.finish(facts, task.session, outcome)
        except Exception:
            log.exception("call %s: outcome not recorded", facts.call_id)
        self.metrics.outcome(outcome)
        log.info("call %s ended: %s, %d key(s)", facts.call_id, outcome, len(facts.digits))
        # the C++ Call is gone already (PjCall deletes it at DISCONNECTED, before its slot
        # can be reused); what is left is a plain Python record
        task.media = None

    async def _posted_context(self, facts: CallFacts) -> dict | None:
        cid = facts.context.get(CORRELATION)
        if not cid:
            return None
        try:
            return await self.context_store.take(cid)
        except Exception:  # Redis away: rate the call with what the INVITE says
            log.exception("call %s: posted context unavailable", facts.call_id)
            return None

    async def _record_stats(self, session) -> None:
        if not session.stats:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stat in session.stats:
                    pipe.xadd(STATS_STREAM, {"stat": _stat_json(stat)}, maxlen=1_000_000,
                              approximate=True)
                await pipe.execute()
        except Exception:
            log.exception("flow statistics not recorded")

    # -- stop ------------------------------------------------------------------------
    async def drain_and_stop(self) -> None:
        self.agent.drain()
        if self.tasks:
            log.info("draining %d call(s)", len(self.tasks))
            await asyncio.wait(set(self.tasks), timeout=self.settings.drain_s)
        await self.stop()

    async def stop(self) -> None:
        self.stopped.set()
        prerender = getattr(self, "_prerender", None)
        if prerender is not None:
            await asyncio.wait({prerender}, timeout=10)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=5)
        await self.agent.stop()
        if self.redis is not None:
            await self.redis.aclose()


def _stat_json(stat) -> str:
    import json
    return json.dumps(stat.to_dict(), ensure_ascii=False, separators=(",", ":"))


async def run_worker(settings: WorkerSettings, invitation_hook=None) -> None:
    worker = IvrWorker(settings, invitation_hook)
    await worker.start()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await worker.drain_and_stop()
