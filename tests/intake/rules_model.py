"""The rules of seed art. 14 as a plain in-memory model, written without Redis.

The property tests feed the same sequence to this model and to the real intake and
require the same answer every time. Kept deliberately naive: dicts and loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ratings.model import Evaluation, TargetKind


@dataclass
class Decision:
    accepted: bool
    reason: str | None
    evaluation_id: str
    covers: list[str] | None = None  # of an accepted, newly written evaluation
    new: bool = False  # False for a refusal or a replay


@dataclass
class FirstRecord:
    at_ms: int
    covers: list[str]
    follow_up: str | None = None


@dataclass
class RulesModel:
    window_ms: int
    holders: dict[tuple, str] = field(default_factory=dict)
    firsts: dict[str, FirstRecord] = field(default_factory=dict)
    outbox: list[tuple[str, list[str]]] = field(default_factory=list)

    @staticmethod
    def target_of(ev: Evaluation) -> tuple:
        t = ev.target
        if t.kind is TargetKind.STAFF:
            return ("staff", t.id, t.staff_id)
        return (t.kind.value, t.id)

    def decide(self, ev: Evaluation, now_ms: int) -> Decision:
        target = self.target_of(ev)
        holder = self.holders.get(target)
        if ev.assess_number == 2:
            return self._follow_up(ev, holder, now_ms)
        if holder == ev.id:
            return Decision(True, None, ev.id)
        if holder is not None:
            return Decision(False, "already_evaluated", holder)
        kind = ev.target.kind
        covers = [ev.target.id]
        if kind is TargetKind.BATCH:
            taken = [self.holders[("item", i)] for i in ev.target.items
                     if ("item", i) in self.holders]
            if taken:
                return Decision(False, "already_evaluated", taken[0])
            covers = list(ev.target.items)
        elif kind is TargetKind.THEME:
            covers = [i for i in ev.target.items if ("item", i) not in self.holders]
            if not covers:
                return Decision(False, "already_evaluated",
                                self.holders[("item", ev.target.items[-1])])
        for item in covers if kind in (TargetKind.BATCH, TargetKind.THEME) else ():
            self.holders[("item", item)] = ev.id
        self.holders[target] = ev.id
        self.firsts[ev.id] = FirstRecord(now_ms, covers)
        self.outbox.append((ev.id, covers))
        return Decision(True, None, ev.id, covers, new=True)

    def _follow_up(self, ev: Evaluation, holder: str | None, now_ms: int) -> Decision:
        if holder is None:
            return Decision(False, "no_first_evaluation", ev.id)
        first = self.firsts[holder]
        if first.follow_up == ev.id:
            return Decision(True, None, ev.id)
        if first.follow_up is not None:
            return Decision(False, "follow_up_already_given", first.follow_up)
        if now_ms - first.at_ms > self.window_ms:
            return Decision(False, "follow_up_window_closed", holder)
        if ev.target.kind in (TargetKind.BATCH, TargetKind.THEME):
            covers = list(first.covers)
        else:
            covers = [ev.target.id]
        first.follow_up = ev.id
        self.outbox.append((ev.id, covers))
        return Decision(True, None, ev.id, covers, new=True)
