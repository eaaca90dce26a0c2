"""The language of a query, from its script: a Dify request carries no language.

Kana means Japanese, Han characters without kana Chinese, anything else the tenant's Latin-script
language (English here). Mixed scripts ("我的AirPods坏了", "iPhoneの返品") resolve by their CJK part.
A script test is exact for zh/ja/en and costs microseconds; a statistical detector would be
neither (short queries, Latin product names inside CJK text).
"""

from __future__ import annotations


def _is_kana(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff" or "\uff66" <= ch <= "\uff9f"


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


def detect_language(text: str, available: tuple[str, ...] | list[str] = ("zh", "en", "ja")) -> str | None:
    """zh, en or ja (restricted to `available`); None when none of them fits."""
    kana = han = 0
    for ch in text:
        if _is_kana(ch):
            kana += 1
        elif _is_han(ch):
            han += 1
    guess = "ja" if kana else "zh" if han else "en"
    if guess in available:
        return guess
    if guess == "zh" and "ja" in available:  # kanji-only Japanese
        return "ja"
    return None
