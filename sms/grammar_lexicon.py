"""The words of the SMS reply grammar, in canonical (folded, simplified) form.

Grade words name a ``Grade`` member, never a digit. Every entry here was decided on
purpose; docs/sms-grammar.md explains the hard ones. Phrases are matched
longest-first, so 非常不满意 wins over 不满意, which wins over 满意.
"""

from __future__ import annotations

import re
from enum import Enum

from ratings.grades import Grade


class Kind(str, Enum):
    GRADE = "grade"  # names a grade
    VAGUE = "vague"  # an opinion too vague to be a grade (还行, 一般)
    FILLER = "filler"  # words around a rating that carry nothing (回复, 我选)
    CONNECT = "connect"  # "or"/"and" between alternatives (1或2)
    FOLLOW_UP = "follow_up"  # 追加评价 (seed art. 14)
    OPT_OUT = "opt_out"  # 退订
    HELP = "help"  # 帮助, 怎么回复


_SATISFIED = "满意"
_DISSATISFIED = ("不满意", "唔满意", "不满", "唔满", "冇满")
# Intensifiers that lift 满意 to 非常满意 and 不满意 to 非常不满意.
# Decided from the five grades' meaning (docs/sms-grammar.md, "Degree words"): a strong
# intensifier says more than plain 满意, and the grade above 满意 is 非常满意.
_VERY = ("非常非常", "非常", "很", "十分", "特别特别", "特别", "超级超级", "超级", "超超", "超",
         "好", "太", "极其", "极", "极度", "相当", "异常", "特", "最", "贼", "老", "巨", "超级无敌")
# Intensifiers that also end common words (办好, 很好, 还好): 好满意 glued to text has
# two readings.
SHARED_INTENSIFIERS = frozenset("好")
# Softer modifiers that leave 满意 at 满意 (Cantonese 几 = "quite").
_QUITE = ("几", "挺", "蛮", "比较", "还")
DEGREE_WORDS = frozenset(_VERY + _QUITE)


# Pinyin and English, folded to upper case and written without spaces (the lexer lets
# spaces sit inside a keyword: "bu manyi", "very good"); matched as whole words only.
LATIN_GRADE_WORDS: dict[str, Grade] = {
    "MANYI": Grade.SATISFIED, "HENMANYI": Grade.VERY_SATISFIED,
    "FEICHANGMANYI": Grade.VERY_SATISFIED, "JIBENMANYI": Grade.BASICALLY_SATISFIED,
    "BUMANYI": Grade.DISSATISFIED, "HENBUMANYI": Grade.VERY_DISSATISFIED,
    "FEICHANGBUMANYI": Grade.VERY_DISSATISFIED,
    "GOOD": Grade.SATISFIED, "VERYGOOD": Grade.VERY_SATISFIED,
    "BAD": Grade.DISSATISFIED, "VERYBAD": Grade.VERY_DISSATISFIED,
    "NOTGOOD": Grade.DISSATISFIED,
    "OK": Grade.BASICALLY_SATISFIED, "OKAY": Grade.BASICALLY_SATISFIED,  # acceptable
    "SATISFIED": Grade.SATISFIED, "VERYSATISFIED": Grade.VERY_SATISFIED,
    "NOTSATISFIED": Grade.DISSATISFIED, "UNSATISFIED": Grade.DISSATISFIED,
    "DISSATISFIED": Grade.DISSATISFIED, "VERYDISSATISFIED": Grade.VERY_DISSATISFIED,
}


def _grade_words() -> dict[str, Grade]:
    words: dict[str, Grade] = {}
    words[_SATISFIED] = Grade.SATISFIED
    for mod in _QUITE:
        words[mod + _SATISFIED] = Grade.SATISFIED
    for mod in _VERY:
        words[mod + _SATISFIED] = Grade.VERY_SATISFIED
    for neg in _DISSATISFIED:
        words[neg] = Grade.DISSATISFIED
        for mod in _VERY:
            words[mod + neg] = Grade.VERY_DISSATISFIED
    words.update({
        # 基本满意 and its spellings
        "基本满意": Grade.BASICALLY_SATISFIED,
        "基本上满意": Grade.BASICALLY_SATISFIED,
        "基本还满意": Grade.BASICALLY_SATISFIED,
        "基本算满意": Grade.BASICALLY_SATISFIED,
        # satisfied, but only just: the grade below 满意 (docs/sms-grammar.md)
        "勉强满意": Grade.BASICALLY_SATISFIED,
        "勉勉强强满意": Grade.BASICALLY_SATISFIED,
        "勉强算满意": Grade.BASICALLY_SATISFIED,
        "麻麻哋": Grade.BASICALLY_SATISFIED,  # Cantonese "so-so"
        "麻麻地": Grade.BASICALLY_SATISFIED,
        "麻麻": Grade.BASICALLY_SATISFIED,
        "几好": Grade.SATISFIED,  # Cantonese "quite good", the everyday 满意
        "都几好": Grade.SATISFIED,
        "好正": Grade.VERY_SATISFIED,  # Cantonese "great"
        "唔系几好": Grade.DISSATISFIED,  # Cantonese "not very good"
        "唔系好好": Grade.DISSATISFIED,
        "满分": Grade.VERY_SATISFIED,  # full marks: 10 of seed art. 9
        # softened negatives stay 不满意 ("not very satisfied" is still not satisfied)
        "不太满意": Grade.DISSATISFIED,
        "并不满意": Grade.DISSATISFIED,
        "并不是很满意": Grade.DISSATISFIED,
        "不是很满意": Grade.DISSATISFIED,
        "不是太满意": Grade.DISSATISFIED,
        "不怎么满意": Grade.DISSATISFIED,
        "不大满意": Grade.DISSATISFIED,
        "不很满意": Grade.DISSATISFIED,
        "唔系好满意": Grade.DISSATISFIED,  # Cantonese
        "唔太满意": Grade.DISSATISFIED,
        "冇满意": Grade.DISSATISFIED,
        "好唔满意": Grade.VERY_DISSATISFIED,  # Cantonese "very dissatisfied"
        "非常之唔满意": Grade.VERY_DISSATISFIED,
        "极之唔满意": Grade.VERY_DISSATISFIED,
        "非常之满意": Grade.VERY_SATISFIED,
        "太满意了": Grade.VERY_SATISFIED,
        "满意极了": Grade.VERY_SATISFIED,
        "满意得很": Grade.VERY_SATISFIED,
        "满意到极": Grade.VERY_SATISFIED,
        "满意死了": Grade.VERY_SATISFIED,
        "不满意极了": Grade.VERY_DISSATISFIED,
        # the review system's own words: one step from the middle, never the extreme
        "好评": Grade.SATISFIED,
        "差评": Grade.DISSATISFIED,
        "中评": Grade.BASICALLY_SATISFIED,
        "👍": Grade.SATISFIED,
        "👎": Grade.DISSATISFIED,
        "点赞": Grade.SATISFIED,  # "a like", the 👍 in words
    })
    words.update(LATIN_GRADE_WORDS)
    return words


GRADE_WORDS: dict[str, Grade] = _grade_words()

def _minimal(words: list[str]) -> tuple[str, ...]:
    """The words that contain no other word of the list (不满 covers 很不满意)."""
    return tuple(sorted(w for w in words if not any(o != w and o in w for o in words)))


# Any of these anywhere in a reply (spaces removed) forbids a good grade: the grammar's
# last line of defence against reading 不满意 as 满意, whatever the tokens say.
BAD_SUBSTRINGS = _minimal([w for w, grade in GRADE_WORDS.items() if grade.is_bad])
# ... and so does a negator shortly before 满 in the same clause (不是很满, 没让我满意),
# once the words that only look negative (不错, 没问题) are taken out.
NEGATOR_NEAR_MAN = re.compile(r"[不唔冇没未][^\s，。！？,.!?；;]{0,3}满")

# Words that say only good or bad, not how good: alone they mean the milder grade
# (好评 → 满意); next to a grade of the same side they defer to it (非常满意，好评 →
# 非常满意); next to the other side they conflict.
POLARITY_WORDS: dict[str, frozenset[Grade]] = {
    "好评": frozenset({Grade.VERY_SATISFIED, Grade.SATISFIED}),
    "👍": frozenset({Grade.VERY_SATISFIED, Grade.SATISFIED}),
    "点赞": frozenset({Grade.VERY_SATISFIED, Grade.SATISFIED}),
    "差评": frozenset({Grade.DISSATISFIED, Grade.VERY_DISSATISFIED}),
    "👎": frozenset({Grade.DISSATISFIED, Grade.VERY_DISSATISFIED}),
    "GOOD": frozenset({Grade.VERY_SATISFIED, Grade.SATISFIED}),
    "BAD": frozenset({Grade.DISSATISFIED, Grade.VERY_DISSATISFIED}),
    # OK alone is "acceptable" (基本满意); before another grade it only acknowledges
    # the message ("ok, 2"), so it defers to any grade.
    "OK": frozenset(Grade),
    "OKAY": frozenset(Grade),
}

# 👍 / 👎 are a grade only when they are the whole reply (docs/sms-grammar.md).
POLARITY_EMOJI = frozenset({"👍", "👎"})

# Opinions that are not one of the five grades: without a clear grade next to them
# the reply is ambiguous (asked again), never rated.
VAGUE_WORDS = (
    "还行", "还可以", "可以", "一般", "一般般", "凑合", "马马虎虎", "还好", "还算满意",
    "满不满意", "说不上", "不好说", "不错", "挺好", "很好", "不好",
    "很差", "太差", "行吧", "还凑合", "算了", "无所谓", "好的", "收到", "👌",
)

FILLER_WORDS = (
    "回复", "答复", "回复是", "我的回复是", "我选", "我选择", "我的选择是", "选择", "选",
    "评价为", "评价是", "我的评价是", "我的评价", "评价", "评", "我评", "我给", "给", "给个",
    "打", "打个", "我打", "答", "是", "编号", "代码", "号码",
    "办件", "事项", "我",
)
# Sentence particles: fillers that are also trimmed from the edges of a comment.
PARTICLES = ("的", "吧", "了", "啊", "呀", "哦", "喔", "嗯", "呢", "哈", "啦", "咯", "哟", "哇",
             "喇", "啰", "嘞", "噢")

CONNECT_WORDS = ("或者", "或", "还是", "和", "跟", "与", "及", "到", "至", "或是")

FOLLOW_UP_WORDS = ("追加评价", "追加", "追评", "补充评价", "补评", "再次评价")

# Opt-out commands. They count only as a command: at the start or the end of a reply and
# not negated or asked about (怎么退订); a request to stop in words ("别再发短信了") is
# matched as a phrase by sms.grammar_frames.STOP_REQUEST, never as a substring (别再发生).
OPT_OUT_WORDS = ("退订", "退定", "取消订阅", "退订短信", "取消短信", "拒收")

HELP_WORDS = ("帮助", "怎么回复", "如何回复", "怎么评价", "如何评价", "怎么评", "什么意思",
              "啥意思", "看不懂", "不懂", "菜单", "说明", "怎么弄", "求助")

# Latin runs (whole tokens only, folded to upper case).
LATIN_OPT_OUT = frozenset({"TD", "STOP", "UNSUBSCRIBE", "QX", "TDQX"})
LATIN_OPT_OUT_ALONE = frozenset({"T", "R"})  # only when nothing else was said
LATIN_HELP = frozenset({"HELP", "H", "HELPS"})
LATIN_CONNECT = frozenset({"OR", "AND"})
LATIN_VAGUE = frozenset({"YES", "NO", "FINE"})

# Chinese numerals, 小写 and 大写, folded to their digit.
NUMERALS = {
    "〇": "0", "零": "0", "一": "1", "壹": "1", "幺": "1", "二": "2", "贰": "2",
    "三": "3", "叁": "3", "参": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6",
    "陆": "6", "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
    "十": "10", "拾": "10",
}

# After a number, these make it a quantity (三天, 2小时, 3号窗口), not a reply digit.
UNIT_CHARS = frozenset("天个次小时钟点号年月日楼元块人遍周岁秒层件位项张条栋分星颗届期级倍米公"
                       "度%％折成")

# Characters that negate a grade word later in the same clause (没让我满意).
NEGATORS = frozenset("不没唔冇未无别莫勿否非")
# After a grade word, these make it a question (满意吗) or sarcasm (满意个屁).
QUESTION_AFTER = ("吗", "么", "否", "嘛")
QUESTION_AFTER_AT_END = ("不", "没", "冇", "唔")  # 满意不？ but not 满意不过…
SARCASM_AFTER = ("个屁", "个鬼", "才怪", "个毛", "个啥", "个头")  # see also sms.grammar_frames
# Words that contain a negator but are not a negation.
NOT_NEGATIONS = ("特别", "别人", "区别", "不错", "没问题", "没毛病", "冇问题", "冇事", "无问题",
                 "非常", "无论",
                 "不用谢", "不客气", "没事", "不好意思", "无敌", "唔该", "唔使", "唔紧要",
                 "冇事")

# Sentiment of a comment, used only to doubt a bare digit whose words say the opposite
# ("1 态度太差": did they think 1 is the worst, as with stars?). Never rates anything.
SENTIMENT_NEGATIVE = (
    "不是很好", "不太好", "不怎么好", "不好", "不行", "太差", "很差", "真差", "好差", "极差",
    "差劲", "太慢", "很慢", "好慢", "真慢", "恶劣", "垃圾", "投诉", "失望", "不耐烦", "推诿",
    "刁难", "拖拉", "敷衍", "没人理", "没解决", "未解决", "没办好", "没办成", "浪费时间",
    "糟糕", "无语", "态度差", "效率低", "太麻烦", "好麻烦", "很麻烦", "冇用", "唔得", "好差劲",
)
SENTIMENT_POSITIVE = (
    "很好", "非常好", "挺好", "真好", "不错", "很棒", "太棒", "好棒", "耐心", "热情", "高效",
    "很快", "好快", "及时", "周到", "贴心", "辛苦了", "给力", "赞", "态度好", "效率高",
    "好正", "几好", "方便",
)
SENTIMENT_NOT = ("不好意思", "不错过")  # look negative, are not

# Reason menu labels (only read when the flow expects a reason).
REASON_WORDS = {
    "efficiency": ("办事效率", "效率", "太慢", "拖拉"),
    "attitude": ("服务态度", "态度"),
    "unresolved": ("问题未解决", "未解决", "没解决", "没有解决", "没办好", "没办成"),
    "process": ("流程繁琐", "繁琐", "流程", "手续麻烦"),
    "other": ("其他", "其它"),
}

REASON_LABELS_ZH = {
    "efficiency": "办事效率", "attitude": "服务态度", "unresolved": "问题未解决",
    "process": "流程繁琐", "other": "其他",
}


def keyword_table() -> dict[str, tuple[Kind, Grade | None]]:
    """Every keyword → its kind (and grade), for the lexer."""
    table: dict[str, tuple[Kind, Grade | None]] = {}
    for words, kind in ((FILLER_WORDS, Kind.FILLER), (PARTICLES, Kind.FILLER),
                        (CONNECT_WORDS, Kind.CONNECT), (VAGUE_WORDS, Kind.VAGUE),
                        (HELP_WORDS, Kind.HELP),
                        (FOLLOW_UP_WORDS, Kind.FOLLOW_UP), (OPT_OUT_WORDS, Kind.OPT_OUT)):
        for word in words:
            table[word] = (kind, None)
    for word, grade in GRADE_WORDS.items():
        table[word] = (Kind.GRADE, grade)  # grade words win over any other reading
    return table
