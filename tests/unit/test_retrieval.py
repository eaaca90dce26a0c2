"""Retrieval strategies: tokenizers, cross-lingual links, fusion, language detection, selection."""

import numpy as np
import pytest

from mm_platform.retrieval.language import detect_language
from mm_platform.retrieval.lexical import LexicalIndex, tokenize
from mm_platform.retrieval.links import MIN_MARGIN, build_links, link_map
from mm_platform.retrieval.strategy import DEFAULT_STRATEGY, Strategy, candidates, fuse, language_blocks, zscore


def test_tokenizers_survive_typos_and_inflection():
    # English: word trigrams still overlap when a word is misspelt
    assert set(tokenize("recieve my refund", "en")) & set(tokenize("when will I receive the refund", "en"))
    assert "#cei" in tokenize("receive", "en") and "the" not in tokenize("the parcel", "en")
    # Japanese: Sudachi's dictionary forms meet across kana and kanji spellings
    assert "壊れる" in tokenize("こわれた", "ja") and "壊れる" in tokenize("壊れました", "ja")
    # Chinese: a wrong homophone character breaks a word, not every bigram
    assert {"#退货"} & set(tokenize("我想退货", "zh")) and "#退货" in tokenize("退货咋弄", "zh")


def test_lexical_index_scores_only_the_query_language():
    texts = ["how do I return it", "where is my parcel", "返品はできますか", "如何退货"]
    index = LexicalIndex(texts, ["en", "en", "ja", "zh"])
    scores = index.scores("return it please", "en")
    assert scores[0] > scores[1] and scores[2] == scores[3] == 0
    assert index.scores("退货", "zh")[3] > 0
    with pytest.raises(ValueError, match="grouped by language"):
        LexicalIndex(texts, ["en", "zh", "en", "ja"])


def test_language_is_read_from_the_script():
    assert detect_language("我的AirPods坏了能退吗") == "zh"
    assert detect_language("iPhoneの返品はできますか") == "ja"
    assert detect_language("can i send it back") == "en"
    assert detect_language("返品", available=("ja", "en")) == "ja"  # kanji-only Japanese
    assert detect_language("hello", available=("zh", "ja")) is None


def _rows():
    rows = []
    for lang, labels in (("en", ["Refunds", "Delivery"]), ("ja", ["返金", "配送"]), ("zh", ["退款", "配送时间"])):
        for label in labels:
            for k in range(2):
                rows.append({"id": f"{lang}-{label}-{k}", "language": lang, "annotation": label,
                             "question": f"{label} {k}", "answer": f"about {label}"})
    return rows


def _vectors(rows, noise=0.05, seed=0):
    """Each intent a direction shared across languages, plus noise."""
    rng = np.random.default_rng(seed)
    intent = {"Refunds": 0, "返金": 0, "退款": 0, "Delivery": 1, "配送": 1, "配送时间": 1}
    basis = np.eye(8)
    vectors = np.stack([basis[intent[r["annotation"]]] + noise * rng.standard_normal(8) for r in rows])
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_links_follow_the_intent_key_where_rows_give_one():
    rows = _rows()
    for r in rows:
        r["intent"] = "refund" if r["annotation"] in ("Refunds", "返金", "退款") else "delivery"
    links = build_links(rows, _vectors(rows))
    assert links["by_intent"] == 12 and links["by_encoder"] == 0
    assert link_map(links)[("en", "Refunds")] == {"ja": "返金", "zh": "退款"}


def test_links_align_by_the_encoder_and_leave_out_weak_matches():
    rows = _rows()
    links = build_links(rows, _vectors(rows))
    mapping = link_map(links)
    assert mapping[("zh", "配送时间")] == {"en": "Delivery", "ja": "配送"}
    assert all(link["confidence"] >= MIN_MARGIN and link["by"] == "encoder" for link in links["links"])
    # two intents the encoder cannot tell apart: no link rather than a coin flip
    vectors = np.ones((len(rows), 8), dtype=np.float32) / np.sqrt(8)
    weak = build_links(rows, vectors)
    assert weak["links"] == [] and weak["dropped"] and "margin" in weak["dropped"][0]["why"]


def test_zscore_is_per_query():
    z = zscore(np.array([[1.0, 2.0, 3.0], [10.0, 10.0, 10.0]]))
    np.testing.assert_allclose(z[0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    assert (z[1] == 0).all()


def test_pooling_lets_the_other_languages_outvote_a_misleading_row():
    rows = _rows()
    ranges = {"en": [0, 4], "ja": [4, 8], "zh": [8, 12]}
    blocks = language_blocks(rows, ranges)
    links = link_map(build_links(rows, _vectors(rows)))
    # an English query whose English rows point slightly to Delivery but every other language to Refunds
    dense = np.array([[0.50, 0.50, 0.52, 0.52, 0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.1, 0.1]], dtype=np.float32)
    alone = fuse(Strategy(texts=("q",)), {"q@text": dense}, None, "en", blocks, links)
    pooled = fuse(Strategy(texts=("q",), pooling=1.0), {"q@text": dense}, None, "en", blocks, links)
    assert rows[int(np.argmax(alone[0]))]["annotation"] == "Delivery"
    assert rows[int(np.argmax(pooled[0]))]["annotation"] == "Refunds"


def test_strategy_round_trips_and_names_itself():
    s = Strategy(texts=("q", "a", "qa"), roles=("text", "text2"), lexical=0.2, pooling=1.0,
                 calibration={"coef": [1.0, 0.5], "intercept": -3.0})
    assert s.id == "q+a+qa|text+text2|lex0.2|pool1"
    assert Strategy.from_dict(s.to_dict()) == s and Strategy.from_dict(s.to_dict()).calibration == s.calibration
    assert s.views == ("q@text", "a@text", "qa@text", "q@text2", "a@text2", "qa@text2")
    p = s.calibrated(np.array([4.0, 1.0]), best=4.0)
    assert 0 < p[1] < p[0] < 1
    assert DEFAULT_STRATEGY in candidates(("text",))
    assert {len(c.roles) for c in candidates(("text", "text2"))} == {1, 2}
