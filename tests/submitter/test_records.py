"""Evaluation → national-style records: field by field, fan-out, options."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ratings.grades import Grade
from ratings.model import Channel, TargetKind
from ratings.records import RecordOptions, fan_out
from tests.submitter.conftest import make_ev


def test_item_record_fields():
    ev = make_ev("P1", grade=Grade.DISSATISFIED, reasons=("R01", "R07"), comment="太慢",
                 context={"task_code": "T9", "dept_code": "D1", "area_code": "440100"})
    [rec] = fan_out(ev)
    assert rec.idempotency_key == f"{ev.id}:P1"
    assert rec.payload == {
        "projectNo": "P1", "taskCode": "T9", "deptCode": "D1", "areaCode": "440100",
        "pf": 6, "satisfaction": 2, "evalDetail": "R01,R07", "writingEvaluation": "太慢",
        "assessTime": "2026-03-01 10:30:05", "assessNumber": 1, "userProp": "1"}


def test_satisfaction_comes_from_the_grade_exchange_code():
    for grade in Grade:
        [rec] = fan_out(make_ev("P1", grade=grade))
        assert Grade.from_exchange_code(rec.payload["satisfaction"]) is grade


def test_assess_time_is_shanghai_time_whatever_the_input_zone():
    ev = make_ev("P1", assessed_at=datetime(2026, 12, 31, 23, 59, 59,
                                              tzinfo=timezone(timedelta(hours=-5))))
    assert fan_out(ev)[0].payload["assessTime"] == "2027-01-01 12:59:59"


def test_pf_per_channel_is_configurable():
    sms = make_ev("P1", channel=Channel.SMS)
    assert fan_out(sms)[0].payload["pf"] == 7
    variant = RecordOptions(pf_codes={"hotline": 7, "sms": 6, "api": 7})
    assert fan_out(sms, variant)[0].payload["pf"] == 6
    assert fan_out(make_ev("P1"), variant)[0].payload["pf"] == 7


def test_mobile_only_when_the_contract_needs_it():
    ev = make_ev("P1", phone="+8613812345678")
    assert "mobile" not in fan_out(ev)[0].payload
    with_mobile = fan_out(ev, RecordOptions(include_mobile=True))[0].payload
    assert with_mobile["mobile"] == "13812345678"


def test_staff_rating_names_the_staff_member():
    ev = make_ev("CALL-1", kind=TargetKind.STAFF, staff_id="S42")
    [rec] = fan_out(ev)
    assert rec.payload["proManager"] == "S42"
    assert rec.payload["projectNo"] == "staff:S42:CALL-1"  # not the visit's item record
    assert rec.idempotency_key == f"{ev.id}:CALL-1"


def test_each_kind_of_target_has_its_own_project_no():
    """Item, staff and call of one call: three distinct (projectNo, assessNumber)."""
    item = make_ev("GD-1")
    staff = make_ev("HL-1", kind=TargetKind.STAFF, staff_id="A7")
    call = make_ev("HL-1", kind=TargetKind.CALL)
    slots = {(r.payload["projectNo"], r.payload["assessNumber"])
             for ev in (item, staff, call) for r in fan_out(ev)}
    assert slots == {("GD-1", 1), ("staff:A7:HL-1", 1), ("call:HL-1", 1)}
    follow = make_ev("HL-1", kind=TargetKind.CALL, assess_number=2)
    assert fan_out(follow)[0].payload["projectNo"] == "call:HL-1"


def test_system_text_is_not_sent_as_the_citizens_words():
    from ratings.model import SYSTEM_COMMENT_MARK

    said = make_ev("P1", grade=Grade.DISSATISFIED, reasons=(), comment="排队太久")
    assert fan_out(said)[0].payload["writingEvaluation"] == "排队太久"
    for ctx in ({"reason_missing": "hangup"}, {"comment_by": "system"}):
        system = make_ev("P1", grade=Grade.DISSATISFIED, reasons=(),
                         comment="来电人在选择不满意原因时挂机，未选择原因", context=ctx)
        text = fan_out(system)[0].payload["writingEvaluation"]
        assert text.startswith(SYSTEM_COMMENT_MARK) and text.endswith("未选择原因")


def test_batch_fans_out_one_record_per_item_with_own_keys():
    ev = make_ev("B1", kind=TargetKind.BATCH, items=("I1", "I2", "I3"), assess_number=2)
    recs = fan_out(ev)
    assert [r.idempotency_key for r in recs] == [f"{ev.id}:I{i}" for i in (1, 2, 3)]
    assert [r.payload["projectNo"] for r in recs] == ["I1", "I2", "I3"]
    assert all(r.payload["assessNumber"] == 2 for r in recs)


def test_covers_from_the_outbox_win_over_the_target_items():
    ev = make_ev("T1", kind=TargetKind.THEME, items=("I1", "I2", "I3"))
    assert [r.payload["projectNo"] for r in fan_out(ev, covers=["I2"])] == ["I2"]


def test_body_bytes_are_stable():
    ev = make_ev("P1", comment="好")
    a, b = fan_out(ev)[0], fan_out(ev)[0]
    assert a.body() == b.body() and "好".encode() in a.body()
