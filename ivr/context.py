"""Call context: which ticket (办件/工单), agent, service and language a call is about.

Two ways in, both configurable:

1. From the raw INVITE: ``X-`` headers mapped to context names, and the
   ``User-to-User`` header (RFC 7433: ``<hex or text>;encoding=hex``; without an
   ``encoding`` parameter the value is hex, as RFC 7433 says). The UUI payload
   is ``key=value`` pairs separated by ``;``, ``&`` or ``,`` (an ISDN protocol
   discriminator byte 0x04 in front is skipped); a payload without ``=`` is
   taken as the value of ``uui_bare_key`` (the ticket by default).
2. Posted before the transfer (``POST /v1/calls/context``, see
   ``ivr.context_api``) under a correlation id the INVITE carries in a mapped
   header or the UUI; the worker reads it from Redis (short TTL).

The posted context is the call-centre system's own record, so it wins for the
fields it has; the INVITE fills the rest.
A call with no ticket is still rated; ``context_missing`` says so. The call's own
id (``X-Call-Record-Id`` / ``X-Work-Order``, UUI ``call_record`` / ``work_order``)
names the call's record at the exchange; ``X-Closes-Item: true`` (UUI
``closes_item=true``) says this call completes the ticket's item (ivr.outcome).

Language: ``X-Language`` (or ``X-Lang``, UUI ``lang``, the posted ``lang``) in any
common spelling (zh, zh-CN, cmn, 普通话 → zh; yue, zh-HK, 粤语 → yue; en-* → en),
else the dialled number's language (``dialled_lang``: Request-URI user → lang),
else ``default_lang`` of the trunk's mapping, else nothing: the flow's default
(Mandarin) speaks. Unknown values are dropped, never guessed.

Identifiers: a value of ``agent``/``staff_id``, ``call_record``/``work_order`` or
``ticket`` that looks like a phone number (the privacy masker's rule, or a Chinese
mobile inside it) is refused — not kept, logged masked, ``agent_refused`` /
``call_record_refused`` / ``ticket_refused`` = ``phone_like`` in the context — so a
citizen's number never becomes a staff id, a record's projectNo or part of a Redis
key (issue 11; seed art. 4). A call without its record id is named from its Call-ID
(``HL`` + a UUID5), which is never a key as it came.
"""

from __future__ import annotations

import binascii
import logging
import re
from dataclasses import dataclass, field

from ratings.model import mask_phone, mask_phones_in_text

TICKET = "ticket"
AGENT = "agent"
CORRELATION = "correlation_id"
LANG = "lang"
# The call's own id at the call centre (its call record or work order): what a
# rating of the call is filed under; and whether this call closes the ticket's item
# (only then is the call's rating the item's one evaluation, seed art. 14).
CALL_RECORD = "call_record"
WORK_ORDER = "work_order"
CLOSES_ITEM = "closes_item"
AGENT_KEYS = (AGENT, "staff_id")
# identifiers that become record ids or Redis keys, and the flag a refusal sets
_ID_FLAGS = {AGENT: "agent_refused", "staff_id": "agent_refused",
             CALL_RECORD: "call_record_refused", WORK_ORDER: "call_record_refused",
             TICKET: "ticket_refused"}

log = logging.getLogger("hcp.ivr.context")

# spellings a PBX or CRM sends → the flows' language codes
LANGUAGES = {
    "zh": "zh", "cmn": "zh", "zh-cn": "zh", "zh-hans": "zh", "mandarin": "zh",
    "putonghua": "zh", "普通话": "zh", "国语": "zh", "中文": "zh",
    "yue": "yue", "zh-hk": "yue", "zh-yue": "yue", "yue-hk": "yue",
    "cantonese": "yue", "粤语": "yue", "广东话": "yue", "廣東話": "yue",
    "en": "en", "eng": "en", "english": "en", "英语": "en",
}
_MOBILE_INSIDE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")

_HEADER_LINE = re.compile(r"^([A-Za-z0-9!%*_+`'~.-]+)\s*:\s*(.*)$")
_COMPACT = {"i": "call-id", "f": "from", "t": "to", "m": "contact", "c": "content-type",
            "l": "content-length", "v": "via"}
_SAFE_VALUE = re.compile(r"^[\w.:/@+-]{1,128}$")


@dataclass
class ContextMapping:
    headers: dict[str, str] = field(default_factory=lambda: {
        "x-ticket-id": TICKET, "x-agent-id": AGENT, "x-service-code": "service",
        "x-lang": LANG, "x-language": LANG, "x-correlation-id": CORRELATION,
        "x-call-record-id": CALL_RECORD, "x-work-order": WORK_ORDER,
        "x-closes-item": CLOSES_ITEM,
    })
    uui: bool = True
    uui_keys: dict[str, str] = field(default_factory=lambda: {
        "ticket": TICKET, "t": TICKET, "agent": AGENT, "a": AGENT, "service": "service",
        "lang": "lang", "cid": CORRELATION, "correlation_id": CORRELATION,
        "call_record": CALL_RECORD, "work_order": WORK_ORDER, "closes_item": CLOSES_ITEM,
    })
    uui_bare_key: str = TICKET
    default_lang: str | None = None  # the trunk's language when the INVITE names none
    dialled_lang: dict[str, str] = field(default_factory=dict)  # Request-URI user → lang

    @classmethod
    def from_dict(cls, data: dict) -> ContextMapping:
        m = cls()
        if "headers" in data:
            m.headers = {k.lower(): v for k, v in data["headers"].items()}
        if "uui_keys" in data:
            m.uui_keys = {k.lower(): v for k, v in data["uui_keys"].items()}
        m.uui = bool(data.get("uui", m.uui))
        m.uui_bare_key = data.get("uui_bare_key", m.uui_bare_key)
        m.default_lang = normalise_lang(data.get("default_lang")) or m.default_lang
        m.dialled_lang = {str(k): lang for k, v in (data.get("dialled_lang") or {}).items()
                          if (lang := normalise_lang(v))}
        return m


def sip_headers(raw: str) -> dict[str, list[str]]:
    """Header name (lower case, compact forms expanded) -> values, from a raw message."""
    head = raw.replace("\r\n", "\n").split("\n\n", 1)[0]
    lines = head.split("\n")[1:]  # skip the request line
    out: dict[str, list[str]] = {}
    last = None
    for line in lines:
        if line[:1] in (" ", "\t") and last:  # folded continuation
            out[last][-1] += " " + line.strip()
            continue
        match = _HEADER_LINE.match(line)
        if not match:
            continue
        name = match.group(1).lower()
        name = _COMPACT.get(name, name)
        out.setdefault(name, []).append(match.group(2).strip())
        last = name
    return out


def decode_uui(value: str) -> str | None:
    """The text payload of one User-to-User header value, or None if undecodable."""
    parts = [p.strip() for p in value.split(";")]
    data, params = parts[0].strip('"'), {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"').lower()
    encoding = params.get("encoding", "hex")
    if encoding == "hex":
        try:
            raw = binascii.unhexlify(data)
        except (binascii.Error, ValueError):
            return None
        if raw[:1] == b"\x04":  # ISDN UUI protocol discriminator: IA5 characters
            raw = raw[1:]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return data


def parse_uui_payload(text: str, mapping: ContextMapping) -> dict[str, str]:
    text = text.strip().strip("\x00")
    if "=" not in text:
        return {mapping.uui_bare_key: text} if text else {}
    out = {}
    for pair in re.split(r"[;&,]", text):
        if "=" not in pair:
            continue
        key, value = (s.strip() for s in pair.split("=", 1))
        name = mapping.uui_keys.get(key.lower())
        if name and value:
            out[name] = value
    return out


def normalise_lang(value) -> str | None:
    """zh / yue / en for the usual spellings of a language; None for anything else."""
    if not value:
        return None
    text = str(value).strip().lower().replace("_", "-")
    if text in LANGUAGES:
        return LANGUAGES[text]
    return "en" if text.startswith("en-") else None


def looks_like_phone(value: str) -> bool:
    """A phone number, or an id with a Chinese mobile inside (the masker's rule)."""
    return mask_phones_in_text(value) != value or bool(_MOBILE_INSIDE.search(value))


def refuse_phone_ids(ctx: dict[str, str]) -> dict[str, str]:
    """Drop identifiers that look like phone numbers (logged masked, flagged)."""
    for key, flag in _ID_FLAGS.items():
        value = ctx.get(key)
        if value and looks_like_phone(value):
            del ctx[key]
            ctx[flag] = "phone_like"
            digits = re.sub(r"[^\d+]", "", value)
            log.warning("call context: %s refused, it looks like a phone number (%s)", key,
                        mask_phone(digits) if len(digits) >= 7 else "***")
    return ctx


def _dialled(raw: str) -> str | None:
    """The user part of the Request-URI (the number the caller dialled)."""
    line = raw.replace("\r\n", "\n").split("\n", 1)[0]
    m = re.match(r"^\w+\s+(?:sips?|tel):([^@;>\s]+)", line)
    return m.group(1) if m else None


def context_from_invite(raw: str, mapping: ContextMapping) -> dict[str, str]:
    """Context values found in the INVITE (unsafe values are dropped)."""
    headers = sip_headers(raw)
    ctx: dict[str, str] = {}
    if mapping.uui:
        for value in headers.get("user-to-user", []):
            text = decode_uui(value)
            if text:
                ctx.update(parse_uui_payload(text, mapping))
    for header, name in mapping.headers.items():
        values = headers.get(header.lower())
        if values:
            ctx[name] = values[0]
    ctx = {k: v for k, v in ctx.items() if _SAFE_VALUE.match(v)}
    lang = normalise_lang(ctx.pop(LANG, None))
    if lang is None and mapping.dialled_lang:
        lang = mapping.dialled_lang.get(_dialled(raw) or "")
    lang = lang or mapping.default_lang
    if lang:
        ctx[LANG] = lang
    return refuse_phone_ids(ctx)


def merge_context(from_invite: dict[str, str], posted: dict[str, str] | None) -> dict[str, str]:
    """Posted context wins; the INVITE fills the rest; flags what is missing."""
    ctx = dict(from_invite)
    posted = dict(posted or {})
    if LANG in posted:  # a posted language in another spelling, or none we speak
        lang = normalise_lang(posted.pop(LANG))
        if lang:
            posted[LANG] = lang
    ctx.update(posted)
    refuse_phone_ids(ctx)
    if not ctx.get(TICKET):
        ctx["context_missing"] = "true"
    return ctx
