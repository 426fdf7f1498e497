from hypothesis import given
from hypothesis import strategies as st

from sms.concat import Part, Reassembler, parse_udh, udh


def test_udh_round_trip_8_and_16_bit():
    part, body = parse_udh(udh(7, 3, 2) + b"abc")
    assert part == Part(7, 3, 2, b"abc") and body == b"abc"
    part, body = parse_udh(bytes((6, 8, 4, 1, 2, 3, 1)) + b"xy")
    assert part == Part(0x0102, 3, 1, b"xy")


def test_out_of_order_and_repeated_parts():
    r = Reassembler()
    assert r.add("a", Part(1, 3, 3, b"3"), 0) is None
    assert r.add("a", Part(1, 3, 1, b"1"), 0) is None
    assert r.add("a", Part(1, 3, 1, b"1"), 0) is None
    assert r.add("b", Part(1, 3, 2, b"X"), 0) is None  # another sender, same ref
    assert r.add("a", Part(1, 3, 2, b"2"), 0) == b"123"
    assert len(r) == 1


def test_incomplete_messages_expire():
    r = Reassembler(max_age_s=10)
    r.add("a", Part(1, 2, 1, b"1"), 0)
    assert r.expire(11) == 1 and r.add("a", Part(1, 2, 2, b"2"), 12) is None


@given(st.text(min_size=1, max_size=300), st.integers(1, 8), st.randoms())
def test_any_split_reassembles(text, parts, rnd):
    body = text.encode("utf-16-be")
    step = max(2, -(-len(body) // parts))
    step += step % 2
    chunks = [body[i:i + step] for i in range(0, len(body), step)]
    order = list(enumerate(chunks, 1))
    rnd.shuffle(order)
    r = Reassembler()
    out = [r.add("s", Part(9, len(chunks), seq, c), 0) for seq, c in order]
    assert out[-1].decode("utf-16-be") == text and all(o is None for o in out[:-1])
