"""Engine cost per call, and what a channel pays around it.

  in-memory   a whole hotline call (start + 4 resumes: language, grade, confirm,
              submit result) with the session kept in memory (the IVR way)
  json        the same call with the session through JSON between steps
              (the SMS way: a conversation sleeps in Redis)
  reload      the same call loading the flow file every time (YAML + schema):
              why a channel must load a flow once and keep it
Baseline: in-memory, measured in the same run. Prints calls/s and ratios.

    .venv/bin/python bench/flows/engine_bench.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

from flows import events as ev
from flows.engine import resume, start
from flows.loader import SHIPPED_DIR, load_flow
from flows.session import Session, Trigger

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
CALL = [ev.Digits("1"), ev.Digits("2"), ev.Digits("1"), ev.EvaluationResult(True)]
PATH = SHIPPED_DIR / "hotline_rating.yaml"


def call_in_memory(flow):
    session, _ = start(flow, Trigger(), NOW)
    for event in CALL:
        session, _ = resume(session, event, NOW)
    assert session.status == "completed"


def call_via_json(flow):
    session, _ = start(flow, Trigger(), NOW)
    for event in CALL:
        session = Session.from_json(session.to_json(), flow)
        session, _ = resume(session, event, NOW)
    assert Session.from_json(session.to_json()).status == "completed"


def call_reloading(_flow):
    call_in_memory(load_flow(PATH))


def rate(fn, flow, seconds: float) -> tuple[float, float]:
    fn(flow)  # warm up
    n, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        for _ in range(20):
            fn(flow)
        n += 20
    return n / elapsed, elapsed / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    flow = load_flow(PATH)
    results = {}
    for name, fn in (("in-memory", call_in_memory), ("json", call_via_json),
                     ("reload", call_reloading)):
        results[name] = rate(fn, flow, args.seconds if name != "reload" else args.seconds / 3)
    base = results["in-memory"][0]
    print(f"hotline call = start + {len(CALL)} resumes, flow {flow.id}@{flow.version}")
    for name, (per_s, per_call) in results.items():
        print(f"{name:<10} {per_s:>9,.0f} calls/s   {per_call * 1e6:>8,.0f} us/call   "
              f"ratio to in-memory {per_s / base:.3f}")


if __name__ == "__main__":
    main()
