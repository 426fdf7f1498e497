"""Issue 12 part 3: the shipped reminder is one segment, enforced by ``hcp flows lint``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flows.inspect import inspect
from flows.lint_sms_length import ITEM_NAME_BUDGET, sms_length_issues
from flows.loader import load_flow
from sms import texts
from sms.segments import count

ROOT = Path(__file__).resolve().parents[2]
SMS_FLOWS = sorted((ROOT / "flows" / "shipped").glob("sms_*.yaml"))


def test_every_shipped_sms_flow_passes_the_length_check():
    assert SMS_FLOWS
    for path in SMS_FLOWS:
        assert sms_length_issues(load_flow(path)) == [], path


def test_the_reminder_is_one_segment_with_signature_and_opt_out_hint():
    longest = "广东省居民身份证异地换领补领业务"  # 16 characters: clipped to the budget
    text = texts.reminder_text(longest, "Z99")
    info = count(text)
    assert (info.encoding, info.segments) == ("ucs2", 1) and info.units <= 70, (text, info)
    assert text.startswith("【广东政务服务】") and "TD退订" in text
    assert "“广东省居民身份证异…”" in text
    assert len(texts.clip_item_name(longest)) == ITEM_NAME_BUDGET
    assert texts.clip_item_name("居住证签注") == "居住证签注"
    fallback = texts.template_text(longest, "Z99")
    assert count(fallback).segments == 1 and "TD退订" in fallback


def _broken(tmp_path, old: str, new: str) -> Path:
    source = (ROOT / "flows" / "shipped" / "sms_reminder.yaml").read_text(encoding="utf-8")
    assert old in source
    path = tmp_path / "sms_reminder.yaml"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return path


def test_a_long_reminder_and_one_without_the_hint_are_review_issues(tmp_path):
    long = load_flow(_broken(tmp_path, "已办结。回复数字评价",
                             "已办结，欢迎您在方便时回复数字评价"))
    assert {(i.node, i.code) for i in inspect(long)} == {("remind", "sms_not_one_segment")}
    quiet = load_flow(_broken(tmp_path, "。回TD退订\"\n    next: wait_grade",
                              "。\"\n    next: wait_grade"))
    assert ("remind", "sms_no_opt_out_hint") in {(i.node, i.code) for i in inspect(quiet)}


def test_hcp_flows_lint_strict_fails_on_a_two_segment_reminder(tmp_path):
    path = _broken(tmp_path, "已办结。回复数字评价", "已办结，欢迎您在方便时回复数字评价")
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "flows", "lint", "--strict",
                           str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "sms_not_one_segment" in proc.stdout, proc.stdout
    ok = subprocess.run([sys.executable, "-m", "gateway.cli", "flows", "lint", "--strict",
                         *map(str, SMS_FLOWS)], cwd=ROOT, capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stdout
