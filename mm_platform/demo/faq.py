"""Deterministic demo FAQ: stored questions with answers, plus held-out evaluation queries.

FAQ rows cross a tenant's intents, entities and FAQ templates in every language; eval
queries fill held-out paraphrase templates with the same entities. Everything random is
drawn from `random.Random(f"{seed}:{tenant}:{profile}")`, so a (tenant, profile, seed)
always gives the same rows and byte-identical files.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mm_platform.atomic import atomic_write_json
from mm_platform.demo.faq_content import CONTENT, Entity, Intent, TenantContent
from mm_platform.demo.queries import query_templates

TENANTS: tuple[str, ...] = ("ecommerce", "medical", "education")
LANGUAGES: tuple[str, ...] = ("zh", "en", "ja")
PROFILES = ("small", "seed")
#: a few rows of every kind for tests of the machinery (too few queries for the default gates:
#: tests that use it lift the sample-size bound); not offered by the CLI
TEST_PROFILE = "tiny"

T = TypeVar("T")


@dataclass(frozen=True)
class ProfileSize:
    """How much of a tenant's content a profile uses; None means all of it."""

    intents: int | None
    entities: int | None
    faq_templates: int | None
    faq_rows_per_language: int
    queries_per_language: int


PROFILE_SIZES = {
    "small": ProfileSize(
        intents=10, entities=2, faq_templates=1, faq_rows_per_language=20, queries_per_language=120
    ),
    TEST_PROFILE: ProfileSize(
        intents=4, entities=2, faq_templates=1, faq_rows_per_language=8, queries_per_language=12
    ),
    "seed": ProfileSize(
        intents=None,
        entities=None,
        faq_templates=None,
        faq_rows_per_language=5000 // len(LANGUAGES),
        queries_per_language=300,
    ),
}


def build_faq_rows(tenant: str, profile: str, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Return (faq_rows, eval_queries) for one tenant; deterministic for (tenant, profile, seed)."""
    if tenant not in CONTENT:
        raise ValueError(f"unknown tenant {tenant!r}; expected one of {TENANTS}")
    if profile not in PROFILE_SIZES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    size = PROFILE_SIZES[profile]
    content: TenantContent = CONTENT[tenant]
    rng = random.Random(f"{seed}:{tenant}:{profile}")
    intents = _pick(rng, content.intents, size.intents)
    entities = _pick(rng, content.entities, size.entities)
    numbers = {(i.key, e.key): rng.choice(i.numbers) for i in intents for e in entities}

    faq_rows: list[dict] = []
    eval_queries: list[dict] = []
    for language in LANGUAGES:
        pair_groups = [
            [
                _faq_row(tenant, language, intent, entity, template_idx, numbers[intent.key, entity.key])
                for template_idx in _pick(rng, range(len(intent.faq[language])), size.faq_templates)
            ]
            for intent in intents
            for entity in entities
        ]
        faq_rows += _sample_keeping_every_pair(rng, pair_groups, size.faq_rows_per_language)
        eval_queries += _eval_queries(rng, language, intents, entities, size.queries_per_language,
                                      query_templates(tenant))
    _check_queries_held_out(faq_rows, eval_queries)
    return faq_rows, eval_queries


def write_faq_demo(
    out_dir: Path, profile: str = "small", seed: int = 0, tenants: Iterable[str] = TENANTS
) -> dict[str, dict[str, int]]:
    """Write out_dir/<tenant>/faq.json and out_dir/<tenant>/eval_queries.json.

    Each file is a UTF-8 JSON list written atomically; returns {tenant: {"faq": n, "eval_queries": m}}.
    """
    counts: dict[str, dict[str, int]] = {}
    for tenant in tenants:
        faq_rows, eval_queries = build_faq_rows(tenant, profile, seed)
        tenant_dir = Path(out_dir) / tenant
        atomic_write_json(tenant_dir / "faq.json", faq_rows)
        atomic_write_json(tenant_dir / "eval_queries.json", eval_queries)
        counts[tenant] = {"faq": len(faq_rows), "eval_queries": len(eval_queries)}
    return counts


def normalize_text(text: str) -> str:
    """Casefold and drop whitespace and punctuation (CJK punctuation included)."""
    return "".join(
        ch for ch in text.casefold() if not ch.isspace() and not unicodedata.category(ch).startswith("P")
    )


def format_price(usd: int, language: str) -> str:
    """Show a US-dollar amount in the language's usual currency, at rounded rates."""
    if language == "zh":
        return f"{usd * 7}元"
    if language == "ja":
        return f"{usd * 150:,}円"
    return f"${usd}"


def _pick(rng: random.Random, items: Sequence[T], count: int | None) -> list[T]:
    """`count` items drawn at random, kept in table order; all of them when count is None."""
    if count is None:
        return list(items)
    return [items[i] for i in sorted(rng.sample(range(len(items)), count))]


def _faq_row(tenant: str, language: str, intent: Intent, entity: Entity, template_idx: int, number: int) -> dict:
    name = entity.name[language]
    return {
        "id": f"{tenant}-{language}-{intent.key}-{entity.key}-{template_idx}",
        "question": intent.faq[language][template_idx].format(entity=name),
        "answer": intent.answer[language].format(entity=name, n=number, price=format_price(number, language)),
        "language": language,
        "annotation": intent.label[language],
        "entity": name,
        # the tenant's own language-independent key of the intent: links the label across languages
        "intent": intent.key,
    }


def _sample_keeping_every_pair(rng: random.Random, pair_groups: list[list[dict]], limit: int) -> list[dict]:
    """Cut rows down to `limit`, keeping a row of every (intent, entity) group and the table order."""
    positions = [(g, r) for g, group in enumerate(pair_groups) for r in range(len(group))]
    chosen = {(g, rng.randrange(len(group))) for g, group in enumerate(pair_groups)}
    spare = [position for position in positions if position not in chosen]
    chosen |= set(rng.sample(spare, min(len(spare), max(0, limit - len(chosen)))))
    return [pair_groups[g][r] for g, r in positions if (g, r) in chosen]


def _eval_queries(
    rng: random.Random, language: str, intents: Sequence[Intent], entities: Sequence[Entity], count: int,
    templates_by_intent: dict[str, dict[str, tuple[str, ...]]],
) -> list[dict]:
    """`count` queries spread evenly over the intents, each a held-out template filled with a
    random entity (templates without an entity are used once)."""
    base, extra = divmod(count, len(intents))
    with_extra = set(rng.sample(range(len(intents)), extra))
    queries = []
    for idx, intent in enumerate(intents):
        texts = {template.format(entity=entity.name[language], entity_en=entity.name["en"]): None
                 for template in templates_by_intent[intent.key][language] for entity in entities}
        wanted = base + (idx in with_extra)
        texts = list(texts)
        if len(texts) < wanted:
            raise ValueError(f"{intent.key}/{language}: {len(texts)} distinct queries for {wanted} wanted")
        for text in rng.sample(texts, wanted):
            queries.append({"query": text, "language": language, "annotation": intent.label[language]})
    return queries


def _check_queries_held_out(faq_rows: list[dict], eval_queries: list[dict]) -> None:
    """Raise when an eval query is, once normalized, the same text as an FAQ question."""
    questions = {normalize_text(row["question"]) for row in faq_rows}
    copies = [q["query"] for q in eval_queries if normalize_text(q["query"]) in questions]
    if copies:
        raise ValueError(f"{len(copies)} eval queries copy an FAQ question, e.g. {copies[0]!r}")
