"""Cut a folded SMS reply into tokens.

Chinese has no spaces, so a word-based tokenizer sees "非常满意谢谢" as one word. This
lexer walks the folded text once and at each position takes, in order:

1. the longest keyword of the lexicon starting here (grade words, fillers, 退订 …) —
   longest-first is what keeps 不满意 from being read as 满意. Where a word may start
   (not glued to the end of other text) a keyword may contain spaces: people type
   "非常 满意" and "不 满意", and a space must not turn them into 满意; but in
   "办好 满意" the 好 belongs to 办好 and 满意 stays 满意;
2. a run of ASCII letters and digits (a reply code, a digit, TD);
3. a run of Chinese numerals (一, 伍); a number keeps a score or star unit (5分, 五星,
   5⭐), and star symbols alone (⭐⭐⭐) are a score too;
4. one separator (space, punctuation, symbols, emoji that name no grade);
5. otherwise one character of plain text, merged with its neighbours.

It only cuts; what a token means in its place is decided by the parser (sms.grammar).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from ratings.grades import Grade
from sms.grammar_lexicon import NUMERALS, Kind, keyword_table


class Tok(str, Enum):
    SEP = "sep"
    ALNUM = "alnum"
    NUM = "num"
    KEY = "key"
    TEXT = "text"


@dataclass(frozen=True)
class Token:
    tok: Tok
    start: int  # in the folded text
    end: int
    text: str
    kind: Kind | None = None  # for KEY tokens
    grade: Grade | None = None  # for grade keywords
    scale: bool = False  # a number with its score/star unit: 5分, 五星, 3颗星


def _keyword_index() -> dict[str, tuple[re.Pattern[str], re.Pattern[str]]]:
    """First character → (strict regex, regex allowing spaces inside the word)."""
    by_first: dict[str, list[str]] = {}
    for word in _TABLE:
        by_first.setdefault(word[0], []).append(word)
    index = {}
    for first, words in by_first.items():
        words.sort(key=len, reverse=True)  # longest first
        strict = "|".join(re.escape(w) for w in words)
        loose = "|".join(r"[ \t\r\n\u3000]*".join(re.escape(c) for c in w) for w in words)
        index[first] = (re.compile(strict), re.compile(loose))
    return index


_TABLE = keyword_table()


_KEYWORDS = _keyword_index()
_ALNUM = re.compile(r"[A-Z0-9]+")
# A score or a star count after a number, but not 分钟 (minutes) or 星期 (weeks).
_SCALE_UNIT = re.compile(r"(?:颗星|星级|星|分)(?!钟|期)|\s*[⭐🌟★☆✩✪✫✬✭✮✯]+")
# Star symbols alone (⭐⭐⭐⭐⭐) are a rating on the star scale too.
_STAR_CHARS = frozenset("⭐🌟★☆✩✪✫✬✭✮✯")
_STARS = re.compile(f"[{''.join(sorted(_STAR_CHARS))}]+(?:\ufe0f)?")


def _number_token(text: str, tok: Tok, start: int, end: int) -> Token:
    unit = _SCALE_UNIT.match(text, end)
    if unit and (tok is Tok.NUM or text[start:end].isdigit()):
        return Token(tok, start, unit.end(), text[start:unit.end()], scale=True)
    return Token(tok, start, end, text[start:end])


def _whole_latin_word(text: str, start: int, end: int) -> bool:
    """A Latin keyword (MANYI, GOOD, OK) counts only as a whole word."""
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return not ((before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum()))


def is_separator(ch: str) -> bool:
    if ch.isspace():
        return True
    return unicodedata.category(ch)[0] in "PZCMS"


def tokenize(text: str) -> list[Token]:
    """Tokens of a folded text, covering it exactly, in order."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        entry = _KEYWORDS.get(ch)
        if entry is not None:
            glued = bool(tokens) and tokens[-1].tok is Tok.TEXT and tokens[-1].end == i
            match = entry[0 if glued else 1].match(text, i)
            if match and ch.isascii() and not _whole_latin_word(text, i, match.end()):
                match = None  # GOOD in GOODS, OK in TOKEN: not the word
            if match:
                word = "".join(match.group().split())
                kind, grade = _TABLE[word]
                tokens.append(Token(Tok.KEY, i, match.end(), word, kind, grade))
                i = match.end()
                continue
        stars = _STARS.match(text, i)
        if stars:
            tokens.append(Token(Tok.NUM, i, stars.end(), stars.group(), scale=True))
            i = stars.end()
            continue
        if ch.isascii() and ch.isalnum():
            match = _ALNUM.match(text, i)
            if match:
                tokens.append(_number_token(text, Tok.ALNUM, i, match.end()))
                i = tokens[-1].end
                continue
        if ch in NUMERALS:
            j = i + 1
            while j < n and text[j] in NUMERALS:
                j += 1
            tokens.append(_number_token(text, Tok.NUM, i, j))
            i = tokens[-1].end
            continue
        tok = Tok.SEP if is_separator(ch) else Tok.TEXT
        # the run of plain characters of the same kind, in one step (not one Token per
        # character): it stops where any branch above could apply
        j = i + 1
        while j < n:
            c = text[j]
            if c in _KEYWORDS or c in _STAR_CHARS or c in NUMERALS or (
                    c.isascii() and c.isalnum()) or (
                    Tok.SEP if is_separator(c) else Tok.TEXT) is not tok:
                break
            j += 1
        start = i
        if tokens and tokens[-1].tok is tok and tokens[-1].end == i:
            start = tokens.pop().start
        tokens.append(Token(tok, start, j, text[start:j]))
        i = j
    return tokens
