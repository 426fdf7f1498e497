"""The grammar's fast path: the common short replies answered from a table.

Most replies are a bare digit ("1", "５", "①") or one short word (满意, 不满意, 好评,
TD, 帮助). For those exact texts the full grammar (``sms.grammar``) always gives the
same answer, so its answer is kept: the first time a form is seen under a
convention and mode (rating / reason), the full grammar reads it and the answer is
stored; later the same text is a dict lookup (~0.3 us instead of 20-40 us).
Everything else, and any reply of the table whose answer names a reply code while
the caller passes ``pending_codes``, goes to the full grammar.

Why a closed set of forms and not a cache of whatever arrives: the table cannot
grow with traffic (it holds at most ``len(FORMS)`` answers per convention and
mode), and it holds no citizen's words beyond these fixed forms. Why correct:
an answer is a pure function of (text, convention, expecting_reason,
pending_codes), and ``pending_codes`` only matters when the reply holds a code
(the grammar's ``_decide`` checks it only then; every answer carries the reply's
code), so an answer without a code is valid for any ``pending_codes``.
tests/sms_grammar/test_fast_path.py compares both paths over the golden table and
over generated short replies.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sms import grammar_lexicon as lex

_DIGITS = "0123456789０１２３４５６７８９①②③④⑤⑥⑦⑧⑨⑴⑵⑶⑷⑸❶❷❸❹❺"
_KEYCAPS = tuple(f"{d}\ufe0f\u20e3" for d in "0123456789")


def _forms() -> frozenset[str]:
    words = [*lex.GRADE_WORDS, *lex.POLARITY_WORDS, *lex.VAGUE_WORDS, *lex.OPT_OUT_WORDS,
             *lex.HELP_WORDS, *lex.FOLLOW_UP_WORDS, *lex.NUMERALS]
    latin = [*lex.LATIN_GRADE_WORDS, *lex.LATIN_OPT_OUT, *lex.LATIN_OPT_OUT_ALONE,
             *lex.LATIN_HELP, *lex.LATIN_VAGUE, *lex.POLARITY_WORDS]
    words += latin + [w.lower() for w in latin] + [w.capitalize() for w in latin]
    said = [f"{prefix}{d}" for prefix in ("回复", "回复：", "回复:", "我选", "选", "评价", "我评")
            for d in "0123456789"]  # 回复1
    base = [*_DIGITS, *_KEYCAPS, *words, *said, "?", "？"]
    ends = ("", "。", "!", "！", ".", "~", "～", " ", "\n")
    return frozenset(f"{form}{end}" for form in base for end in ends if form)


FORMS = frozenset(_forms())
_MAX_ENTRIES = 64 * len(FORMS)  # a safety bound: conventions are few in practice


class FastPath:
    """Answers of the full grammar for ``FORMS``, per (text, convention, mode)."""

    def __init__(self, full: Callable):
        self._full = full  # sms.grammar's full parse (same signature as parse)
        self._answers: dict = {}

    def parse(self, text: str, convention, expecting_reason: bool,
              pending_codes: Collection[str] | None):
        if text not in FORMS:
            return self._full(text, convention, expecting_reason=expecting_reason,
                              pending_codes=pending_codes)
        key = (text, convention, expecting_reason)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._full(text, convention, expecting_reason=expecting_reason,
                                pending_codes=None)
            if len(self._answers) >= _MAX_ENTRIES:
                self._answers.clear()
            self._answers[key] = answer
        if answer.code is not None and pending_codes is not None:
            return self._full(text, convention, expecting_reason=expecting_reason,
                              pending_codes=pending_codes)
        return answer
