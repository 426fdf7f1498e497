"""The flow-language parts the grade-first hotline flow needs: a language key inside a
menu, max_no_input, flow options read by a branch — their validation and behaviour."""

import copy

import pytest

from flows import events as ev
from flows.session import COMPLETED, Trigger

from .conftest import Driver
from flows.loader import FlowError

from .test_loader import BASE, load


def codes(data) -> list[str]:
    """Hard-error codes of a definition; [] when it loads."""
    try:
        load(data)
    except FlowError as err:
        return sorted(p.code for p in err.problems)
    return []


def with_ask(**fields):
    data = copy.deepcopy(BASE)
    data["languages"] = ["zh", "yue"]
    data["nodes"][0].update(fields)
    return data


def test_a_language_key_that_is_an_option_or_the_repeat_key_is_a_hard_error():
    assert "digit_conflict" in codes(with_ask(language_key={"key": "3", "to": {"zh": "yue"}}))
    assert "digit_conflict" in codes(with_ask(language_key={"key": "0", "to": {"zh": "yue"}}))
    assert "bad_language" in codes(with_ask(language_key={"key": "9", "to": {"zh": "en"}}))
    assert "bad_language" in codes(with_ask(language_key={"key": "9", "to": {"zh": "zh"}}))
    assert codes(with_ask(language_key={"key": "9", "to": {"zh": "yue"}})) == []


def test_an_unknown_flow_option_is_a_hard_error():
    data = copy.deepcopy(BASE)
    data["nodes"].insert(1, {"id": "pick", "type": "branch", "switch": "option.confirm",
                             "cases": {"true": "bye"}, "default": "bye"})
    data["nodes"][0]["next"] = "pick"
    assert "bad_option" in codes(data)
    data["options"] = {"confirm": False}
    assert codes(data) == []


def test_the_language_key_switches_only_from_the_languages_it_names():
    flow = load(with_ask(prompt={"zh": "请评价", "yue": "请评价今次"},
                         language_key={"key": "9", "to": {"zh": "yue"}}))
    d = Driver(flow).send(ev.Digits("9"))
    assert d.session.lang == "yue" and d.effects[0].TYPE == "set_language"
    d.send(ev.Digits("9"))  # no way on from yue: an invalid key
    assert d.session.lang == "yue" and d.session.attempts == 1


@pytest.mark.parametrize("max_no_input, timeouts_to_end", [(None, 3), (1, 1), (2, 2)])
def test_max_no_input_counts_time_outs_only(max_no_input, timeouts_to_end):
    fields = {"exhausted": "bye"} | ({"max_no_input": max_no_input} if max_no_input else {})
    flow = load(with_ask(**fields))
    d = Driver(flow, Trigger())
    d.send(ev.Digits("7"))  # a wrong key costs an attempt, not a no-input
    for _ in range(timeouts_to_end - (1 if max_no_input is None else 0)):
        assert d.session.node == "ask"
        d.send(ev.Timeout())
    assert d.session.status == COMPLETED and d.session.node == "bye"
