"""Issue 11 part 3 and issue 10 point 3 on real calls: ``hcp serve`` (one IVR worker,
private Redis, the shipped hotline flow) answers SIPp calls, and the ratings reach the
loopback core store over signed HTTP.

* a caller who presses "2" one second after the answer is stored as 满意, with no
  other key (no language menu, no confirmation in front of the grade); the test
  prints the time to rate measured on the worker's clock (docs/flows.md);
* ``X-Language: yue`` makes the first prompt Cantonese;
* a confirmed bad grade with no key in the reason menu still reaches the store,
  its comment marked as system text (the exchange refuses a bad grade with neither
  reason nor comment);
* a phone number in ``X-Agent-Id`` is not taken as an agent: no staff rating is
  offered, and the number appears in no log line;
* a caller who presses nothing hears the question once and a goodbye, and is
  released within ~20 s, unrated.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

from ratings.grades import Grade
from ratings.model import SYSTEM_COMMENT_MARK
from tests.e2e_ivr.harness import ServedGateway, wait_records
from tests.e2e_ivr.test_serve_call_to_core_store import call_of
from tests.ivr.sipp import build_scenario, run_sipp


def sipp_call(served: ServedGateway, tmp_path, steps, ticket="", agent="", extra=None,
              timeout_s=90):
    kwargs = {"extra": extra} if extra else {}
    result = run_sipp(build_scenario(steps, tmp_path), served.sip_port, tmp_path,
                      ticket=ticket, agent=agent, timeout_s=timeout_s, **kwargs)
    assert result.returncode == 0, result.output + served.log()[-3000:]
    return result


def log_events(served: ServedGateway, sip_call_id: str) -> list[tuple[datetime, str]]:
    out = []
    for line in served.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if f"call {sip_call_id}" in entry.get("event", ""):
            out.append((datetime.fromisoformat(entry["ts"]), entry["event"]))
    return out


def sip_call_id(result) -> str:
    return next(line.split(":", 1)[1].strip() for line in result.messages.splitlines()
                if line.lower().startswith("call-id:"))


def time_to_rate(events) -> float:
    """Seconds from the call task's start to the accepted evaluation, on the worker's
    clock: the first prompt's line gives its +offset, log times the rest."""
    prompt = next((ts, e) for ts, e in events if " prompt " in e)
    offset = float(re.search(r"\+[\d.]+\.\.\+([\d.]+)s", prompt[1]).group(1))
    accepted = next(ts for ts, e in events if "evaluation" in e and e.endswith("accepted"))
    return round(offset + (accepted - prompt[0]).total_seconds(), 2)


def test_pressing_2_one_second_after_answer_is_stored_as_satisfied(served, tmp_path):
    satisfied = Grade.from_id("satisfied")
    result = sipp_call(served, tmp_path, [("pause", 1000), ("key", satisfied.keypad),
                                          ("wait_bye", 20000)], ticket="GD2026-ONE-KEY")
    [record] = wait_records(served.store,
                            lambda r: r["projectNo"] == f"call:{call_of(result)}", 1)
    assert record["satisfaction"] == satisfied.exchange_code
    assert record["evalDetail"] == "" and record["writingEvaluation"] == ""
    events = log_events(served, sip_call_id(result))
    keys = [e for _ts, e in events if " key " in e]
    assert len(keys) == 1 and " key 2 method rfc2833" in keys[0], keys
    prompts = [e for _ts, e in events if " prompt " in e]
    assert "ask_grade.prompt/zh" in prompts[0] and "(barge-in)" in prompts[0], prompts
    rated = time_to_rate(events)
    print(f"\nreal call, key 2 at 1 s: rated at +{rated:.2f} s; {keys[0]}")
    assert rated < 2.5


def test_x_language_picks_the_first_prompts_language(served, tmp_path):
    good = Grade.from_id("very_satisfied")
    result = sipp_call(served, tmp_path, [("pause", 1000), ("key", good.keypad),
                                          ("wait_bye", 20000)], extra="X-Language: yue")
    events = log_events(served, sip_call_id(result))
    prompts = [e for _ts, e in events if " prompt " in e]
    assert "ask_grade.prompt/yue" in prompts[0] and "thanks.prompt/yue" in prompts[-1]
    wait_records(served.store, lambda r: r["projectNo"] == f"call:{call_of(result)}", 1)


def test_a_bad_grade_with_no_reason_key_reaches_the_store(served, tmp_path):
    bad = Grade.from_id("very_dissatisfied")
    result = sipp_call(served, tmp_path, [("pause", 1000), ("key", bad.keypad),
                                          ("wait_bye", 60000)], ticket="GD2026-NO-REASON",
                       timeout_s=120)
    [record] = wait_records(served.store,
                            lambda r: r["projectNo"] == f"call:{call_of(result)}", 1)
    assert record["satisfaction"] == bad.exchange_code
    assert record["evalDetail"] == ""
    assert record["writingEvaluation"].startswith(SYSTEM_COMMENT_MARK)  # not the citizen's words
    assert "未选择原因" in record["writingEvaluation"]
    events = log_events(served, sip_call_id(result))
    assert any("thanks.prompt/zh" in e for _ts, e in events)  # "评价已记录" is now true


def test_a_phone_number_as_agent_id_is_refused(served, tmp_path):
    number = "13812345678"
    good = Grade.from_id("satisfied")
    result = sipp_call(served, tmp_path, [("pause", 1000), ("key", good.keypad),
                                          ("wait_bye", 20000)],
                       ticket="GD2026-PHONE-AGENT", agent=number)
    [record] = wait_records(served.store,
                            lambda r: r["projectNo"] == f"call:{call_of(result)}", 1)
    assert "proManager" not in record
    events = log_events(served, sip_call_id(result))
    assert not any("offer_staff_rating" in e for _ts, e in events)  # no agent, no offer
    log = served.log()
    assert number not in log and "138****5678" in log
    assert not any(number in json.dumps(r) for r in wait_records(served.store,
                                                                 lambda r: True, 1))


def test_a_silent_caller_is_released_politely_within_20_s(served, tmp_path):
    result = sipp_call(served, tmp_path, [("wait_bye", 30000)], ticket="GD2026-SILENT")
    events = log_events(served, sip_call_id(result))
    prompts = [e for _ts, e in events if " prompt " in e]
    assert "ask_grade.prompt/zh" in prompts[0] and "goodbye/zh" in prompts[-1], prompts
    ended = float(re.search(r"\.\.\+([\d.]+)s", prompts[-1]).group(1))
    print(f"\nreal call, silent caller: goodbye ends at +{ended:.2f} s")
    assert ended <= 21.0
    deadline = time.monotonic() + 10  # the call's summary follows its BYE
    while not any("ended: unrated" in e for _ts, e in events) and time.monotonic() < deadline:
        time.sleep(0.2)
        events = log_events(served, sip_call_id(result))
    assert any("ended: unrated" in e for _ts, e in events), events[-3:]
