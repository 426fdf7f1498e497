"""Issue 10 (points 1, 2): record identity at the exchange, through real processes.

``hcp serve`` (one IVR worker, private Redis, SMS channel with the file carrier) and the
loopback exchange in its own process over signed HTTP, which keeps one record per
(projectNo, assessNumber) like the real one:

* one SIPp call with a ticket and an agent, rating the service and the agent, arrives
  as two records, both accepted: the call's (``call:<call id>``) and the agent's
  (``staff:<agent>:<call id>``); the ticket's item is not used up;
* the ticket's item completion (posted before the call) still gets its SMS reminder;
* a record another system already filed under our (projectNo, assessNumber) makes the
  evaluation a dead letter with the exchange's words, not "submitted".
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest

from ivr.outcome import call_id_of
from ratings.grades import Grade
from tests.e2e_ivr.harness import ServedGateway, serve, wait_records
from tests.ivr.sipp import build_scenario, run_sipp

TOKEN = "e2e-identity-token-0123456789"
TICKET = "GD2026-ID-001"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("e2e-identity"), {
        "HCP_HTTP_TOKENS": TOKEN, "HCP_SMS_REMINDER_DELAY": "3s", "HCP_SMS_POLL_S": "0.2",
        "HCP_SMS_SEND_WINDOW": "00:00-24:00"})


def api(served: ServedGateway, method: str, path: str, body: dict | None = None):
    req = urllib.request.Request(
        f"http://127.0.0.1:{served.http_port}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def until(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_call_two_records_and_the_item_keeps_its_reminder(gateway, tmp_path):
    status, scheduled = api(gateway, "POST", "/v1/completions", {
        "item_id": TICKET, "service_code": "11440100MB2C91234X", "service_name": "居住证签注",
        "department": "广州市公安局", "phone": "13800138002",
        "completed_at": datetime.now(timezone.utc).isoformat()})
    assert status in (200, 201), scheduled
    rid = f"i:{TICKET}"

    satisfied, very_bad = Grade.from_id("satisfied"), Grade.from_id("very_dissatisfied")
    steps: list[tuple] = [("pause", 1000)]
    for key in [satisfied.keypad,  # 满意 (the grade question comes first)
                "1", very_bad.keypad, "2"]:  # rate the agent: 非常不满意, reason 2
        steps += [("key", key), ("pause", 900)]
    steps.append(("wait_bye", 40000))
    result = run_sipp(build_scenario(steps, tmp_path), gateway.sip_port, tmp_path,
                      ticket=TICKET, agent="A1017", timeout_s=90)
    assert result.returncode == 0, result.output + gateway.log()[-3000:]
    sip_call_id = next(line.split(":", 1)[1].strip() for line in result.messages.splitlines()
                       if line.lower().startswith("call-id:"))
    call = call_id_of({}, sip_call_id)

    records = wait_records(gateway.store, lambda r: r["projectNo"].endswith(call), 2)
    by_project = {r["projectNo"]: r for r in records}
    assert set(by_project) == {f"call:{call}", f"staff:A1017:{call}"}, \
        (by_project, gateway.log()[-3000:])
    assert by_project[f"call:{call}"]["satisfaction"] == satisfied.exchange_code
    staff = by_project[f"staff:A1017:{call}"]
    assert staff["proManager"] == "A1017" and staff["satisfaction"] == very_bad.exchange_code
    assert staff["evalDetail"]  # the reason the caller pressed
    stats = gateway.store.stats()
    assert stats["refused_repeats"] == 0 and stats["duplicates"] == 0
    assert gateway.store.records() and not [
        r for r in gateway.store.records().values() if r["projectNo"] == TICKET]

    # the item was not rated by the call: its reminder goes out
    sent = until(lambda: (s := api(gateway, "GET", f"/v1/sms/reminders/{rid}"))[0] == 200
                 and s[1]["state"] == "sent" and s[1], "the item's reminder to be sent")
    assert sent["target_id"] == TICKET


def test_foreign_record_in_our_slot_is_a_dead_letter_not_submitted(gateway):
    item = "GD2026-ID-FOREIGN"
    gateway.store.plant({"projectNo": item, "assessNumber": 1, "satisfaction": 1,
                         "evalDetail": "03", "assessTime": "2026-01-01 09:00:00", "pf": 7})
    status, answer = api(gateway, "POST", "/v1/evaluations", {
        "target": {"kind": "item", "id": item}, "grade": "very_satisfied",
        "channel": "api"})
    assert status == 201, answer
    ev_id = answer.get("id") or answer.get("evaluation_id")

    def final():
        code, body = api(gateway, "GET", f"/v1/evaluations/{ev_id}")
        return code == 200 and body["status"] in ("dead", "submitted") and body

    body = until(final, "the evaluation to be final")
    assert body["status"] == "dead", body
    assert "重复" in body["last_error"] and "different record" in body["last_error"]
    assert body["submitted_at"] is None
