"""Demo FAQ generator: content tables, profile sizes, held-out queries, determinism and files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mm_platform.demo import faq
from mm_platform.demo.faq import LANGUAGES, PROFILES, TENANTS, build_faq_rows, normalize_text, write_faq_demo
from mm_platform.demo.faq_content import CONTENT
from mm_platform.demo.queries import query_templates
from mm_platform.retrieval.baseline import MAX_BASELINE_F1, baseline_f1_by_language

FAQ_KEYS = {"id", "question", "answer", "language", "annotation", "entity", "intent"}
QUERY_KEYS = {"query", "language", "annotation"}
CASES = [(tenant, profile) for tenant in TENANTS for profile in PROFILES]


@pytest.fixture(scope="module")
def built() -> dict[tuple[str, str], tuple[list[dict], list[dict]]]:
    return {case: build_faq_rows(*case) for case in CASES}


def test_content_covers_every_tenant_with_enough_intents_and_entities():
    assert set(CONTENT) == set(TENANTS)
    for tenant, content in CONTENT.items():
        assert len(content.intents) >= 20, tenant
        assert len(content.entities) >= 40, tenant
        assert len({i.key for i in content.intents}) == len(content.intents)
        assert len({e.key for e in content.entities}) == len(content.entities)
        for language in LANGUAGES:
            labels = [intent.label[language] for intent in content.intents]
            assert len(set(labels)) == len(labels), (tenant, language)
            names = [entity.name[language] for entity in content.entities]
            assert len(set(names)) == len(names), (tenant, language)


def test_every_intent_has_faq_and_held_out_templates_in_every_language():
    for tenant, content in CONTENT.items():
        templates = query_templates(tenant)
        assert set(templates) == {intent.key for intent in content.intents}, tenant
        for intent in content.intents:
            for language in LANGUAGES:
                faq_templates, held_out = intent.faq[language], templates[intent.key][language]
                assert len(faq_templates) >= 2 and len(set(held_out)) >= 12, (tenant, intent.key, language)
                for template in (*faq_templates, intent.answer[language]):
                    assert "{entity}" in template, (tenant, intent.key, template)
                for template in held_out:  # only the two placeholders the generator fills
                    template.format(entity="x", entity_en="y")
                copies = {normalize_text(t) for t in faq_templates} & {normalize_text(t) for t in held_out}
                assert not copies, (tenant, intent.key, copies)


@pytest.mark.parametrize(("tenant", "profile"), CASES)
def test_build_is_deterministic(built, tenant, profile):
    assert build_faq_rows(tenant, profile) == built[tenant, profile]


def test_another_seed_gives_other_rows(built):
    assert build_faq_rows("ecommerce", "small", seed=1) != built["ecommerce", "small"]


@pytest.mark.parametrize("tenant", TENANTS)
def test_seed_profile_has_about_5000_rows_balanced_over_languages(built, tenant):
    rows, queries = built[tenant, "seed"]
    assert 4900 <= len(rows) <= 5000
    per_language = Counter(row["language"] for row in rows)
    assert set(per_language) == set(LANGUAGES)
    assert len(set(per_language.values())) == 1
    assert Counter(q["language"] for q in queries) == {language: 300 for language in LANGUAGES}
    for language in LANGUAGES:
        annotated = {q["annotation"] for q in queries if q["language"] == language}
        assert len(annotated) == len(CONTENT[tenant].intents), language


@pytest.mark.parametrize("tenant", TENANTS)
def test_seed_profile_keeps_every_intent_entity_pair(built, tenant):
    rows, _ = built[tenant, "seed"]
    content = CONTENT[tenant]
    for language in LANGUAGES:
        pairs = {(row["annotation"], row["entity"]) for row in rows if row["language"] == language}
        assert len(pairs) == len(content.intents) * len(content.entities), language


@pytest.mark.parametrize("tenant", TENANTS)
def test_small_profile_is_a_few_dozen_rows(built, tenant):
    rows, queries = built[tenant, "small"]
    assert Counter(row["language"] for row in rows) == {language: 20 for language in LANGUAGES}
    assert Counter(q["language"] for q in queries) == {language: 120 for language in LANGUAGES}
    for language in LANGUAGES:
        assert len({row["annotation"] for row in rows if row["language"] == language}) == 10
        assert len({row["entity"] for row in rows if row["language"] == language}) == 2


@pytest.mark.parametrize(("tenant", "profile"), CASES)
def test_rows_have_required_non_empty_fields_and_unique_ids(built, tenant, profile):
    rows, queries = built[tenant, profile]
    for row in rows:
        assert set(row) == FAQ_KEYS
        assert all(isinstance(value, str) and value.strip() for value in row.values()), row
        assert row["language"] in LANGUAGES
        assert "{" not in row["answer"] and "}" not in row["answer"], row
        assert row["entity"] in row["question"] and row["entity"] in row["answer"], row
    for query in queries:
        assert set(query) == QUERY_KEYS
        assert all(isinstance(value, str) and value.strip() for value in query.values()), query
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids)
    assert all(row_id.startswith(f"{tenant}-{row['language']}-") for row_id, row in zip(ids, rows))


@pytest.mark.parametrize(("tenant", "profile"), CASES)
def test_eval_annotations_exist_among_faq_rows_of_the_same_language(built, tenant, profile):
    rows, queries = built[tenant, profile]
    annotations = {(row["language"], row["annotation"]) for row in rows}
    assert {q["language"] for q in queries} == set(LANGUAGES)
    for query in queries:
        assert (query["language"], query["annotation"]) in annotations, query


@pytest.mark.parametrize(("tenant", "profile"), CASES)
def test_no_eval_query_copies_an_faq_question(built, tenant, profile):
    rows, queries = built[tenant, profile]
    questions = {normalize_text(row["question"]) for row in rows}
    assert not [q["query"] for q in queries if normalize_text(q["query"]) in questions]


def test_normalize_text_drops_case_space_and_cjk_punctuation():
    assert normalize_text(" Hello, World! ") == "helloworld"
    assert normalize_text("可以退货吗？") == normalize_text("可以退货吗")
    assert normalize_text("「返品」できますか。") == "返品できますか"


def test_a_query_copying_an_faq_question_raises(monkeypatch):
    content = CONTENT["medical"]
    real = query_templates("medical")
    leaky = {intent.key: {lang: intent.faq[lang] + real[intent.key][lang][:4] for lang in LANGUAGES}
             for intent in content.intents}
    monkeypatch.setattr(faq, "query_templates", lambda tenant: leaky)
    with pytest.raises(ValueError, match="copy an FAQ question"):
        build_faq_rows("medical", "small")


@pytest.mark.parametrize(("tenant", "profile"), CASES)
def test_keyword_overlap_cannot_answer_the_demo_queries(built, tenant, profile):
    """The lexical baseline (character n-gram TF-IDF against the FAQ question, top-1 row) stays at
    or below MAX_BASELINE_F1 macro F1 in every language: the gates cannot be passed by keywords."""
    rows, queries = built[tenant, profile]
    for language, figure in baseline_f1_by_language(rows, queries).items():
        assert figure["n"] >= (120 if profile == "small" else 300)
        assert figure["f1_macro"] <= MAX_BASELINE_F1, (tenant, profile, language, figure)


def test_unknown_tenant_or_profile_is_rejected():
    with pytest.raises(ValueError, match="tenant"):
        build_faq_rows("retail", "small")
    with pytest.raises(ValueError, match="profile"):
        build_faq_rows("ecommerce", "large")


def test_write_faq_demo_writes_readable_utf8_json(tmp_path):
    counts = write_faq_demo(tmp_path, profile="small")
    assert set(counts) == set(TENANTS)
    for tenant in TENANTS:
        tenant_dir = tmp_path / tenant
        faq_rows = json.loads((tenant_dir / "faq.json").read_text("utf-8"))
        queries = json.loads((tenant_dir / "eval_queries.json").read_text("utf-8"))
        assert counts[tenant] == {"faq": len(faq_rows), "eval_queries": len(queries)}
        assert (faq_rows, queries) == build_faq_rows(tenant, "small")
        raw = (tenant_dir / "faq.json").read_text("utf-8")
        assert "\\u" not in raw and any(ord(ch) > 127 for ch in raw)
        assert sorted(p.name for p in tenant_dir.iterdir()) == ["eval_queries.json", "faq.json"]


def test_write_faq_demo_is_byte_identical_across_runs(tmp_path):
    write_faq_demo(tmp_path / "a", profile="small", seed=3, tenants=("education",))
    write_faq_demo(tmp_path / "b", profile="small", seed=3, tenants=("education",))
    for name in ("faq.json", "eval_queries.json"):
        assert (tmp_path / "a" / "education" / name).read_bytes() == (tmp_path / "b" / "education" / name).read_bytes()
