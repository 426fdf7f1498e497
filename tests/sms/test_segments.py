from hypothesis import given
from hypothesis import strategies as st

from sms import segments
from sms.segments import GSM7, UCS2


def test_gsm7_single_and_concatenated_limits():
    assert segments.count("a" * 160).segments == 1
    assert segments.count("a" * 161).segments == 2
    assert segments.count("a" * 306).segments == 2
    assert segments.count("a" * 307).segments == 3
    assert segments.count("a" * 160).encoding == GSM7


def test_extension_characters_cost_two_septets_and_are_not_split():
    info = segments.count("{" * 80)
    assert info.units == 160 and info.segments == 1
    text = "a" * 152 + "€" + "b" * 10
    parts = segments.split(text)
    assert parts[0] == "a" * 152 and parts[1].startswith("€")


def test_ucs2_limits_70_and_67():
    assert segments.count("评" * 70) == segments.SegmentInfo(UCS2, 70, 1, 70)
    assert segments.count("评" * 71).segments == 2
    assert segments.count("评" * 134).segments == 2
    assert segments.count("评" * 135).segments == 3
    assert segments.count("【广东政务】a").encoding == UCS2


def test_surrogate_pair_counts_two_units_and_is_not_split():
    text = "评" * 66 + "😀" + "x" * 10
    assert segments.count("😀").units == 2
    parts = segments.split(text)
    assert parts[0] == "评" * 66 and parts[1].startswith("😀")


def test_gsm7_encode_decode_round_trip():
    text = "Hello {world} 100€ @home"
    assert segments.decode(segments.encode(text), 0) == text
    assert segments.decode(segments.encode("你好"), 8) == "你好"


def test_lint_flags_missing_signature_length_and_wording():
    assert segments.lint("【广东政务服务】请评价") == []
    notes = segments.lint("请参加问卷调查" + "评" * 300)
    assert any("signature" in n for n in notes)
    assert any("问卷调查" in n for n in notes)
    assert any("segments" in n for n in notes)


@given(st.text(max_size=600))
def test_split_reassembles_and_respects_capacity(text):
    parts = segments.split(text)
    assert "".join(parts) == text
    info = segments.count(text)
    assert len(parts) == info.segments
    if len(parts) > 1:
        for part in parts:
            assert segments.count(part).units <= segments.CONCATENATED[info.encoding]
