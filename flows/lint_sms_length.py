"""Review check: an SMS a messaging flow sends on its own costs one segment.

A reminder or an invitation (a ``send_sms`` node: the text we send unasked) must fit
one UCS-2 segment, 70 UTF-16 units, with everything it carries: the signature 【…】,
the grade menu and the opt-out hint (TD退订). Two segments double the bill of every
reminder (issue 12: the old reminder was 85 characters). Placeholders are filled at
their largest: ``{item_name}`` at ``ITEM_NAME_BUDGET`` characters — the sender
(sms.texts) clips a longer name to that budget, so what lint measures is what is
sent — ``{reply_code}`` at 4, a grade key at 1.

Issues (warnings; ``hcp flows lint --strict`` fails on them):

  sms_not_one_segment   the text needs more than one segment at its largest
  sms_no_opt_out_hint   a text sent before the citizen has replied (a reminder, an
                        invitation) does not tell how to stop (回TD退订)

Segments are counted by ``sms.segments`` (the carrier's own rules), imported lazily
as flows/inspect.py does; the engine itself never imports it.
"""

from __future__ import annotations

import re

from flows.model import Flow

ITEM_NAME_BUDGET = 10  # characters of the item's name a reminder quotes (longer: clipped)
PLACEHOLDER_SIZES = {"item_name": ITEM_NAME_BUDGET, "reply_code": 4, "item_count": 1}
TWO_SEGMENTS = 2  # flows.inspect.SMS_SEGMENT_BUDGET: beyond it, its sms_too_long speaks
OPT_OUT_HINT = re.compile(r"TD\s*退订|退订回TD|回复?\s*TD")


def _largest(flow: Flow, text: str) -> str:
    def fill(m: re.Match) -> str:
        name = m.group(1)
        if name.startswith("key_"):
            return "1"
        if name == "signature":
            return flow.definition.get("signature", "")
        return "字" * PLACEHOLDER_SIZES.get(name, 6)
    return re.sub(r"\{([a-z_]+)\}", fill, text)


def _before_first_reply(flow: Flow) -> set[str]:
    """Nodes reached from the start without waiting for a reply: what we send unasked."""
    from flows.nodetypes import node_exits

    seen, todo = set(), [flow.start_node]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        if flow.nodes[node_id].get("type") != "wait_reply":
            todo += [target for _, target in node_exits(flow.nodes[node_id])]
    return seen


def sms_length_issues(flow: Flow) -> list:
    """Issues of every ``send_sms`` text of a messaging flow (empty for voice flows)."""
    from flows.inspect import Issue
    from sms.segments import count

    if flow.type != "messaging":
        return []
    out, unasked = [], _before_first_reply(flow)
    for node_id, node in flow.nodes.items():
        if node.get("type") != "send_sms":
            continue
        found = flow.prompt_variants(node, "text")
        for lang, variant in (found[1].items() if found else ()):
            text = variant if isinstance(variant, str) else variant["text"]
            info = count(_largest(flow, text))
            # past the two-segment budget flows.inspect already says sms_too_long
            if 1 < info.segments <= TWO_SEGMENTS:
                out.append(Issue(node_id, "sms_not_one_segment",
                                 f"text ({lang}): {info.units} UCS-2 units at its largest "
                                 f"({info.segments} segments); one segment is 70"))
            if node_id in unasked and not OPT_OUT_HINT.search(text):
                out.append(Issue(node_id, "sms_no_opt_out_hint",
                                 f"text ({lang}): no opt-out hint (回TD退订)"))
    return out
