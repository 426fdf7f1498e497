"""Replies parsed per second by sms.grammar.parse over a realistic mix, against two
baselines measured in the same run:

- naive: one regex for the first digit 1–5, read on the keypad through Grade
  (what a rules engine does; it misreads much of what people type);
- json.dumps of the reply (a floor: what serialising the reply alone costs).

Two grammar sides, also interleaved: ``parse`` (the fast path of sms.grammar_fast for
bare digits and short words, the full grammar for the rest) and ``parse_full``
(every reply through the whole grammar: the "before" of issue 16).

    .venv/bin/python bench/sms_grammar/bench_parse.py [-n 100000] [--rounds 10]

Prints replies/s for each, the ratios, and how many golden-table replies the naive
matcher gets wrong (a different intent or grade than the grammar's expected answer).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from ratings.grades import Grade  # noqa: E402
from sms.grammar import parse, parse_full  # noqa: E402
from sms.grammar_fast import FORMS  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "replies", ROOT / "tests" / "sms_grammar" / "replies.py")
replies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replies)

NAIVE = re.compile(r"[1-5]")
COMPLAINTS = [
    "窗口工作人员态度很差，问了三次都不耐烦，材料也说不清楚要哪些，希望改进",
    "网上预约了还要排队两个小时，流程太繁琐了",
    "办事效率很高，工作人员很耐心，点赞",
    "等了一个星期才通知我去领证，太慢了",
]


def naive_parse(text: str) -> Grade | None:
    match = NAIVE.search(text)
    return Grade.from_keypad(match.group()) if match else None


def realistic_mix(n: int, seed: int) -> list[str]:
    """Half bare digits (some full-width), the rest from the golden table, and a few
    long complaints after a digit: roughly what an SMS reply queue holds."""
    rng = random.Random(seed)
    digits = list("12345") * 3 + list("１２３４５")
    table = [row[0] for row in replies.RATING_ROWS]
    mix = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.5:
            mix.append(rng.choice(digits))
        elif roll < 0.9:
            mix.append(rng.choice(table))
        else:
            mix.append(f"{rng.choice('12345')} {rng.choice(COMPLAINTS)}")
    return mix


def rate(fn, mix: list[str]) -> float:
    """Replies per second of this process's CPU time (a shared machine's other load
    stretches wall time, much less the CPU time we get)."""
    start = time.process_time()
    for text in mix:
        fn(text)
    return len(mix) / max(time.process_time() - start, 1e-9)


def interleaved(fns: dict, mix: list[str], rounds: int) -> dict[str, float]:
    """Median rate of each function over ``rounds`` slices of the mix, taking turns
    slice by slice so that a shared machine's load hits all of them alike."""
    size = max(1, len(mix) // rounds)
    rates: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        part = mix[r * size:(r + 1) * size]
        for name, fn in fns.items():
            rates[name].append(rate(fn, part))
    return {name: statistics.median(values) for name, values in rates.items()}


def naive_errors() -> tuple[int, int]:
    wrong = 0
    for text, intent, grade, *_ in replies.RATING_ROWS:
        got = naive_parse(text)
        expected = grade if intent in ("rating", "follow_up") else None
        if (got.id if got else None) != expected:
            wrong += 1
    return wrong, len(replies.RATING_ROWS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    mix = realistic_mix(args.n, args.seed)
    for text in mix[:2000]:  # warm caches the same way for all
        parse(text), parse_full(text), naive_parse(text), json.dumps(text)
    rates = interleaved({"dumps": lambda t: json.dumps(t, ensure_ascii=False),
                         "naive": naive_parse, "full": parse_full, "grammar": parse},
                        mix, args.rounds)
    dumps, naive, grammar, full = rates["dumps"], rates["naive"], rates["grammar"], \
        rates["full"]
    wrong, rows = naive_errors()
    mean_len = sum(map(len, mix)) / len(mix)
    print(f"{len(mix):,} replies, realistic mix (mean {mean_len:.1f} characters), one process,"
          f" CPU time, median of {args.rounds} interleaved rounds")
    print(f"json.dumps     {dumps:12,.0f} replies/s")
    print(f"naive regex    {naive:12,.0f} replies/s")
    print(f"full grammar   {full:12,.0f} replies/s   {1e6 / full:6.1f} us CPU/reply"
          "   (parse_full: no fast path)")
    print(f"grammar        {grammar:12,.0f} replies/s   {1e6 / grammar:6.1f} us CPU/reply"
          f"   (parse: fast path for {sum(t in FORMS for t in mix) / len(mix):.0%} of the mix)")
    print(f"ratio grammar/naive {grammar / naive:.3f}   grammar/json.dumps {grammar / dumps:.3f}"
          f"   full/naive {full / naive:.3f}   grammar/full {grammar / full:.2f}")
    for name, part in (("bare digits", [t for t in mix if t in FORMS and len(t) == 1]),
                       ("not in the table", [t for t in mix if t not in FORMS])):
        sub = interleaved({"full": parse_full, "grammar": parse}, part, args.rounds)
        print(f"  {name:<17} {len(part):6,} replies: grammar {sub['grammar']:10,.0f}/s, "
              f"full {sub['full']:10,.0f}/s")
    print(f"naive regex wrong on {wrong} of {rows} golden-table replies; the grammar on 0 "
          "(tests/sms_grammar)")


if __name__ == "__main__":
    main()
