"""Held-out evaluation queries of the demo tenants, written the way customers write.

One module per tenant maps an intent key to query templates per language. The templates avoid
the key terms of the FAQ questions (paraphrases, colloquial and short forms, typos, Latin product
names inside Chinese and Japanese text, questions only the answer's content resolves), so the
lexical baseline (`mm_platform.retrieval.baseline`) stays at or below 0.60 macro F1 in every cell.

Placeholders: `{entity}` is the product/service/course name in the template's language,
`{entity_en}` its English name (mixed scripts); a template may also name no entity at all.
"""

from __future__ import annotations

from importlib import import_module


def query_templates(tenant: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """{intent key: {language: templates}} of a demo tenant."""
    return import_module(f"{__name__}.{tenant}").QUERIES
