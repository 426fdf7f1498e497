"""``hcp sms parse`` through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def hcp(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_parse_arguments_prints_one_json_object_per_reply():
    proc = hcp("sms", "parse", "5 窗口态度太差", "A3:满意", "12")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    assert "窗口态度太差" in lines[0]  # ensure_ascii=False: Chinese as it is
    first, second, third = (json.loads(line) for line in lines)
    assert first == {"text": "5 窗口态度太差", "intent": "rating", "grade": "very_dissatisfied",
                     "code": None, "reasons": [], "comment": "窗口态度太差", "detail": "",
                     "opt_out": False, "flagged": False}
    assert (second["intent"], second["grade"], second["code"]) == ("rating", "satisfied", "A3")
    assert (third["intent"], third["grade"], third["detail"]) == (
        "ambiguous", None, "multi_digit")


def test_parse_reads_one_reply_per_line_on_stdin():
    proc = hcp("sms", "parse", stdin="１\n非常不滿意\n\nTD\n还行吧\n")
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(g["intent"], g["grade"]) for g in got] == [
        ("rating", "very_satisfied"), ("rating", "very_dissatisfied"), ("unknown", None),
        ("opt_out", None), ("ambiguous", None)]


def test_parse_options_reason_scale_codes_and_pending():
    reason = json.loads(hcp("sms", "parse", "--reason", "1、2").stdout)
    assert (reason["intent"], reason["reasons"]) == ("reason", ["efficiency", "attitude"])
    exchange = json.loads(hcp("sms", "parse", "--scale", "exchange", "5").stdout)
    assert exchange["grade"] == "very_satisfied"
    numeric = json.loads(hcp("sms", "parse", "--numeric-codes", "123456 2").stdout)
    assert (numeric["code"], numeric["grade"]) == ("123456", "satisfied")
    pending = json.loads(hcp("sms", "parse", "--pending", "A3,B7", "A9 1").stdout)
    assert (pending["intent"], pending["grade"], pending["detail"]) == (
        "unknown", None, "unknown_code")


def test_a_code_pattern_that_reads_digits_is_refused():
    proc = hcp("sms", "parse", "--code-pattern", "[0-9]+", "1")
    assert proc.returncode == 2
    assert "code pattern" in proc.stderr and proc.stdout == ""
