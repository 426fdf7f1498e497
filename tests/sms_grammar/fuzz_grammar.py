"""atheris (libFuzzer) harness for the SMS grammar; run by test_fuzz.py.

    python tests/sms_grammar/fuzz_grammar.py CORPUS_DIR -dict=FILE -max_total_time=15

Input bytes: the first picks the convention and the mode, the rest is the reply as
UTF-8. Fails (a libFuzzer crash) if parse raises, its JSON form does not serialise, or
it reads a grade the text gives no evidence for (oracle.py).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["sms"]):
    from sms.grammar import DigitScale, ReplyConvention, parse

_spec = importlib.util.spec_from_file_location("oracle", Path(__file__).with_name("oracle.py"))
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

CONVENTIONS = [ReplyConvention.letter_codes(scale) for scale in DigitScale] + [
    ReplyConvention.numeric_codes(scale=scale) for scale in DigitScale]
PENDING = (None, ["A3", "1234"])


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode = data[0]
    text = data[1:].decode("utf-8", errors="replace")
    convention = CONVENTIONS[mode % len(CONVENTIONS)]
    reason = bool(mode & 0x40)
    pending = PENDING[(mode >> 7) & 1]
    got = parse(text, convention, expecting_reason=reason, pending_codes=pending)
    json.dumps(got.to_json(), ensure_ascii=False)
    oracle.check(text, convention, got)
    if reason and got.grade is not None:
        raise AssertionError(f"a grade in reason mode: {text!r} {got}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
