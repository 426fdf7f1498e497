"""Issue 4's "done when", through the real process.

``hcp serve`` started as scripts/run starts it (one IVR worker, private Redis, the
shipped hotline flow) answers a SIPp call (RFC 2833 keys, ticket and agent in the
INVITE's X- headers); the rating travels intake → outbox → submitter → the loopback
core store over signed HTTP, and arrives as the national record:

* the service rating rates the call (一次一评, issue 10): ``projectNo`` =
  ``call:<call id>`` (the call's id derived from the Call-ID when the context has
  none), ``pf`` = the telephone code (6), the grade's exchange code; a bad grade
  carries the reason-menu code in ``evalDetail``; the ticket's item is not used up;
* staff record (the caller also rated the agent): ``projectNo`` =
  ``staff:<agent>:<call id>``, ``proManager`` = the agent from the INVITE: a record of
  its own at the exchange (docs/intake.md, "Record identity");
* a call with no context is still rated, against its own call id (not the Call-ID).
"""

from __future__ import annotations

from ivr.outcome import call_id_of
from ratings.grades import Grade
from ratings.reason_codes import load_table
from tests.e2e_ivr.harness import ServedGateway, wait_records
from tests.ivr.sipp import build_scenario, run_sipp

TELEPHONE_PF = 6  # HCP_CORE_PF_HOTLINE's default


def call(served: ServedGateway, tmp_path, keys: list[str], ticket: str = "", agent: str = ""):
    steps: list[tuple] = [("pause", 1000)]
    for key in keys:
        steps += [("key", key), ("pause", 900)]
    steps.append(("wait_bye", 40000))
    result = run_sipp(build_scenario(steps, tmp_path), served.sip_port, tmp_path,
                      ticket=ticket, agent=agent, timeout_s=90)
    assert result.returncode == 0, result.output + served.log()[-3000:]
    return result


def call_of(result) -> str:
    """The call's id as the gateway derives it from the SIP Call-ID."""
    sip_call_id = next(line.split(":", 1)[1].strip() for line in result.messages.splitlines()
                       if line.lower().startswith("call-id:"))
    return call_id_of({}, sip_call_id)


def test_rating_arrives_with_the_ticket_and_the_agent(served, tmp_path):
    satisfied, very = Grade.from_id("satisfied"), Grade.from_id("very_satisfied")
    result = call(served, tmp_path,
                  [satisfied.keypad,  # 满意 (the grade question comes first)
                   "1", very.keypad],  # rate the agent too: 非常满意
                  ticket="GD2026-E2E-001", agent="A1017")
    call_id = call_of(result)
    item, staff = None, None
    for record in wait_records(served.store, lambda r: r["projectNo"].endswith(call_id), 2):
        if "proManager" in record:
            staff = record
        else:
            item = record
    assert item is not None and staff is not None, served.log()[-3000:]
    assert item["projectNo"] == f"call:{call_id}"
    assert staff["projectNo"] == f"staff:A1017:{call_id}"
    assert item["pf"] == TELEPHONE_PF
    assert item["satisfaction"] == satisfied.exchange_code
    assert staff["proManager"] == "A1017"
    assert staff["pf"] == TELEPHONE_PF
    assert staff["satisfaction"] == very.exchange_code


def test_bad_grade_with_a_reason_arrives_with_eval_detail(served, tmp_path):
    bad = Grade.from_id("dissatisfied")
    result = call(served, tmp_path,
                  [bad.keypad,  # 不满意
                   "3",  # reason menu: 问题未解决
                   "2"],  # no staff rating
                  ticket="GD2026-E2E-002", agent="A2020")
    call_id = call_of(result)
    [record] = wait_records(served.store, lambda r: r["projectNo"].endswith(call_id), 1)
    assert record["projectNo"] == f"call:{call_id}"
    assert record["satisfaction"] == bad.exchange_code
    assert record["evalDetail"] == load_table()["unresolved"]  # the exchange's code
    assert record["pf"] == TELEPHONE_PF
    assert "proManager" not in record  # the agent was not rated


def test_call_without_context_is_rated_and_says_so(served, tmp_path):
    good = Grade.from_id("basically_satisfied")
    result = call(served, tmp_path, [good.keypad])
    call_id = call_of(result)
    [record] = wait_records(served.store, lambda r: r["projectNo"] == f"call:{call_id}", 1)
    assert record["satisfaction"] == good.exchange_code
    assert record["pf"] == TELEPHONE_PF
