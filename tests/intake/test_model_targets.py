"""Target validation the intake relies on (its keys are built from these ids)."""

from __future__ import annotations

import pytest

from ratings.model import InvalidEvaluation, Target, TargetKind


@pytest.mark.parametrize("items", [("P1", ""), ("P1", "P1")])
def test_group_items_are_distinct_non_empty_ids(items):
    with pytest.raises(InvalidEvaluation) as err:
        Target(TargetKind.BATCH, "B1", items)
    assert err.value.field == "target.items"


def test_theme_record_items_are_all_linked_items():
    assert Target(TargetKind.THEME, "T1", ("P1", "P2")).record_items() == ("P1", "P2")


def test_call_target_is_its_own_record():
    call = Target(TargetKind.CALL, "HL-1")
    assert call.record_items() == ("HL-1",)


@pytest.mark.parametrize("kind,tid,items", [
    (TargetKind.ITEM, "staff:A7:X", ()), (TargetKind.ITEM, "call:X", ()),
    (TargetKind.BATCH, "B1", ("P1", "call:X")), (TargetKind.THEME, "T1", ("staff:1:2",))])
def test_item_ids_cannot_take_a_derived_project_no(kind, tid, items):
    """The staff and call records are filed under staff:… and call:…; an item id of that
    shape could collide with them at the exchange."""
    with pytest.raises(InvalidEvaluation) as err:
        Target(kind, tid, items)
    assert err.value.field in ("target.id", "target.items")


def test_staff_id_holds_no_colon():
    with pytest.raises(InvalidEvaluation) as err:
        Target(TargetKind.STAFF, "V1", staff_id="A:7")
    assert err.value.field == "target.staff_id"
