"""Demo data for a fresh clone: real evaluations through the real intake, real flow runs.

``seed(redis, intake, data_dir)`` posts a month of realistic evaluations
(hotline and SMS, five grades, service items, staff, reasons, comments, a few
voice comments rendered by espeak-ng) through ``Intake.accept`` — the
submitter then drains them into the core store and counts them for the
console. It also runs the shipped flows through the real engine with random
callers (keys, time-outs, hang-ups, SMS replies) and XADDs every statistics
event to ``{hcp}:flows:stats`` exactly as the IVR worker does, for the
current hotline flow and for an older version of it (one prompt worded
differently), so the funnel comparison and the version diff have something
to show. Phone numbers are random numbers of the 138/139/150 ranges.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from console import flow_catalog, keys
from flows import effects as fx
from flows import events as ev
from flows.engine import resume, start
from flows.loader import load_text
from flows.reasons import REASON_CODES
from flows.session import Trigger
from ratings import results
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind

log = logging.getLogger("console.demo")

ITEMS = {"440100-BDC-001": "不动产登记", "440100-HJ-014": "户籍迁入",
         "440100-SB-203": "社保卡补领",
         "440100-GS-031": "个体工商户设立", "440100-JZ-007": "居住证签注",
         "440100-GJJ-112": "公积金提取"}
STAFF = ["A1024", "A1031", "B2007", "B2015", "C3002", "C3019"]
WEIGHTS = {Grade.VERY_SATISFIED: 46, Grade.SATISFIED: 24, Grade.BASICALLY_SATISFIED: 12,
           Grade.DISSATISFIED: 10, Grade.VERY_DISSATISFIED: 8}
COMMENTS = ["窗口排队时间太长", "工作人员解释不清楚，跑了两次", "系统一直提示材料不全",
            "电话一直打不通", "办理进度没有人通知", "态度冷淡"]
# the earlier wording of the hotline's grade prompt (the demo's "previous version":
# the long one the grade-first flow replaced)
OLD_PROMPT = ("请评价本次服务：", "评价自愿，请按您的真实感受对本次服务作出评价：")


def _phone(rng: random.Random) -> str:
    return f"+86{rng.choice(['138', '139', '150'])}{rng.randrange(10**8):08d}"


async def seed_if_empty(redis, intake, data_dir, **kw) -> bool:
    if await redis.exists(results.CASES) or await redis.exists(results.FUNNEL_FLOWS):
        log.info("demo: data present, nothing seeded")
        return False
    await seed(redis, intake, data_dir, **kw)
    return True


async def seed(redis, intake, data_dir, evaluations: int = 240, calls: int = 160,
               seed_value: int = 20201) -> dict:
    rng = random.Random(seed_value)
    accepted = await seed_evaluations(redis, intake, Path(data_dir), rng, evaluations)
    stats = await seed_flow_stats(redis, rng, calls)
    log.info("demo: %d evaluations accepted, %d statistics events", accepted, stats)
    return {"accepted": accepted, "stats": stats}


async def seed_evaluations(redis, intake, data_dir: Path, rng: random.Random, n: int) -> int:
    now = datetime.now(timezone.utc)
    grades, weights = list(WEIGHTS), list(WEIGHTS.values())
    versions = {fid: flow.version for fid, (flow, _t) in flow_catalog.shipped().items()}
    accepted = 0
    for i in range(n):
        grade = rng.choices(grades, weights)[0]
        channel = Channel.HOTLINE if rng.random() < 0.6 else Channel.SMS
        task = rng.choice(list(ITEMS))
        staff = rng.choice(STAFF)
        at = now - timedelta(days=rng.randrange(30), hours=rng.randrange(9),
                             minutes=rng.randrange(60))
        reasons, comment, voice = (), "", None
        if grade.is_bad:
            reasons = tuple(rng.sample(REASON_CODES[:4], rng.choice((1, 1, 2))))
            comment = rng.choice(COMMENTS) if rng.random() < 0.6 else ""
            if channel is Channel.HOTLINE and rng.random() < 0.5:
                voice = await asyncio.to_thread(_voice_comment, data_dir, at, i, comment
                                                or "办理时间太长，希望改进。")
        elif rng.random() < 0.1:
            comment = "办事很快，谢谢"
        evaluation = Evaluation(
            target=Target(TargetKind.ITEM, f"DEMO{at:%Y%m%d}{i:04d}"), channel=channel,
            grade=grade, assessed_at=at, reasons=reasons, comment=comment, phone=_phone(rng),
            flow_id="hotline-rating" if channel is Channel.HOTLINE else "sms-reminder",
            flow_version=versions.get("hotline-rating" if channel is Channel.HOTLINE
                                      else "sms-reminder"),
            voice_comment=voice, context={"task_code": task, "agent": staff,
                                          "item_name": ITEMS[task]})
        result = await intake.accept(evaluation)
        accepted += result.accepted
    return accepted


def _voice_comment(data_dir: Path, at: datetime, n: int, text: str) -> str | None:
    from adapters.tts import synthesize, voice_for

    rel = Path("recordings") / at.date().isoformat() / f"demo-{n}.wav"
    try:
        (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        synthesize(text, voice_for("zh"), 8000, data_dir / rel)
    except Exception as exc:  # noqa: BLE001 - espeak-ng missing: the case has no recording
        log.warning("demo: voice comment not rendered (%s)", type(exc).__name__)
        return None
    return str(rel)


def _old_hotline(flow_text: str):
    """An earlier wording of the hotline flow, for the version history."""
    old = flow_text.replace(*OLD_PROMPT) if OLD_PROMPT[0] in flow_text else \
        flow_text.replace("您好，", "", 1)
    return load_text(old, "hotline-rating (demo: earlier version)"), old


async def seed_flow_stats(redis, rng: random.Random, calls: int) -> int:
    shipped = flow_catalog.shipped()
    runs = []
    hotline, hotline_text = shipped["hotline-rating"]
    old, old_text = _old_hotline(hotline_text)
    if old.version != hotline.version:
        then = int((datetime.now(timezone.utc) - timedelta(days=40)).timestamp())
        await redis.set(keys.flowdef(old.id, old.version), old_text, ex=keys.FLOWDEF_TTL_S)
        await redis.zadd(keys.flowdefs(old.id), {old.version: then})
        runs.append((old, calls // 2, 0.25))
    runs.append((hotline, calls, 0.12))
    for flow, _text in shipped.values():
        if flow.type == "messaging":
            runs.append((flow, calls // 3, 0.2))
    grammar = _grammar()
    count = 0
    for flow, n, sloppiness in runs:
        for _ in range(n):
            stats = _one_run(flow, rng, sloppiness, grammar)
            async with redis.pipeline(transaction=False) as pipe:
                for s in stats:
                    pipe.xadd(results.STATS, {"stat": json.dumps(s.to_dict(),
                                                                 ensure_ascii=False)},
                              maxlen=1_000_000, approximate=True)
                await pipe.execute()
            count += len(stats)
    return count


def _grammar():
    try:
        import sms.grammar as grammar
    except ModuleNotFoundError:  # pragma: no cover
        return None
    return grammar


REPLIES = ["1", "2", "满意", "非常满意", "3", "4 等太久", "不满意", "5", "好", "？？", "TD"]


def _one_run(flow, rng: random.Random, sloppiness: float, grammar) -> list:
    """One caller through ``flow``; returns every StatEvent of the run."""
    now = datetime.now(timezone.utc)
    context = {"item_name": rng.choice(list(ITEMS.values())), "reply_code": "A3",
               "staff_id": rng.choice(STAFF), "assess_number": "1"}
    session, effects = start(flow, Trigger("call" if flow.type == "voice" else "reminder",
                                           context), now, grammar=grammar)
    stats = list(session.stats)
    for _ in range(40):
        if session.ended or not effects:
            break
        wait = effects[-1]
        now += timedelta(seconds=rng.randrange(2, 9))
        if isinstance(wait, fx.SubmitEvaluation):
            event = ev.EvaluationResult(True)
        elif rng.random() < sloppiness / 4:
            event = ev.HangUp()
        elif isinstance(wait, fx.CollectDigits):
            r = rng.random()
            if r < sloppiness / 2:
                event = ev.Timeout()
            elif r < sloppiness:
                event = ev.Digits(rng.choice("789#"), "rfc2833")
            else:
                digits = [d for d in wait.valid_digits if d != (wait.repeat_key or "")]
                weights = [6 if d in "12" else 2 for d in digits] or [1]
                event = ev.Digits(rng.choices(digits or ["1"], weights)[0], "rfc2833")
        elif isinstance(wait, fx.Record):
            event = ev.RecordingDone("demo", 4.0)
        elif isinstance(wait, fx.WaitReply):
            event = ev.Timeout() if rng.random() < sloppiness else ev.Reply(rng.choice(REPLIES))
        else:
            break
        try:
            session, effects = resume(session, event, now, grammar=grammar)
        except Exception:  # noqa: BLE001 - an event this wait refuses: end this caller
            break
        stats.extend(session.stats)
    return stats
