"""What an evaluation is: its target, channel, grade, evaluator and provenance.

Pure data with validation; no IO. Both channels and the HTTP API build an
``Evaluation`` and hand it to the intake; the submitter turns it back into
store records. JSON is the one wire form (Redis outbox, API, logs of ids).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import lru_cache

import phonenumbers

from ratings.grades import Grade


class InvalidEvaluation(ValueError):
    """An evaluation that must not be accepted; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TargetKind(str, Enum):
    ITEM = "item"  # one completed item (办件)
    BATCH = "batch"  # several items filed at once, rated once (seed art. 14)
    THEME = "theme"  # 主题式/一件事: overall rating for its linked items
    STAFF = "staff"  # a staff member, once per visit or call (seed art. 10, 14)
    CALL = "call"  # one hotline call (一次一评): not the item's one evaluation (art. 14)


# Record identity at the exchange (ratings.records.project_no): an item, batch or
# theme record is filed under the item id itself; a staff rating under
# "staff:<staff id>:<visit id>", a call under "call:<call id>". So no item id may
# start with these prefixes, and a staff id holds no ':' (the first ':' after the
# prefix ends it): three kinds of target can never share a projectNo.
DERIVED_PREFIXES = ("staff:", "call:")


# Identifiers (item, batch, theme, visit and call ids, linked items, staff ids, reason
# codes, source, flow and evaluation ids) become Redis key parts and the exchange's
# URL query values and headers: 1-200 characters, none of them a control character
# (U+0000-U+001F, U+007F-U+009F), a line or paragraph separator (U+2028/U+2029) or a
# surrogate. Any script, spaces and punctuation are fine. docs/openapi.yaml states
# the same pattern (a test compares).
IDENTIFIER_MAX_LEN = 200
IDENTIFIER_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ud800-\\udfff]{1,200}$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def check_identifier(field: str, value: object) -> None:
    """InvalidEvaluation(field) unless ``value`` is an identifier (see above)."""
    if not isinstance(value, str) or not value:
        raise InvalidEvaluation(field, "required")
    if len(value) > IDENTIFIER_MAX_LEN:
        raise InvalidEvaluation(field, f"longer than {IDENTIFIER_MAX_LEN} characters")
    if not _IDENTIFIER.fullmatch(value):  # fullmatch: "$" alone lets a final "\n" by
        raise InvalidEvaluation(field, "holds a control character, a line separator "
                                       "or a surrogate")


class Channel(str, Enum):
    HOTLINE = "hotline"  # keypad after a 12345 call
    SMS = "sms"  # reply to a reminder
    API = "api"  # any other system posting directly


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    id: str  # item id (projectNo), batch id, theme id, visit/call id for staff, call id
    items: tuple[str, ...] = ()  # batch: its items; theme: linked items
    staff_id: str | None = None  # staff: who is rated (proManager)

    def __post_init__(self):
        if not self.id or not isinstance(self.id, str):
            raise InvalidEvaluation("target.id", "required")
        if self.kind in (TargetKind.BATCH, TargetKind.THEME) and not self.items:
            raise InvalidEvaluation("target.items", f"a {self.kind.value} needs its items")
        if self.kind is TargetKind.STAFF and not self.staff_id:
            raise InvalidEvaluation("target.staff_id", "a staff rating names the staff member")
        if self.kind is TargetKind.STAFF and ":" in self.staff_id:
            raise InvalidEvaluation("target.staff_id", "a staff id holds no ':'")
        if any(not item or not isinstance(item, str) for item in self.items):
            raise InvalidEvaluation("target.items", "item ids are non-empty strings")
        item_ids = self.items + ((self.id,) if self.kind is TargetKind.ITEM else ())
        if any(item.startswith(DERIVED_PREFIXES) for item in item_ids):
            raise InvalidEvaluation("target.items" if self.items else "target.id",
                                    "an item id must not start with staff: or call:")
        if len(set(self.items)) != len(self.items):
            raise InvalidEvaluation("target.items", "items repeat")
        check_identifier("target.id", self.id)
        for item in self.items:
            check_identifier("target.items", item)
        if self.staff_id is not None:
            check_identifier("target.staff_id", self.staff_id)

    def record_items(self) -> tuple[str, ...]:
        """The item ids named by the target (one store record each at submission).

        For a theme the intake narrows this to the items not rated on their own:
        the submitter fans out to the outbox entry's ``covers``, not to this.
        """
        if self.kind in (TargetKind.ITEM, TargetKind.STAFF, TargetKind.CALL):
            return (self.id,)
        return self.items


@lru_cache(maxsize=4096)
def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 form of a phone number, or InvalidEvaluation('phone').

    Cached (phonenumbers costs ~30 us a parse; a hit ~0.2 us): channels see the
    same numbers again and again. Only this process's memory holds the cache;
    a refused number is not cached (the exception is raised afresh each time)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidEvaluation("phone", "not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidEvaluation("phone", "not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str | None) -> str:
    """138****5678: what a console or a log may show of a number."""
    if not e164:
        return ""
    national = e164[3:] if e164.startswith("+86") else e164.lstrip("+")
    if len(national) < 7:
        return "*" * len(national)
    return f"{national[:3]}****{national[-4:]}"


# What a phone number looks like in free text: an E.164 number, a Chinese mobile
# with or without +86 and separators, a landline with its 0xx area code, or any
# standalone run of 7-15 digits. Digits glued to letters (hex ids) are left alone.
_PHONE_IN_TEXT = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d[\d\s-]{6,18}\d"  # +8613812345678, +86 138 1234 5678
    r"|(?:86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}"  # 13812345678, 138-1234-5678
    r"|0\d{2,3}[\s-]\d{7,8}"  # 020-12345678
    r"|\d{7,15}"  # any other long digit run
    r")(?!\w)"
)
PHONE_MASK = "<phone>"


def mask_phones_in_text(text: str) -> str:
    """Text from elsewhere (a log message, a peer's error) with phone-like runs masked."""
    return _PHONE_IN_TEXT.sub(PHONE_MASK, text)


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# China's civil time (Asia/Shanghai): the day an evaluation counts for, the
# assessTime the exchange expects. No DST since 1991: a fixed offset is exact.
CHINA = timezone(timedelta(hours=8))


# Text the system wrote into ``comment`` (e.g. "no reason was chosen" after a hang-up
# in the reason menu) is flagged in the context by ``reason_missing`` (ivr, sms) or
# ``comment_by=system``; it is never sent as the citizen's own words: the record's
# writingEvaluation carries it behind this mark (ratings.records).
SYSTEM_COMMENT_MARK = "【系统记录，非评价人原话】"


@dataclass(frozen=True)
class Evaluation:
    target: Target
    channel: Channel
    grade: Grade
    assessed_at: datetime
    reasons: tuple[str, ...] = ()
    comment: str = ""
    phone: str | None = None  # E.164, set only through normalise_phone
    assess_number: int = 1  # 1 = first, 2 = follow-up (追加评价)
    flow_id: str | None = None
    flow_version: str | None = None
    source_id: str | None = None  # SIP Call-ID, SMS message id, API request id
    voice_comment: str | None = None  # reference to a recording in the data dir
    context: dict[str, str] = field(default_factory=dict)  # ticket, agent, task_code …
    id: str = field(default_factory=new_id)

    def __post_init__(self):
        if self.assess_number not in (1, 2):
            raise InvalidEvaluation("assess_number", "1 (first) or 2 (follow-up)")
        if any(not isinstance(r, str) or not r.strip() for r in self.reasons):
            raise InvalidEvaluation("reasons", "a reason code is a non-blank string")
        if self.grade.needs_reason and not (self.reasons or self.comment.strip()):
            raise InvalidEvaluation(
                "reasons", f"{self.grade.id} needs reason codes or a comment")
        if self.assessed_at.tzinfo is None:
            raise InvalidEvaluation("assessed_at", "needs a time zone")
        if len(self.comment) > 2000:
            raise InvalidEvaluation("comment", "longer than 2000 characters")
        check_identifier("id", self.id)
        for reason in self.reasons:
            check_identifier("reasons", reason)
        for name in ("source_id", "flow_id", "flow_version"):  # optional: blank is none
            if getattr(self, name):
                check_identifier(name, str(getattr(self, name)))

    @property
    def comment_by_system(self) -> bool:
        """The comment is the system's text, not the evaluator's words."""
        return bool(self.context.get("reason_missing")) or \
            self.context.get("comment_by") == "system"

    def with_id(self, new: str) -> Evaluation:
        return replace(self, id=new)

    # -- wire form -------------------------------------------------------
    def to_dict(self) -> dict:
        """The wire form: the fields in declaration order, enums as their values.
        Built field by field (``dataclasses.asdict`` deep-copies every value and cost
        ~15x as much on the HTTP path); tests/intake/test_wire_form.py holds it
        byte-identical to the ``asdict`` form."""
        t = self.target
        return {
            "target": {"kind": t.kind.value, "id": t.id, "items": list(t.items),
                       "staff_id": t.staff_id},
            "channel": self.channel.value,
            "grade": self.grade.id,
            "assessed_at": self.assessed_at.isoformat(),
            "reasons": list(self.reasons),
            "comment": self.comment,
            "phone": self.phone,
            "assess_number": self.assess_number,
            "flow_id": self.flow_id,
            "flow_version": self.flow_version,
            "source_id": self.source_id,
            "voice_comment": self.voice_comment,
            "context": dict(self.context),  # values are strings: a shallow copy is a copy
            "id": self.id,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        t = data["target"]
        return cls(
            id=data["id"],
            target=Target(TargetKind(t["kind"]), t["id"], tuple(t.get("items") or ()),
                          t.get("staff_id")),
            channel=Channel(data["channel"]),
            grade=Grade.from_id(data["grade"]),
            assessed_at=datetime.fromisoformat(data["assessed_at"]),
            reasons=tuple(data.get("reasons") or ()),
            comment=data.get("comment") or "",
            phone=data.get("phone"),
            assess_number=int(data.get("assess_number", 1)),
            flow_id=data.get("flow_id"),
            flow_version=data.get("flow_version"),
            source_id=data.get("source_id"),
            voice_comment=data.get("voice_comment"),
            context=dict(data.get("context") or {}),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Evaluation:
        return cls.from_dict(json.loads(text))
