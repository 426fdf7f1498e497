import pytest

from ratings.grades import Grade, UnknownGrade


def test_seed_article_9_scores():
    assert [g.score for g in Grade] == [10, 8, 6, 3, 0]
    assert [g.name_zh for g in Grade] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]


def test_keypad_and_exchange_are_reversed():
    assert Grade.from_keypad("1") is Grade.VERY_SATISFIED
    assert Grade.from_exchange_code(5) is Grade.VERY_SATISFIED
    assert Grade.from_keypad("5") is Grade.VERY_DISSATISFIED
    assert Grade.from_exchange_code(1) is Grade.VERY_DISSATISFIED


@pytest.mark.parametrize("grade", list(Grade))
def test_every_scale_round_trips(grade):
    assert Grade.from_keypad(grade.keypad) is grade
    assert Grade.from_exchange_code(grade.exchange_code) is grade
    assert Grade.from_gbt_code(grade.gbt_code) is grade
    assert Grade.from_id(grade.id) is grade
    assert Grade.from_score(grade.score) is grade


def test_only_bad_grades_need_a_reason():
    assert {g for g in Grade if g.needs_reason} == {Grade.DISSATISFIED, Grade.VERY_DISSATISFIED}


@pytest.mark.parametrize("bad", ["0", "6", "#", "", "１"])
def test_unknown_keypad_digit(bad):
    with pytest.raises(UnknownGrade):
        Grade.from_keypad(bad)


@pytest.mark.parametrize("bad", [0, 6, -1])
def test_unknown_exchange_code(bad):
    with pytest.raises(UnknownGrade):
        Grade.from_exchange_code(bad)
