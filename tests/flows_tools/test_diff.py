"""The diff a supervisor reads before approving a change."""

from __future__ import annotations

from flows.diff import diff, marked
from flows.loader import load_text, shipped_paths

SOURCE = next(p for p in shipped_paths() if p.stem == "hotline_rating").read_text("utf-8")


def test_a_small_change_in_a_long_prompt_is_marked_in_place():
    old = "您好，感谢您致电12345政务服务便民热线。评价自愿，请按您的真实感受对本次服务作出评价。"
    new = old.replace("真实感受", "实际感受")
    assert marked(old, new) == "…价自愿，请按您的[-真-]实{+际+}感受对本次服务作…"
    assert marked("abc", "abc") == "abc"
    assert marked("", "新") == "{+新+}"


def test_diff_counts_marks_and_describes_new_nodes():
    changed = (SOURCE.replace("确认请按1，重新选择请按2。", "确认请按1，重新选择请按2，返回请按9。")
               .replace("  - id: not_rated\n",
                        "  - id: extra\n    type: end\n    prompt: goodbye\n\n"
                        "  - id: not_rated\n"))
    lines = diff(load_text(SOURCE), load_text(changed))
    text = "\n".join(lines)
    assert lines[1] == "  1 node(s) changed, 1 added, 0 removed"
    assert "  ~ …，重新选择请按2{+，返回请按9+}。" in text
    assert "node extra added (end)" in text
    assert "prompt (zh) (shared goodbye): '感谢您的来电，再见。'" in text
    assert "! no node leads here yet" in text


def test_a_removed_node_and_a_stale_recording_are_called_out():
    old = load_text(SOURCE.replace(
        "      en: Your rating has been recorded. Thank you, goodbye.",
        "      en: {text: Your rating has been recorded. Goodbye., audio: thanks.en.wav}"))
    new = load_text(SOURCE.replace(
        "      en: Your rating has been recorded. Thank you, goodbye.",
        "      en: {text: Your rating is recorded. Goodbye., audio: thanks.en.wav}")
        .replace("    cases: {duplicate: already_rated}\n", "    cases: {duplicate: not_saved}\n")
        .replace("  - id: already_rated\n", "  - id: gone_rated\n"))
    text = "\n".join(diff(old, new))
    assert "! prompt (en): recorded thanks.en.wav still says the old text: re-record it" in text
    assert "node already_rated removed (end; statistics of its id stop here)" in text


def test_a_setting_put_on_a_node_shows_the_default_it_replaces():
    changed = SOURCE.replace("    store: reasons\n    next: submit_item",
                             "    store: reasons\n    max_repeats: 2\n    next: submit_item", 1)
    text = "\n".join(diff(load_text(SOURCE), load_text(changed)))
    assert "node ask_reason (reasons):\n    max_repeats: 3 (default) → 2" in text
    back = "\n".join(diff(load_text(changed), load_text(SOURCE)))
    assert "max_repeats: 2 → 3 (default)" in back
