"""The role of each token of a reply in its place (the grammar's context rules).

A token's meaning depends on its neighbours: "5" before 窗口 is a rating digit, "2"
before 小时 is a quantity, "5分" is a score on another scale, "3" glued after
text (态度差3) is not a clear answer; 一 alone is a numeral, in 一般 it is a word;
满意 after 没 in the same clause is negated; 满意 before 度 is a noun (满意度).
"""

from __future__ import annotations

from enum import Enum

from sms import grammar_lexicon as lex
from sms.grammar_convention import ReplyConvention
from sms.grammar_lexer import Tok, Token, is_separator


class Role(Enum):
    NEUTRAL = "neutral"  # separators, fillers: neither rating nor text
    TEXT = "text"
    VAGUE = "vague"  # 还行, 一般: an opinion that is no grade
    HELP = "help"
    STRAY = "stray"  # a digit glued to text (态度差5)
    DIGIT = "digit"  # one reply digit (5, 五, 伍)
    MULTI = "multi"  # several digits that are no code (12, 十)
    SCALE = "scale"  # 5分, 五星
    CODE = "code"
    BADCODE = "badcode"  # letters with digits that are no code
    GRADE = "grade"
    NEGATED = "negated"  # a grade word negated in its clause, or sarcastic (满意个屁)
    QUESTION = "question"  # a grade word asked about (满意吗)
    UNCLEAR = "unclear"  # two readings: 办好满意 is 办好+满意 or 办+好满意
    FOLLOW = "follow"
    OPT_OUT = "opt_out"
    OPT_OUT_ALONE = "opt_out_alone"  # T, R: opt-out only when nothing else is said


# Tuples, not sets: membership then compares by identity instead of hashing an Enum
# in Python, which showed in the profile.
TEXT_LIKE = (Role.TEXT, Role.VAGUE, Role.HELP, Role.STRAY)
BEARING = (Role.DIGIT, Role.MULTI, Role.SCALE, Role.CODE, Role.BADCODE, Role.GRADE,
           Role.NEGATED, Role.QUESTION, Role.UNCLEAR, Role.FOLLOW, Role.OPT_OUT,
           Role.OPT_OUT_ALONE)

LONG_NUMBER = 7  # digits


def _after(text: str, index: int, length: int = 1) -> str:
    return text[index:index + length]


def _glued_to_text_before(tokens: list[Token], roles: list[Role], k: int) -> bool:
    """The token before is text (by its role) and touches this one."""
    return k > 0 and tokens[k - 1].end == tokens[k].start and roles[k - 1] in TEXT_LIKE


def _glued_to_text_after(tokens: list[Token], k: int) -> bool:
    if k + 1 >= len(tokens):
        return False
    nxt = tokens[k + 1]
    return nxt.tok is Tok.TEXT or (
        nxt.tok is Tok.KEY and nxt.kind in (lex.Kind.VAGUE, lex.Kind.HELP))


def _negated(text: str, tokens: list[Token], k: int) -> bool:
    """A negator earlier in the same clause: since punctuation or another grade word.

    Spaces do not end a clause: in "真不 满意" the 不 still negates 满意."""
    start = 0
    for j in range(k - 1, -1, -1):
        tok = tokens[j]
        if (tok.tok is Tok.SEP and not tok.text.isspace()) or tok.kind is lex.Kind.GRADE:
            start = tok.end
            break
    clause = text[start:tokens[k].start]
    for word in lex.NOT_NEGATIONS:
        clause = clause.replace(word, "")
    return any(ch in lex.NEGATORS for ch in clause)


def _ends_clause(text: str, index: int) -> bool:
    return index >= len(text) or is_separator(text[index])


def _grade_role(text: str, tokens: list[Token], roles: list[Role], k: int) -> Role:
    tok = tokens[k]
    if tok.text[0] in lex.SHARED_INTENSIFIERS and _glued_to_text_before(tokens, roles, k):
        rest = lex.GRADE_WORDS.get(tok.text[1:])
        if rest is not None and rest is not tok.grade:
            return Role.UNCLEAR  # 办好满意: 办好 + 满意, or 办 + 好满意?
    nxt = _after(text, tok.end)
    if nxt == "度" or (tok.text.endswith("不满") and nxt == "足"):
        return Role.TEXT  # 满意度 (a noun), 不满足
    if nxt in lex.QUESTION_AFTER or (
            nxt in lex.QUESTION_AFTER_AT_END and _ends_clause(text, tok.end + 1)):
        return Role.QUESTION
    if any(text.startswith(word, tok.end) for word in lex.SARCASM_AFTER):
        return Role.NEGATED
    return Role.NEGATED if _negated(text, tokens, k) else Role.GRADE


def _key_role(text: str, tokens: list[Token], roles: list[Role], k: int,
              reason: bool) -> Role:
    tok = tokens[k]
    kind = tok.kind
    if kind is lex.Kind.GRADE:
        return Role.TEXT if reason else _grade_role(text, tokens, roles, k)
    if kind is lex.Kind.VAGUE:
        return Role.VAGUE
    if kind is lex.Kind.HELP:
        return Role.HELP
    if kind is lex.Kind.FOLLOW_UP:
        return Role.NEUTRAL if reason else Role.FOLLOW
    if kind is lex.Kind.OPT_OUT:
        return Role.OPT_OUT
    # fillers and connectors: nothing, unless glued to the end of a word (但是, 还是)
    return Role.TEXT if _glued_to_text_before(tokens, roles, k) else Role.NEUTRAL


def _number_role(text: str, tokens: list[Token], roles: list[Role], k: int,
                 convention: ReplyConvention, reason: bool) -> Role:
    tok = tokens[k]
    value = tok.text
    if tok.scale:
        return Role.TEXT if reason else Role.SCALE
    if _after(text, tok.end) in lex.UNIT_CHARS:
        return Role.TEXT  # a quantity: 3天, 2小时, 3号窗口
    if tok.tok is Tok.NUM:
        if _glued_to_text_before(tokens, roles, k) or _glued_to_text_after(tokens, k):
            return Role.TEXT  # 一下, 三番五次
        digits = lex.NUMERALS[value] if len(value) == 1 else value
        return Role.DIGIT if len(digits) == 1 else Role.MULTI
    if _glued_to_text_before(tokens, roles, k):
        return Role.STRAY if len(value) == 1 else Role.TEXT
    if len(value) >= LONG_NUMBER:
        return Role.TEXT  # a phone or item number is no attempt at a rating
    if convention.code_re.fullmatch(value):
        return Role.CODE
    return Role.DIGIT if len(value) == 1 else Role.MULTI


def _latin_role(tok: Token, convention: ReplyConvention) -> Role:
    value = tok.text
    if convention.code_re.fullmatch(value):
        return Role.CODE
    if value in lex.LATIN_OPT_OUT:
        return Role.OPT_OUT
    if value in lex.LATIN_OPT_OUT_ALONE:
        return Role.OPT_OUT_ALONE
    if value in lex.LATIN_HELP:
        return Role.HELP
    if value in lex.LATIN_CONNECT:
        return Role.NEUTRAL
    if value in lex.LATIN_VAGUE:
        return Role.VAGUE
    if len(value) == 1 or any(ch.isdigit() for ch in value):
        return Role.BADCODE  # AA3, or a lone letter ("A 3": a code typed apart?)
    return Role.TEXT


def assign_roles(text: str, tokens: list[Token], convention: ReplyConvention,
                 expecting_reason: bool) -> list[Role]:
    roles: list[Role] = []
    for k, tok in enumerate(tokens):
        if tok.tok is Tok.SEP:
            roles.append(Role.NEUTRAL)
        elif tok.tok is Tok.TEXT:
            roles.append(Role.TEXT)
        elif tok.tok is Tok.KEY:
            roles.append(_key_role(text, tokens, roles, k, expecting_reason))
        elif tok.tok is Tok.NUM or tok.scale or tok.text.isdigit():
            roles.append(_number_role(text, tokens, roles, k, convention, expecting_reason))
        else:
            roles.append(_latin_role(tok, convention))
    return roles
