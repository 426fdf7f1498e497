"""The SMS reply grammar: what a citizen's reply to a 好差评 reminder means.

Pure: no IO, no Redis, no clock. ``parse(text)`` returns a ``ParsedReply``.

Theory of operation
-------------------
1. Fold (sms.grammar_normalise): NFKC (full-width → half-width), traditional →
   simplified (OpenCC), ASCII upper case; each folded character remembers its
   original position so the comment is cut from what the citizen wrote.
2. Cut (sms.grammar_lexer): longest keyword first, so 不满意 is one token and never
   contains a 满意 token.
3. Give each token a role in its place. A reply is ``head · comment · tail``: the
   head and the tail are runs of rating tokens (codes, digits, grade words, fillers,
   separators) at the start and the end; the comment is what lies between. Digits
   and codes count only in the head or the tail (a "2" inside "等了2小时" is text);
   grade words count anywhere, unless negated in their clause (没让我满意).
4. Decide without guessing: two different grades, a digit off the scale, "12", a
   score or star number (5分, 五星), a negated grade word, several codes, or a code
   that is not pending → ambiguous/unknown and no grade.

A bare digit is read on the convention's scale, only through ``Grade``'s own
conversions (DESIGN.md: keypad, exchange and GB/T codes are different scales).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import Enum

import unicodedata

from ratings.grades import Grade, UnknownGrade
from sms import grammar_frames as frames
from sms import grammar_lexicon as lex
from sms.grammar_fast import FastPath
from sms.grammar_convention import (
    DEFAULT,
    LETTER_CODES,
    NUMERIC_CODES,
    REASON_CODES,
    REASON_LABELS_ZH,
    DigitScale,
    ReplyConvention,
)
from sms.grammar_lexer import Tok, Token, tokenize
from sms.grammar_normalise import Folded, fold
from sms.grammar_roles import BEARING, TEXT_LIKE, Role, assign_roles


__all__ = [
    "DEFAULT", "LETTER_CODES", "NUMERIC_CODES", "REASON_CODES", "REASON_LABELS_ZH",
    "DigitScale", "Intent", "ParsedReply", "ReplyConvention", "parse",
]


class Intent(str, Enum):
    RATING = "rating"
    REASON = "reason"  # an answer to "why?" after a bad grade (flow context)
    FOLLOW_UP = "follow_up"  # 追加评价 (seed art. 14)
    OPT_OUT = "opt_out"  # TD, 退订 … (never send again)
    HELP = "help"  # ?, 帮助
    UNKNOWN = "unknown"  # no rating in it
    AMBIGUOUS = "ambiguous"  # could be a rating, but which one is not certain


# Why a reply was not rated (ParsedReply.detail), for the conversation's answer.
CONFLICT = "conflict"  # two different grades (满意 不满意, 1或2)
OUT_OF_RANGE = "out_of_range"  # a digit that is no grade on the scale (0, 7)
MULTI_DIGIT = "multi_digit"  # a number of several digits that is no code (12)
SCORE_SCALE = "score_scale"  # 5分, 五星: a score or star scale, not the reply digits
NEGATED = "negated"  # a negated grade word (没让我满意, 没有不满意, 满意个屁)
QUESTION = "question"  # a grade word asked about (满意吗)
STRAY_DIGIT = "stray_digit"  # a lone digit inside the comment (5 其实想选4)
SEVERAL_CODES = "several_codes"
UNKNOWN_CODE = "unknown_code"  # not one of the pending codes
MALFORMED_CODE = "malformed_code"  # letters and digits that are no code (AA3)
VAGUE = "vague"  # an opinion that is no grade (还行, 一般)
SCALE_DOUBT = "scale_doubt"  # a digit whose comment says the opposite (1 态度太差)
NO_RATING = "no_rating"
SARCASM = frames.SARCASM  # 满意个鬼, 可太满意了呵呵
NOT_OWN = frames.NOT_OWN  # 你们自己满意吧: someone else's satisfaction
PRESSURE = frames.PRESSURE  # 窗口的人叫我回满意: flagged (seed art. 4), never a grade
MIXED = "mixed"  # 👍 with other emoji or words: only 👍/👎 alone are a grade



@dataclass(frozen=True)
class ParsedReply:
    intent: Intent
    grade: Grade | None = None  # never a bare digit
    code: str | None = None  # the reply code of a pending item, folded (A3)
    reasons: tuple[str, ...] = ()  # reason codes, e.g. ("efficiency", "attitude")
    comment: str = ""  # free text around the rating, as the citizen wrote it
    detail: str = ""  # why it is ambiguous/unknown (module constants), else ""
    # A rating (or reason) that also asked to stop: record it, then opt out.
    opt_out: bool = False
    # Reported pressure (seed art. 4): no grade; a supervisor must see the reply.
    flagged: bool = False

    def to_json(self) -> dict:
        return {"intent": self.intent.value,
                "grade": self.grade.id if self.grade else None,
                "code": self.code, "reasons": list(self.reasons),
                "comment": self.comment, "detail": self.detail,
                "opt_out": self.opt_out or self.intent is Intent.OPT_OUT,
                "flagged": self.flagged}

    @classmethod
    def from_json(cls, data: dict) -> ParsedReply:
        grade = data.get("grade")
        intent = Intent(data["intent"])
        return cls(intent, Grade.from_id(grade) if grade else None,
                   data.get("code"), tuple(data.get("reasons") or ()),
                   data.get("comment") or "", data.get("detail") or "",
                   bool(data.get("opt_out")) and intent is not Intent.OPT_OUT,
                   bool(data.get("flagged")))


@dataclass(frozen=True)
class _Reading:
    """A reply cut into tokens with their roles, and where its rating runs are."""

    folded: Folded
    tokens: list[Token]
    roles: list[Role]
    edges: list[int]  # token indices in the head or the tail
    middle: range  # token indices of the comment
    code: str | None
    comment: str  # the citizen's words between head and tail
    whole: str  # the whole reply: the comment of a reply that is not rated
    codes: tuple[str, ...] = ()  # every code in the head or the tail


def parse(text: str, convention: ReplyConvention = DEFAULT, *,
          expecting_reason: bool = False,
          pending_codes: Collection[str] | None = None) -> ParsedReply:
    """What one SMS reply means.

    ``expecting_reason``: the flow just asked why (after a bad grade); digits are then
    reason-menu numbers. ``pending_codes``: the citizen's pending reply codes, if the
    caller knows them; any other code gives UNKNOWN (``detail="unknown_code"``).
    Bare digits and short words are answered from ``sms.grammar_fast`` (the full
    grammar's own answers, kept); the rest is read by ``parse_full``.
    """
    return _FAST.parse(text, convention, expecting_reason, pending_codes)


def parse_full(text: str, convention: ReplyConvention = DEFAULT, *,
               expecting_reason: bool = False,
               pending_codes: Collection[str] | None = None) -> ParsedReply:
    """``parse`` without the fast path: every reply through the whole grammar."""
    folded = fold(text or "")
    tokens = tokenize(folded.text)
    roles = assign_roles(folded.text, tokens, convention, expecting_reason)
    r = _read(folded, tokens, roles, text)
    if _is_help_only(folded.text, roles):
        return ParsedReply(Intent.HELP, code=r.code)
    if _is_opt_out(r):
        # A command to stop, perhaps with a rating: the rating is recorded, then the
        # number opted out; anything unclear besides the command is dropped.
        quiet = [Role.NEUTRAL if role in (Role.OPT_OUT, Role.OPT_OUT_ALONE) else role
                 for role in roles]
        rest = _decide(_read(folded, tokens, quiet, text), convention, expecting_reason,
                       pending_codes)
        if rest.grade is not None or rest.intent is Intent.REASON:
            return replace(rest, opt_out=True)
        return ParsedReply(Intent.OPT_OUT, code=r.code, comment=r.whole)
    return _decide(r, convention, expecting_reason, pending_codes)


_FAST = FastPath(parse_full)


def _read(folded: Folded, tokens: list[Token], roles: list[Role], text: str) -> _Reading:
    head_end, tail_start = _rating_edges(roles)
    edges = [k for k in range(len(tokens)) if k < head_end or k >= tail_start]
    codes = list(dict.fromkeys(tokens[k].text for k in edges if roles[k] is Role.CODE))
    code = codes[0] if len(codes) == 1 else None
    return _Reading(folded, tokens, roles, edges, range(head_end, tail_start), code,
                    _comment(folded, tokens, roles, head_end, tail_start), (text or "").strip(),
                    tuple(codes))


def _decide(r: _Reading, convention: ReplyConvention, expecting_reason: bool,
            pending_codes: Collection[str] | None) -> ParsedReply:
    codes, code, roles = r.codes, r.code, r.roles
    if len(codes) > 1:
        return ParsedReply(Intent.AMBIGUOUS, comment=r.whole, detail=SEVERAL_CODES)
    if code is not None and pending_codes is not None:
        if code not in {fold(c).text.strip() for c in pending_codes}:
            return ParsedReply(Intent.UNKNOWN, code=code, comment=r.whole, detail=UNKNOWN_CODE)
    if any(roles[k] is Role.BADCODE for k in r.edges):
        return ParsedReply(Intent.AMBIGUOUS, code=code, comment=r.whole, detail=MALFORMED_CODE)
    if expecting_reason:
        return _reason(r, convention)
    rated = _rating(r, convention)
    frame = frames.reply_frame(r.folded.text)
    if frame == PRESSURE:
        return ParsedReply(Intent.AMBIGUOUS, code=r.code, comment=r.whole, detail=PRESSURE,
                           flagged=True)
    if frame and rated.grade is not None:
        return ParsedReply(Intent.AMBIGUOUS, code=r.code, comment=r.whole, detail=frame)
    return rated


def _rating(r: _Reading, convention: ReplyConvention) -> ParsedReply:
    tokens, roles = r.tokens, r.roles
    grades: list[Grade] = []  # what digits and grade words say
    sides: list[frozenset[Grade]] = []  # what 好评/差评/👍/👎 allow
    problem = ""
    only_digits = True
    for k in r.edges:
        role = roles[k]
        if role is Role.DIGIT:
            grade = convention.digit_scale.grade(_digit_of(tokens[k]))
            if grade is None:
                problem = problem or OUT_OF_RANGE
            else:
                grades.append(grade)
        elif role is Role.MULTI:
            problem = problem or MULTI_DIGIT
        elif role is Role.SCALE:
            score = _seed_score(tokens[k])
            if score is None:
                problem = problem or SCORE_SCALE
            else:
                grades.append(score)
                only_digits = False
    for k, role in enumerate(roles):
        if role is Role.GRADE:
            only_digits = False
            tok = tokens[k]
            problem = problem or frames.grade_frame(r.folded.text, tok.start, tok.end)
            side = lex.POLARITY_WORDS.get(tokens[k].text)
            if side is None:
                grades.append(tokens[k].grade)
            else:
                sides.append(side)
        elif role in _PROBLEM_ROLES:
            problem = problem or _PROBLEM_ANYWHERE[role]
    if any(roles[k] in (Role.STRAY, Role.DIGIT) for k in r.middle):
        problem = problem or STRAY_DIGIT
    distinct = set(grades)
    if not distinct and sides:  # only 好评/👍…: the milder grade of that side
        distinct = {_milder(side) for side in sides}
        if not _only_polarity_emoji(r) and all(
                tokens[k].text in lex.POLARITY_EMOJI for k, role in enumerate(roles)
                if role is Role.GRADE):
            problem = problem or MIXED  # 👍 with other emoji or words: ask
    if len(distinct) > 1 or (distinct and any(not distinct <= side for side in sides)):
        problem = problem or CONFLICT
    if distinct and not next(iter(distinct)).is_bad and _sounds_bad(r.folded.text):
        problem = problem or CONFLICT  # a bad word anywhere (不满意度) vetoes a good grade
    if len(distinct) == 1 and only_digits and _says_the_opposite(r, next(iter(distinct))):
        problem = problem or SCALE_DOUBT
    follow_up = Role.FOLLOW in roles
    if problem:
        return ParsedReply(Intent.AMBIGUOUS, code=r.code, comment=r.whole, detail=problem)
    if distinct:
        intent = Intent.FOLLOW_UP if follow_up else Intent.RATING
        return ParsedReply(intent, grade=distinct.pop(), code=r.code, comment=r.comment)
    if Role.VAGUE in roles:
        return ParsedReply(Intent.AMBIGUOUS, code=r.code, comment=r.whole, detail=VAGUE)
    if follow_up:
        return ParsedReply(Intent.FOLLOW_UP, code=r.code, comment=r.comment)
    return ParsedReply(Intent.UNKNOWN, code=r.code, comment=r.whole, detail=NO_RATING)


_PROBLEM_ANYWHERE = {
    Role.NEGATED: NEGATED,
    Role.QUESTION: QUESTION,
    Role.UNCLEAR: CONFLICT,  # 办好满意
    Role.OPT_OUT_ALONE: CONFLICT,  # T or R next to something else
}
_PROBLEM_ROLES = tuple(_PROBLEM_ANYWHERE)


def _says_the_opposite(r: _Reading, grade: Grade) -> bool:
    """The comment's words are all on the other side of a digit's grade: the citizen may
    have meant another scale (stars, where 5 is best). Only ever un-rates a reply."""
    if not r.middle or grade is Grade.BASICALLY_SATISFIED:
        return False
    said = r.folded.text[r.tokens[r.middle.start].start:r.tokens[r.middle.stop - 1].end]
    for word in lex.SENTIMENT_NOT:
        said = said.replace(word, "")
    negative = False
    for word in lex.SENTIMENT_NEGATIVE:  # longest phrases first: 不是很好 before 很好
        if word in said:
            negative = True
            said = said.replace(word, " ")
    positive = any(word in said for word in lex.SENTIMENT_POSITIVE)
    return (negative and not positive) if not grade.is_bad else (positive and not negative)


def _sounds_bad(text: str) -> bool:
    """A bad grade word or a negated 满 anywhere: the last line of defence against
    reading 不满意 as 满意, checked on the text (spaces removed), not on the tokens."""
    squeezed = "".join(text.split())
    for word in lex.NOT_NEGATIONS:
        squeezed = squeezed.replace(word, "")
    return (any(word in squeezed for word in lex.BAD_SUBSTRINGS)
            or lex.NEGATOR_NEAR_MAN.search(squeezed) is not None)


def _seed_score(token: Token) -> Grade | None:
    """"8分", "打10分", "零分": the seed's own scores (art. 9: 10/8/6/3/0) are grades
    through ``Grade.from_score``; any other score (9分, 七分, 5星) is not."""
    number = token.text[:-1] if token.text.endswith("分") else ""
    if len(number) == 1 and number in lex.NUMERALS:
        number = lex.NUMERALS[number]
    if not number.isdigit() or not number.isascii() or str(int(number)) != number:
        return None
    try:
        return Grade.from_score(int(number))
    except UnknownGrade:
        return None


def _only_polarity_emoji(r: _Reading) -> bool:
    """The reply is 👍 or 👎 (repeated, skin-toned, perhaps with a reply code) and
    nothing else but spaces, punctuation and symbols that are no emoji."""
    for token, role in zip(r.tokens, r.roles, strict=True):
        if (role is Role.GRADE and token.text in lex.POLARITY_EMOJI) or role is Role.CODE:
            continue
        if token.tok is Tok.SEP and all(
                unicodedata.category(ch) != "So" or "\U0001F3FB" <= ch <= "\U0001F3FF"
                for ch in token.text):
            continue
        return False
    return True


def _milder(side: frozenset[Grade]) -> Grade:
    """好评 alone is 满意, 差评 alone is 不满意: the grade nearer the middle."""
    return min(side, key=lambda grade: abs(grade.score - Grade.BASICALLY_SATISFIED.score))


def _reason(r: _Reading, convention: ReplyConvention) -> ParsedReply:
    reasons: list[str] = []
    for k in r.edges:
        if r.roles[k] in (Role.DIGIT, Role.MULTI):
            for digit in _digits_of(r.tokens[k]):
                reason = convention.reason_for_digit(digit)
                if reason is None:
                    return ParsedReply(Intent.AMBIGUOUS, code=r.code, comment=r.whole,
                                       detail=OUT_OF_RANGE)
                reasons.append(reason)
    if r.middle:
        said = r.folded.text[r.tokens[r.middle.start].start:r.tokens[r.middle.stop - 1].end]
        for reason, words in lex.REASON_WORDS.items():
            if reason in convention.reason_menu and any(w in said for w in words):
                reasons.append(reason)
    reasons = list(dict.fromkeys(reasons))
    if not reasons and not r.comment:
        return ParsedReply(Intent.UNKNOWN, code=r.code, detail=NO_RATING)
    return ParsedReply(Intent.REASON, code=r.code, reasons=tuple(reasons), comment=r.comment)


def _digit_of(token: Token) -> str:
    return lex.NUMERALS.get(token.text, token.text)


def _digits_of(token: Token) -> list[str]:
    return [lex.NUMERALS.get(ch, ch) for ch in token.text]


def _rating_edges(roles: list[Role]) -> tuple[int, int]:
    """[0, head_end) and [tail_start, n): the rating runs at both ends of the reply."""
    head_end = 0
    for k, role in enumerate(roles):
        if role in TEXT_LIKE:
            break
        if role in BEARING:
            head_end = k + 1
    tail_start = len(roles)
    for k in range(len(roles) - 1, head_end - 1, -1):
        if roles[k] in TEXT_LIKE:
            break
        if roles[k] in BEARING:
            tail_start = k
    return head_end, tail_start


def _comment(folded: Folded, tokens: list[Token], roles: list[Role],
             head_end: int, tail_start: int) -> str:
    start, stop = head_end, tail_start
    while start < stop and _trimmable(tokens[start], roles[start]):
        start += 1
    while stop > start and _trimmable(tokens[stop - 1], roles[stop - 1]):
        stop -= 1
    if start >= stop:
        return ""
    return folded.original_span(tokens[start].start, tokens[stop - 1].end).strip()


def _trimmable(token: Token, role: Role) -> bool:
    """Separators and sentence particles (的, 吧) at the edges of a comment."""
    return role is Role.NEUTRAL and (token.tok is Tok.SEP or token.text in lex.PARTICLES
                                     or token.text in _COMMANDS)


# An opt-out command next to a rating is no part of the citizen's comment.
_COMMANDS = frozenset((*lex.OPT_OUT_WORDS, *lex.LATIN_OPT_OUT, *lex.LATIN_OPT_OUT_ALONE))


def _is_help_only(text: str, roles: list[Role]) -> bool:
    """Only 帮助/help/怎么回复 and question marks (and perhaps a code)."""
    asked = Role.HELP in roles or "?" in text
    return asked and bool(roles) and all(
        role in (Role.HELP, Role.NEUTRAL, Role.CODE) for role in roles)


def _words_before(r: _Reading, k: int) -> str:
    """The plain words right before token k, back to a rating token or a clause mark:
    what could negate or question it (我不想 退订, 怎么 退订; not 不满意 TD)."""
    start = r.tokens[k].start
    for j in range(k - 1, -1, -1):
        tok, role = r.tokens[j], r.roles[j]
        if role in BEARING or (tok.tok is Tok.SEP and not tok.text.isspace()):
            break
        start = tok.start
    return r.folded.text[start:r.tokens[k].start]


def _is_opt_out(r: _Reading) -> bool:
    """A command to stop, never a substring: TD/退订 at the start or the end of the reply
    and not negated or asked about (我不想退订, 怎么退订); an explicit request to stop
    the messages (别再给我发短信了, not 别再发生这种事); T or R alone."""
    roles = r.roles
    if Role.HELP in roles:
        return False  # 退订怎么弄: a question about the command
    text = r.folded.text
    if frames.asks_to_stop(text):
        return True
    for k in r.edges:
        if roles[k] is Role.OPT_OUT:
            if not frames.not_a_command(_words_before(r, k)):
                return True
    return Role.OPT_OUT_ALONE in roles and all(
        role in (Role.OPT_OUT_ALONE, Role.NEUTRAL, Role.CODE) for role in roles)
