"""The lexical channel: BM25 (`bm25s`) over each language's rows, with a tokenizer per language.

English is split into lower-cased words (stop words dropped) plus their character trigrams, so a
misspelt word still shares most of its trigrams with the right one. Chinese is cut into words by
`jieba` plus character bigrams (a wrong homophone character breaks a word, not every bigram).
Japanese is cut by `sudachipy` into dictionary forms (so こわれた and 壊れる meet) plus character
bigrams. Dense encoders miss exact product names and rare terms; this channel catches them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[\w']+", re.UNICODE)
_EN_STOP = frozenset(
    "a an the and or but if of to in on at for with by from is are was were be been being do does did i me my "
    "you your we our it its this that these those there here can could would should will shall may might must "
    "have has had what which who whom how when where why so not no yes please hi hello thanks thank".split())
_CJK_PUNCT = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65、。！？「」『』（）・…]+")
_sudachi_lock = threading.Lock()


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _bigrams(text: str) -> list[str]:
    chunks = [c for c in _CJK_PUNCT.split(text) if c]
    out = []
    for chunk in chunks:
        out += [chunk[i:i + 2] for i in range(len(chunk) - 1)] or [chunk]
    return out


def _english(text: str) -> list[str]:
    words = [w.strip("'") for w in _WORD.findall(text)]
    words = [w for w in words if w and w not in _EN_STOP]
    grams = [f"#{w[i:i + 3]}" for w in words if len(w) > 3 for i in range(len(w) - 2)]
    return words + grams


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _chinese(text: str) -> list[str]:
    words = [w for w in _jieba().cut_for_search(text) if w.strip() and not _CJK_PUNCT.fullmatch(w)]
    return words + [f"#{b}" for b in _bigrams(text)]


@lru_cache(maxsize=1)
def _sudachi():
    from sudachipy import Dictionary, SplitMode

    return Dictionary().tokenizer(mode=SplitMode.A)


_JA_CONTENT = ("名詞", "動詞", "形容詞", "副詞", "形状詞", "接頭辞", "接尾辞")


def _japanese(text: str) -> list[str]:
    with _sudachi_lock:  # a Sudachi tokenizer is not safe to share between threads
        morphemes = _sudachi().tokenize(text)
        words = [m.normalized_form() for m in morphemes if m.part_of_speech()[0] in _JA_CONTENT]
    return words + [f"#{b}" for b in _bigrams(text)]


def tokenize(text: str, language: str) -> list[str]:
    """Tokens of a text in its language (unknown languages: words and character bigrams)."""
    text = _normalize(text)
    if language == "en":
        return _english(text)
    if language == "zh":
        return _chinese(text)
    if language == "ja":
        return _japanese(text)
    return [w for w in _WORD.findall(text)] + [f"#{b}" for b in _bigrams(text)]


class TokenCache:
    """Tokens of texts already tokenized, by (language, text) hash, in one JSON file beside a
    tenant's index versions: a new version whose rows barely changed (and the same evaluation
    queries) tokenizes only what is new, instead of running jieba and Sudachi over every row again
    (seconds for a few thousand rows, and the dictionaries' load). Only the evaluation saves it;
    the serving process reads it and never writes."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self._tokens: dict[str, list[str]] = {}
        self._used: set[str] = set()
        self._dirty = False
        if self.path and self.path.is_file():
            try:
                self._tokens = json.loads(self.path.read_text("utf-8"))
            except (OSError, ValueError):
                self._tokens = {}

    def tokens(self, text: str, language: str) -> list[str]:
        key = hashlib.sha1(f"{language}\x1f{text}".encode("utf-8", "surrogatepass")).hexdigest()
        self._used.add(key)
        found = self._tokens.get(key)
        if found is None:
            found = self._tokens[key] = tokenize(text, language)
            self._dirty = True
        return found

    def save(self) -> None:
        """Keep what this index used (older versions' rows age out with them)."""
        if not (self.path and self._dirty):
            return
        from mm_platform.atomic import atomic_write_json

        try:
            atomic_write_json(self.path, {k: v for k, v in self._tokens.items() if k in self._used})
            self._dirty = False
        except OSError:  # a read-only volume: tokens are recomputed next time
            pass


class LexicalIndex:
    """BM25 over the rows of each language; scores come back aligned with the index's row order."""

    def __init__(self, texts: list[str], languages: list[str], cache: TokenCache | None = None):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import and logs every build

        self._ranges: dict[str, tuple[int, int]] = {}
        self._models: dict[str, object] = {}
        order = sorted(range(len(texts)), key=lambda i: (languages[i], i))
        if order != list(range(len(texts))):
            raise ValueError("rows must be grouped by language (as index versions store them)")
        for i, language in enumerate(languages):
            lo, _ = self._ranges.get(language, (i, i))
            self._ranges[language] = (lo, i + 1)
        for language, (lo, hi) in self._ranges.items():
            model = bm25s.BM25()
            corpus = [(cache.tokens(t, language) if cache else tokenize(t, language)) or ["\x00empty"]
                      for t in texts[lo:hi]]
            model.index(corpus, show_progress=False)
            self._models[language] = model
        self.size = len(texts)
        self.cache = cache

    def scores(self, query: str, language: str) -> np.ndarray:
        """BM25 score of every row of `language` for the query (rows of other languages: 0)."""
        out = np.zeros(self.size, dtype=np.float32)
        if language not in self._models:
            return out
        lo, hi = self._ranges[language]
        tokens = self.cache.tokens(query, language) if self.cache else tokenize(query, language)
        if tokens:
            out[lo:hi] = self._models[language].get_scores(tokens)
        return out
