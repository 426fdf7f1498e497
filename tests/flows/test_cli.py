"""``hcp flows`` as a supervisor runs it: a real subprocess of the console script."""

import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def hcp(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "gateway.cli", "flows", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_validate_shipped_flows():
    result = hcp("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok ") >= 3


def test_validate_reports_errors_and_fails(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec_version: 2\nid: bad\ntype: voice\n"
                   "nodes:\n  - {id: a, type: play, prompt: {zh: hi}, next: nowhere}\n")
    result = hcp("validate", str(bad))
    assert result.returncode == 1 and "bad_exit" in result.stdout


def test_script_check_passes_and_catches_a_changed_transcript(tmp_path):
    golden = GOLDEN / "hotline_grade_dissatisfied.txt"
    assert hcp("simulate", "x", "--script", str(golden), "--check").returncode == 0
    tampered = tmp_path / "t.txt"
    tampered.write_text(golden.read_text().replace("不满意按4，非常", "不满意按7，非常"))
    result = hcp("simulate", "x", "--script", str(tampered), "--check")
    assert result.returncode == 1 and "+< play ask_grade.prompt" in result.stdout


def test_interactive_session():
    result = hcp("simulate", "hotline-rating", "--lang", "yue",
                 stdin="9\n7\nhello\n2\n")
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "您的按键无效" in out  # a wrong key at ask_grade, in Mandarin after pressing 9
    assert "? type keys" in out
    assert "submit item grade=satisfied" in out and "== completed (completed)" in out


def test_interactive_sms_with_the_real_grammar():
    result = hcp("simulate", "sms-reminder", "--context", "item_name=社保卡补办",
                 "--context", "reply_code=C9", stdin="非常满意谢谢\n")
    assert "社保卡补办" in result.stdout
    assert "submit item grade=very_satisfied reasons=- assess=1 comment='谢谢'" in result.stdout


def test_lint_shipped_flows_clean_and_bad_flow_listed(tmp_path):
    result = hcp("lint", "--strict")
    assert result.returncode == 0 and result.stdout.count("clean") >= 3, result.stdout
    odd = tmp_path / "odd.yaml"
    odd.write_text("spec_version: 2\nid: odd\ntype: voice\nnodes:\n"
                   "  - {id: a, type: play, prompt: {zh: 请给个好评}}\n"
                   "  - {id: b, type: end}\n")
    result = hcp("lint", str(odd))
    assert result.returncode == 0
    assert "a: warning steering" in result.stdout and "b: warning unreachable" in result.stdout
    assert hcp("lint", "--strict", str(odd)).returncode == 1
