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
