"""Fold an SMS reply into one canonical form, remembering where each character came from.

Three folds, each character by character so that every canonical character can be
traced back to the citizen's original text (the comment is cut from the original,
not from the folded copy):

1. Unicode NFKC: full-width ``１ＴＤ：`` → ``1TD:``, circled ``①`` → ``1``,
   compatibility ideographs → their unified form.
2. Traditional → simplified Chinese with OpenCC (``滿意`` → ``满意``, ``評`` → ``评``,
   ``幾`` → ``几``); a small built-in table of the characters the grammar needs is the
   fallback when the OpenCC binding is not installed.
3. ASCII letters to upper case (``td`` → ``TD``, ``a3`` → ``A3``).
4. Invisible characters (zero-width spaces, controls, combining marks, emoji variation
   selectors) are dropped: "不\u200b满意" must still be 不满意.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# The characters of the grammar's own words, for when OpenCC is missing.
_FALLBACK_T2S = str.maketrans({
    "滿": "满", "評": "评", "價": "价", "幾": "几", "極": "极", "較": "较", "蠻": "蛮",
    "級": "级", "還": "还", "別": "别", "沒": "没", "無": "无", "說": "说", "這": "这",
    "對": "对", "謝": "谢", "態": "态", "問": "问", "題": "题", "決": "决", "務": "务",
    "辦": "办", "瑣": "琐", "訂": "订", "幫": "帮", "貳": "贰", "參": "叁", "陸": "陆",
    "選": "选", "擇": "择", "覆": "复", "複": "复", "為": "为", "碼": "码", "編": "编",
    "號": "号", "個": "个", "點": "点", "讚": "赞", "麼": "么", "樣": "样", "會": "会",
    "請": "请", "係": "系", "見": "见", "馬": "马", "虎": "虎", "湊": "凑", "與": "与",
    "專": "专", "齊": "齐", "壹": "壹", "兩": "两", "種": "种", "應": "应", "鐘": "钟",
    "時": "时", "週": "周", "層": "层", "張": "张", "條": "条", "項": "项", "件": "件",
    "塊": "块", "歲": "岁", "樓": "楼", "遞": "递", "補": "补", "充": "充", "過": "过",
})


def _load_opencc():
    try:
        import opencc  # the official OpenCC binding (C++), from PyPI "opencc"
    except ImportError:  # pragma: no cover - depends on the machine
        return None
    return opencc.OpenCC("t2s")


_OPENCC = _load_opencc()


def fallback_t2s(text: str) -> str:
    """Traditional → simplified for the grammar's own characters only."""
    return text.translate(_FALLBACK_T2S)


def t2s(text: str) -> str:
    """Traditional → simplified: OpenCC when installed, else the small table."""
    if _OPENCC is None:
        return fallback_t2s(text)
    return _OPENCC.convert(text)


@dataclass(frozen=True)
class Folded:
    """``text`` is the canonical form; ``origin[i]`` is the index in the original
    text of the character ``text[i]`` came from (one past the end is ``len(original)``)."""

    original: str
    text: str
    origin: tuple[int, ...]

    def original_span(self, start: int, end: int) -> str:
        """The original characters behind canonical ``text[start:end]``."""
        if start >= end:
            return ""
        first = self.origin[start]
        last = self.origin[end - 1] + 1
        return self.original[first:last]


# Invisible characters that could sit inside a word and split it (不\u200b满意): control
# and format characters, combining marks, variation selectors. Whitespace stays.
_INVISIBLE = frozenset({"Cc", "Cf", "Mn", "Me"})


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    out = []
    for c in folded:
        if c.isascii():
            out.append(c.upper() if c.isprintable() or c in "\t\n\r" else "")
        elif unicodedata.category(c) in _INVISIBLE and not c.isspace():
            continue
        else:
            out.append(c)
    return "".join(out)


def fold(text: str) -> Folded:
    """NFKC + traditional→simplified + ASCII upper case, with an origin map."""
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        for c in _fold_char(ch):
            chars.append(c)
            origin.append(index)
    folded = "".join(chars)
    simplified = t2s(folded)
    if len(simplified) != len(folded):
        # OpenCC changed the length (a phrase mapping): convert char by char instead,
        # keeping a character as it is when its conversion is not one character.
        simplified = "".join(
            s if len(s := t2s(c)) == 1 else c for c in folded)
    return Folded(text, simplified, tuple(origin))
