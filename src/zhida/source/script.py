"""Scripts and punctuation: Traditional/Simplified (OpenCC) and full/half width.

Traditional, as this app writes it, is the document's own: Taiwan character forms (OpenCC
s2tw.json: 審核, 為, 眾, 群, 啟, where plain s2t.json writes the rarer 審覈, 爲, 衆, 羣, 啓)
with the mainland characters the document keeps where one Simplified character stands for
two Traditional ones (關于 not 關於, 示范, 制造, 售后, 布局, 占, 旅游, 并: DOCUMENT_FORMS).
Both were found by converting the Simplified form of the Huzhou document back to Traditional
and comparing it with the original; what still differs is a word here and there
(tests/test_script_phrases.py lists them), where OpenCC's reading is standard Traditional.

The parser reads a *canonical* copy of the text: Simplified characters and
half-width punctuation, with exactly one character per original character.
Every offset found in the canonical copy is therefore an offset into the
original, and citations always quote what the government wrote.
"""

from __future__ import annotations

from functools import cache, lru_cache

import opencc

# Full-width and other variant punctuation -> the half-width forms the parser matches.
# Each maps one character to one character, which keeps offsets aligned.
_PUNCTUATION = str.maketrans(
    {
        "，": ",",
        "；": ";",
        "：": ":",
        "（": "(",
        "）": ")",
        "！": "!",
        "？": "?",
        "％": "%",
        "．": ".",
        "－": "-",
        "～": "~",
        "／": "/",
        "\u3000": " ",
        "「": "“",
        "」": "”",
        "『": "“",
        "』": "”",
        "〇": "零",
        "―": "—",
        "–": "—",
        **{chr(ord("０") + digit): str(digit) for digit in range(10)},
    }
)


@cache
def _converter(config: str) -> opencc.OpenCC:
    # Building a converter loads its dictionaries (a few ms): do it once per config.
    return opencc.OpenCC(config)


@lru_cache(maxsize=8192)
def to_simplified(text: str) -> str:
    # Cached: clauses, titles and departments are converted again for every answer.
    return _converter("t2s.json").convert(text)


# OpenCC's Traditional character -> the document's, where the document keeps the mainland one
# every time (>= 3 times, never the other): 關于, 高于, 不低于; 示范, 規范, 范圍; 制造; 售后, 最后;
# 布局; 占比; 旅游; 并. One character for one, so a converted text keeps its length.
DOCUMENT_FORMS = str.maketrans("於範製後佈佔遊並", "于范制后布占游并")
# Texts up to this length are cached (titles, clauses, messages); a whole page is not.
_CACHED_LENGTH = 512


@lru_cache(maxsize=8192)
def _traditional_cached(text: str) -> str:
    return _traditional(text)


def _traditional(text: str) -> str:
    return _converter("s2tw.json").convert(text).translate(DOCUMENT_FORMS)


def to_traditional(text: str) -> str:
    """Simplified -> Traditional as the document writes it (审核 -> 審核, 关于 -> 關于)."""
    # A page is converted once per request and is never the same twice (its form keys): caching
    # whole pages would only fill memory.
    return _traditional_cached(text) if len(text) <= _CACHED_LENGTH else _traditional(text)


def canonical(text: str) -> str:
    """Simplified, half-width copy of `text` with the same length, character for character."""
    simplified = to_simplified(text)
    if len(simplified) != len(text):
        # A phrase conversion changed the length: fall back to one character at a time,
        # which OpenCC maps one to one, so offsets stay valid.
        simplified = "".join(to_simplified(character) for character in text)
    return simplified.translate(_PUNCTUATION)


def half_width(text: str) -> str:
    """Full-width punctuation and digits as half-width: for units (％ -> %), never for quotations."""
    return text.translate(_PUNCTUATION)


def display(text: str, simplified: bool) -> str:
    """Text for a reader: Simplified when asked, else as written."""
    return to_simplified(text) if simplified else text
