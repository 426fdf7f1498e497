"""Inspection: review issues a supervisor should read before approving a flow.

Unlike validation (flows.validate), nothing here stops a flow from loading:
these are findings about its meaning — unreachable nodes, dead ends, a loop
with no way out, a grade that no input reaches, a bad grade that reaches a
submit without a reason, a menu with no exit for callers who press nothing,
a prompt missing in one of the flow's languages, a missing audio file, SMS
texts over their segment budget or without the signature 【…】, wording that
SMS template reviews reject, and prompts that steer toward a grade (seed art. 4).
Also: a keypad prompt that announces a key its menu does not have, or leaves an
option unannounced (``digit_conflict`` / ``key_not_announced``), and a recorded
file that is not a readable WAV (``bad_audio``).
Issues come sorted by node position in the file, then code.

SMS segments are counted by ``sms.segments`` (the sender's own rules), so the
lint and the carrier bill agree; this review module, unlike the engine, may
import it (docs/flows.md, "Layering note").
"""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass
from pathlib import Path

from flows.model import Flow
from flows.nodes import handler
from flows.nodetypes import NODE_TYPES, node_exits
from ratings.grades import Grade

SMS_SEGMENT_BUDGET = 2  # segments a reminder may cost
SAMPLE_CONTEXT_LENGTHS = {"item_name": 20, "reply_code": 4, "staff_id": 6}
REJECTED_WORDING = ("问卷调查", "调查问卷", "问卷")
STEERING = ("好评", "五星", "满分", "给个满意", "请给满意", "给予满意", "选择满意", "希望您满意",
            "期待您的满意", "不要差评", "请勿差评", "别给差评", "恳请", "辛苦给",
            # "no answer counts as satisfied": pressure by default (seed art. 4)
            "视为满意", "默认满意", "默认好评", "视为好评", "直接挂机即",
            "five stars", "please choose satisfied", "good rating", "counts as satisfied")
# "按1" / "按 1" / "press 1" / "撳1": a key announced in a keypad prompt
ANNOUNCED_KEY = re.compile(r"(?:按|撳|揿|拨|输入|press|dial|enter)\s*([0-9*#])", re.IGNORECASE)
WAITING_TYPES = {t for t, k in NODE_TYPES.items() if k.menu} | {"record", "wait_reply", "submit"}
TEXT_FIELDS = ("prompt", "no_input_prompt", "invalid_prompt", "text", "invalid_text")


@dataclass(frozen=True)
class Issue:
    node: str
    code: str
    message: str
    severity: str = "warning"  # warning | info

    def __str__(self) -> str:
        return f"{self.node}: {self.severity} {self.code}: {self.message}"


def reachable(flow: Flow, start: str | None = None) -> set[str]:
    seen, todo = set(), [start or flow.start_node]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        todo += [target for _, target in node_exits(flow.nodes[node_id])]
    return seen


def _texts(flow: Flow, node):
    """(field, lang, raw text, audio) of every text of a node."""
    for field in TEXT_FIELDS:
        found = flow.prompt_variants(node, field)
        if not found:
            continue
        for lang, variant in found[1].items():
            if isinstance(variant, str):
                yield field, lang, variant, None
            else:
                yield field, lang, variant["text"], variant.get("audio")


def _sample(flow: Flow, text: str) -> str:
    """A template with every placeholder replaced by a value of a typical length."""
    def fill(m):
        name = m.group(1)
        if name.startswith("key_") or name == "repeat_key":
            return "1"
        if name == "signature":
            return flow.definition.get("signature", "")
        return "字" * SAMPLE_CONTEXT_LENGTHS.get(name, 5)
    return re.sub(r"\{([a-z_]+)\}", fill, text)


def sms_segments(text: str) -> int:
    from sms.segments import count  # the sender's rules: GSM-7 / UCS-2, concatenation

    return count(text).segments


def _graph_issues(flow: Flow) -> list[Issue]:
    out, live = [], reachable(flow)
    for node_id, node in flow.nodes.items():
        if node_id not in live:
            out.append(Issue(node_id, "unreachable", "no path from the start leads here"))
            continue
        if node["type"] != "end" and not node_exits(node):
            out.append(Issue(node_id, "dead_end",
                             "the flow stops here without an end node (no goodbye)"))
        if not any(flow.nodes[n]["type"] == "end" or not node_exits(flow.nodes[n])
                   for n in reachable(flow, node_id)):
            out.append(Issue(node_id, "no_way_out", "every path from here loops forever"))
        if (NODE_TYPES[node["type"]].menu and node["type"] != "language"
                and not node.get("exhausted")):  # a language menu falls through to next
            out.append(Issue(node_id, "no_timeout_exit",
                             "callers who press nothing are cut off without a goodbye"))
    out += _loops_without_wait(flow)
    return out


def _loops_without_wait(flow: Flow) -> list[Issue]:
    out, done = [], set()

    def visit(node_id, stack):
        if node_id in stack:
            out.append(Issue(node_id, "loop_without_wait",
                             "a cycle of nodes that never waits: " + " → ".join(stack)))
            return
        node = flow.nodes.get(node_id)
        if node is None or node_id in done or node["type"] in WAITING_TYPES:
            return
        for _, target in node_exits(node):
            visit(target, stack + [node_id])
        done.add(node_id)

    for node_id in flow.nodes:
        visit(node_id, [])
    return out


def _reason_issues(flow: Flow) -> list[Issue]:
    """Walk (node, graded, maybe_bad, reasoned) states per target; a submit reached
    ungraded or with a possibly bad grade and no reason is an issue."""
    out = set()
    for target, grade_var, reasons_var in (("item", "grade", "reasons"),
                                           ("staff", "staff_grade", "staff_reasons")):
        seen, todo = set(), [(flow.start_node, False, False, False)]
        while todo:
            state = todo.pop()
            if state in seen or state[0] not in flow.nodes:
                continue
            seen.add(state)
            node_id, graded, bad, reasoned = state
            node = flow.nodes[node_id]
            if node["type"] == "submit" and node["target"] == target:
                if not graded:
                    out.add(Issue(node_id, "submit_without_grade", "a path reaches it with no "
                                  f"{grade_var}"))
                elif bad and not reasoned:
                    out.add(Issue(node_id, "bad_grade_without_reason", "a path brings "
                                  "不满意/非常不满意 here without reason codes or a comment"))
            for label, nxt in node_exits(node):
                todo.append((nxt, *_after(node, label, grade_var, reasons_var,
                                          graded, bad, reasoned)))
    return sorted(out, key=lambda i: i.node)


def _after(node, label, grade_var, reasons_var, graded, bad, reasoned):
    kind, chosen = node["type"], label not in ("exhausted", "timeout", "stop", "change")
    if chosen and (kind == "staff_rating" or (kind == "question" and node["mode"] == "grade")):
        if node.get("store", "staff_grade" if kind == "staff_rating" else "grade") == grade_var:
            return True, True, False
    if chosen and kind == "wait_reply" and node["expect"] == "grade":
        if node.get("store", "grade") == grade_var:
            return True, True, False
    if chosen and kind in ("reasons", "wait_reply") and node.get("store", "reasons") == reasons_var:
        if kind == "reasons" or node["expect"] == "reasons":
            return graded, bad, True
    if kind == "reasons" and label == "exhausted" and node.get("store", "reasons") == reasons_var:
        return graded, bad, True  # no choice: the engine marks the reason missing for the submit
    if kind == "branch":
        switch, case = node["switch"], label.removeprefix("case ")
        if switch == f"{grade_var}.needs_reason" and case == "false":
            return graded, False, reasoned
        if switch == "has_reason" and case == "true" and grade_var == "grade":
            return graded, bad, True
    return graded, bad, reasoned


def _text_issues(flow: Flow) -> list[Issue]:
    out, languages = [], flow.languages
    base = Path(flow.base_dir) if flow.base_dir else None
    for node_id, node in flow.nodes.items():
        for field in TEXT_FIELDS:
            found = flow.prompt_variants(node, field)
            if found:
                missing = [lang for lang in languages if lang not in found[1]]
                if missing:
                    out.append(Issue(node_id, "missing_translation",
                                     f"{field} has no {', '.join(missing)} text"))
        for field, lang, text, audio in _texts(flow, node):
            where = f"{field} ({lang})"
            if audio and base is not None:
                out += _audio_issues(node_id, where, base / audio, audio)
            for word in REJECTED_WORDING:
                if word in text:
                    out.append(Issue(node_id, "rejected_wording",
                                     f"{where}: SMS template reviews reject {word!r}"))
                    break
            for word in STEERING:
                if word.lower() in text.lower():
                    out.append(Issue(node_id, "steering", f"{where}: {word!r} leans toward a "
                                     "grade (seed art. 4: voluntary and genuine)"))
            out += _grade_menu_issues(node, node_id, where, text)
            if field == "prompt" and flow.type == "voice":
                out += _announced_key_issues(flow, node, where, text)
            if flow.type == "messaging":
                sample = _sample(flow, text)
                if sms_segments(sample) > SMS_SEGMENT_BUDGET:
                    out.append(Issue(node_id, "sms_too_long", f"{where}: about {len(sample)} "
                                     f"characters, {sms_segments(sample)} segments > "
                                     f"{SMS_SEGMENT_BUDGET}"))
                if not re.match(r"^【[^】]+】", sample):
                    out.append(Issue(node_id, "sms_no_signature",
                                     f"{where}: does not start with a signature 【…】"))
    return out


def _grade_menu_issues(node, node_id, where, text) -> list[Issue]:
    """A text that offers keys for grades must offer all five, in scale order."""
    first, last = list(Grade)[0], list(Grade)[-1]
    if re.search(rf"\{{key_{first.id}\}}\s*(至|到|-|~|to)\s*\{{key_{last.id}\}}", text):
        return []  # a range, "1至5": every grade is offered
    offered = [g for g in Grade if f"{{key_{g.id}}}" in text]
    grade_prompt = node["type"] in ("staff_rating",) or node.get("mode") == "grade"
    if not offered and not (grade_prompt and where.startswith("prompt")):
        return []
    if len(offered) < len(Grade):
        missing = [g.name_zh for g in Grade if g not in offered]
        return [Issue(node_id, "grade_not_offered", f"{where}: no key offered for "
                      f"{'、'.join(missing)} (use {{key_<grade id>}})")]
    positions = [text.index(f"{{key_{g.id}}}") for g in Grade]
    if positions != sorted(positions):
        return [Issue(node_id, "grade_order", f"{where}: grades not in scale order")]
    return []


def _audio_issues(node_id, where, path: Path, audio: str) -> list[Issue]:
    if not path.exists():
        return [Issue(node_id, "missing_audio", f"{where}: {audio} not found")]
    try:
        with wave.open(str(path)) as w:
            if w.getnframes() == 0:
                return [Issue(node_id, "bad_audio", f"{where}: {audio} holds no sound")]
    except (wave.Error, EOFError, OSError) as exc:
        return [Issue(node_id, "bad_audio", f"{where}: {audio} is not a PCM WAV ({exc})")]
    return []


def _announced_key_issues(flow: Flow, node, where: str, text: str) -> list[Issue]:
    """A keypad prompt must announce exactly the keys its menu takes.

    Grade keys come from ``{key_<grade>}`` (checked by grade_not_offered); here the
    literal digits of choice, confirm, reason and language menus are compared with
    the engine's own table (``handler(node).options``)."""
    if not NODE_TYPES[node["type"]].menu or (
            node["type"] in ("question", "staff_rating") and node.get("mode", "grade") == "grade"):
        return []
    keys = set(handler(node).options(None, node))  # options() reads only the node
    repeat = flow.setting(node, "repeat_key")
    filled = text.replace("{repeat_key}", repeat or "")
    announced = set(ANNOUNCED_KEY.findall(filled))
    out = []
    for key in sorted(announced - keys - {repeat}):
        out.append(Issue(node["id"], "digit_conflict", f"{where}: announces key {key}, "
                         f"which this menu does not take (keys {', '.join(sorted(keys))})"))
    for key in sorted(keys - announced):
        out.append(Issue(node["id"], "key_not_announced",
                         f"{where}: key {key} is an option but the prompt never says so"))
    return out


def inspect(flow: Flow) -> list[Issue]:
    order = {node_id: i for i, node_id in enumerate(flow.nodes)}
    from flows.lint_sms_length import sms_length_issues  # one SMS segment (issue 12)

    issues = set(_graph_issues(flow) + _reason_issues(flow) + _text_issues(flow)
                 + sms_length_issues(flow))
    return sorted(issues, key=lambda i: (order.get(i.node, -1), i.code, i.message))
