from datetime import datetime, timezone

import pytest

from ratings.grades import Grade
from ratings.model import (Channel, Evaluation, InvalidEvaluation, Target, TargetKind,
                           mask_phone, normalise_phone)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def test_phone_normalised_to_e164():
    assert normalise_phone("138 0013 8000") == "+8613800138000"
    assert normalise_phone("+86 138-0013-8000") == "+8613800138000"


@pytest.mark.parametrize("raw", ["12345", "not a number", "+86 100", ""])
def test_invalid_phone_names_the_field(raw):
    with pytest.raises(InvalidEvaluation) as err:
        normalise_phone(raw)
    assert err.value.field == "phone"


def test_mask():
    assert mask_phone("+8613812345678") == "138****5678"


def test_bad_grade_needs_reason():
    with pytest.raises(InvalidEvaluation) as err:
        Evaluation(Target(TargetKind.ITEM, "P1"), Channel.SMS, Grade.DISSATISFIED, NOW)
    assert err.value.field == "reasons"
    Evaluation(Target(TargetKind.ITEM, "P1"), Channel.SMS, Grade.DISSATISFIED, NOW,
               reasons=("efficiency",))


def test_json_round_trip():
    ev = Evaluation(Target(TargetKind.BATCH, "B1", ("P1", "P2")), Channel.HOTLINE,
                    Grade.VERY_DISSATISFIED, NOW, reasons=("attitude",), comment="太慢",
                    phone="+8613800138000", flow_id="hotline", flow_version="abc",
                    source_id="call-1", context={"ticket": "T9"})
    assert Evaluation.from_json(ev.to_json()) == ev


def test_batch_needs_items_and_staff_needs_staff():
    with pytest.raises(InvalidEvaluation):
        Target(TargetKind.BATCH, "B1")
    with pytest.raises(InvalidEvaluation):
        Target(TargetKind.STAFF, "visit-1")


@pytest.mark.parametrize("reasons,comment", [((" ",), ""), (("",), "太慢"), ((), "   ")])
def test_blank_reason_or_comment_is_no_reason(reasons, comment):
    with pytest.raises(InvalidEvaluation) as err:
        Evaluation(Target(TargetKind.ITEM, "P1"), Channel.API, Grade.VERY_DISSATISFIED, NOW,
                   reasons=reasons, comment=comment)
    assert err.value.field == "reasons"


def test_call_target_round_trips_and_system_comment_is_flagged():
    ev = Evaluation(Target(TargetKind.CALL, "HL-1"), Channel.HOTLINE, Grade.DISSATISFIED,
                    NOW, comment="未选择原因", context={"reason_missing": "hangup"})
    assert Evaluation.from_json(ev.to_json()) == ev and ev.comment_by_system
    own = Evaluation(Target(TargetKind.CALL, "HL-1"), Channel.HOTLINE, Grade.DISSATISFIED,
                     NOW, comment="太慢")
    assert not own.comment_by_system
