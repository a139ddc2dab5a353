"""Scripts and punctuation: Traditional/Simplified (OpenCC) and full/half width.

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


@lru_cache(maxsize=8192)
def to_traditional(text: str) -> str:
    return _converter("s2t.json").convert(text)


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
