"""The flow simulator: runs a flow as a channel would, with a controllable clock.

It is a tiny channel: it starts the engine, prints every effect as one line,
and turns typed input into events — keypad digits (voice) or reply text
(messaging), ``wait 6s`` (advance the clock; an expired wait becomes a
``Timeout``), ``record 5s`` (a finished recording), ``hangup``. Submissions are
answered at once: accepted, or refused as duplicates for targets named by
``! already-evaluated item`` (or ``! reject <reason>`` for any other refusal).

A transcript is the list of lines the simulator prints, with the inputs among
them: ``!`` directives, ``>`` inputs, ``<`` outputs, ``#`` comments. A golden
transcript replays its ``!`` and ``>`` lines and must print the same ``<``
lines again (tests/flows/golden).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flows import effects as fx
from flows import events as ev
from flows.engine import resume, start
from flows.model import Flow
from flows.session import Trigger

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # a Monday morning, fixed
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")


class SimulatorError(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if not m:
        raise SimulatorError(f"not a duration: {text!r} (e.g. 6s, 500ms, 2d)")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def _fmt_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


def describe(effect: fx.Effect) -> str:
    """One line per effect, as a supervisor reads it."""
    if isinstance(effect, fx.Play):
        audio = f" [{effect.audio}]" if effect.audio else ""
        return f"play {effect.prompt_id} ({effect.lang}){audio}: {effect.text}"
    if isinstance(effect, fx.CollectDigits):
        extra = f" end={effect.terminator}" if effect.terminator else ""
        return (f"collect keys={effect.valid_digits} max={effect.max_digits}{extra} "
                f"timeout={_fmt_duration(effect.timeout_ms / 1000)}")
    if isinstance(effect, fx.Record):
        return f"record max={effect.max_seconds}s end={effect.end_key or '-'}"
    if isinstance(effect, fx.SendSms):
        return f"sms: {effect.text}"
    if isinstance(effect, fx.WaitReply):
        return f"wait reply timeout={_fmt_duration(effect.timeout_s)}"
    if isinstance(effect, fx.SubmitEvaluation):
        reasons = ",".join(effect.reasons) or "-"
        extra = f" voice={effect.voice_comment}" if effect.voice_comment else ""
        comment = f" comment={effect.comment!r}" if effect.comment else ""
        if effect.reason_missing:
            comment += f" reason_missing={effect.reason_missing}"
        return (f"submit {effect.target} grade={effect.grade} reasons={reasons} "
                f"assess={effect.assess_number}{comment}{extra}")
    if isinstance(effect, fx.SetLanguage):
        return f"language {effect.lang}"
    if isinstance(effect, fx.Hangup):
        return f"hangup {effect.reason}"
    return repr(effect)  # pragma: no cover


def _wait_seconds(effect: fx.Effect) -> float | None:
    if isinstance(effect, fx.CollectDigits):
        return effect.timeout_ms / 1000
    if isinstance(effect, fx.Record):
        return float(effect.max_seconds)
    if isinstance(effect, fx.WaitReply):
        return float(effect.timeout_s)
    return None


@dataclass
class Simulator:
    flow: Flow
    grammar: object = None
    lang: str | None = None
    context: dict[str, str] = field(default_factory=dict)
    already_evaluated: set[str] = field(default_factory=set)
    reject: str | None = None
    now: datetime = EPOCH

    def __post_init__(self):
        self.session = None
        self.waiting: fx.Effect | None = None
        self.wait_since = self.now
        self.recordings = 0

    @property
    def ended(self) -> bool:
        return self.session is not None and self.session.ended

    def begin(self) -> list[str]:
        trigger = Trigger("test", dict(self.context), self.lang)
        self.session, effects = start(self.flow, trigger, self.now, grammar=self.grammar)
        return self._run(effects)

    def feed(self, line: str) -> list[str]:
        """One input line → the output lines. Raises SimulatorError on a bad line."""
        line = line.strip()
        if self.session is None:
            raise SimulatorError("not started")
        if self.ended:
            raise SimulatorError(f"the session has ended ({self.session.status})")
        word, _, rest = line.partition(" ")
        if word == "wait":
            return self._advance(parse_duration(rest))
        if word == "hangup" and not rest:
            return self._resume(ev.HangUp())
        if word == "record":
            self.recordings += 1
            seconds = parse_duration(rest or "5s").total_seconds()
            return self._resume(ev.RecordingDone(f"sim-recording-{self.recordings}", seconds))
        if self.flow.type == "messaging":
            return self._resume(ev.Reply(line))
        if not re.fullmatch(r"[0-9*#]+", line):
            raise SimulatorError(f"type keys (0-9 * #), wait 6s, record 5s or hangup: {line!r}")
        return self._resume(ev.Digits(line, "sim"))

    def _advance(self, delta: timedelta) -> list[str]:
        target, out = self.now + delta, []
        while not self.ended and self.waiting is not None:
            limit = _wait_seconds(self.waiting)
            due = self.wait_since + timedelta(seconds=limit) if limit is not None else None
            if due is None or due > target:
                break
            self.now = due
            out += self._resume(ev.Timeout())
        self.now = max(self.now, target)
        return out

    def _resume(self, event: ev.Event) -> list[str]:
        self.session, effects = resume(self.session, event, self.now, grammar=self.grammar)
        return self._run(effects)

    def _seen(self, effects: list[fx.Effect]) -> None:
        """Every batch of effects the engine gave (a subclass may keep some)."""

    def _run(self, effects: list[fx.Effect]) -> list[str]:
        out = []
        while True:
            self._seen(effects)
            out += [describe(e) for e in effects]
            self.waiting = effects[-1] if effects and effects[-1].WAITS else None
            self.wait_since = self.now
            if not isinstance(self.waiting, fx.SubmitEvaluation) or self.ended:
                break
            result = self._answer(self.waiting)
            out.append(f"  -> {'accepted' if result.accepted else 'refused ' + result.reason}")
            self.session, effects = resume(self.session, result, self.now, grammar=self.grammar)
        if self.ended:
            s = self.session
            why = f" {s.failure['code']}: {s.failure['message']}" if s.failure else ""
            out.append(f"== {s.status} ({s.end_reason}) at {s.node}{why}")
        return out

    def _answer(self, submit: fx.SubmitEvaluation) -> ev.EvaluationResult:
        if submit.target in self.already_evaluated:
            return ev.EvaluationResult(False, "duplicate")
        if self.reject:
            return ev.EvaluationResult(False, self.reject)
        self.already_evaluated.add(submit.target)
        return ev.EvaluationResult(True)


# -- transcripts -------------------------------------------------------------------

def apply_directive(options: dict, line: str) -> None:
    """``! lang yue``, ``! context k=v``, ``! already-evaluated item``, ``! reject x``,
    ``! option confirm_grade=true``, ``! flow NAME`` — settings read before the
    session starts."""
    word, _, rest = line.partition(" ")
    rest = rest.strip()
    if word == "flow":
        options["flow"] = rest
    elif word == "lang":
        options["lang"] = rest
    elif word == "context":
        key, _, value = rest.partition("=")
        options.setdefault("context", {})[key.strip()] = value.strip()
    elif word == "already-evaluated":
        options.setdefault("already_evaluated", set()).add(rest)
    elif word == "reject":
        options["reject"] = rest
    elif word == "option":  # a flow option switched for this run: ! option confirm_grade=true
        key, _, value = rest.partition("=")
        value = value.strip()
        parsed = {"true": True, "false": False}.get(value.lower(), value)
        options.setdefault("flow_options", {})[key.strip()] = parsed
    else:
        raise SimulatorError(f"unknown directive {word!r}")


def with_options(flow: Flow, flow_options: dict | None) -> Flow:
    """The flow with some of its ``options`` changed (a new content version)."""
    if not flow_options:
        return flow
    unknown = set(flow_options) - set(flow.definition.get("options") or {})
    if unknown:
        raise SimulatorError(f"{flow.id} has no option {', '.join(sorted(unknown))}")
    definition = dict(flow.definition)
    definition["options"] = {**definition["options"], **flow_options}
    return Flow.from_definition(definition, flow.base_dir)


def run_transcript(text: str, load_flow, grammar=None) -> str:
    """Replay a transcript's directives and inputs; return the transcript it prints.
    ``load_flow(name)`` resolves the ``! flow`` directive."""
    options: dict = {}
    inputs: list[str] = []
    for raw in text.splitlines():
        if raw.startswith("! "):
            apply_directive(options, raw[2:])
        elif raw.startswith("> "):
            inputs.append(raw[2:])
    if "flow" not in options:
        raise SimulatorError("a transcript names its flow: ! flow NAME")
    flow = with_options(load_flow(options.pop("flow")), options.pop("flow_options", None))
    sim = Simulator(flow, grammar, **options)
    lines = [raw for raw in text.splitlines() if raw.startswith("! ")]
    lines += ["< " + line for line in sim.begin()]
    for entry in inputs:
        lines.append("> " + entry)
        try:
            lines += ["< " + line for line in sim.feed(entry)]
        except SimulatorError as exc:
            lines.append(f"< error: {exc}")
    return "\n".join(lines) + "\n"
