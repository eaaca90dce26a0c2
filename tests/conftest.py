"""Shared fixtures: isolated data/storage folders and small hand-written tenants."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from mm_platform.inputs.tenancy import Layout  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

TINY_FAQ = [
    {"question": "How do I return the headphones?", "answer": "Within 30 days.", "language": "en", "annotation": "Return policy"},
    {"question": "How long does shipping take?", "answer": "Three days.", "language": "en", "annotation": "Shipping time"},
    {"question": "耳机怎么退货？", "answer": "30天内可退。", "language": "zh", "annotation": "退货政策"},
    {"question": "发货要多久？", "answer": "三天。", "language": "zh", "annotation": "配送时间"},
    {"question": "ヘッドホンの返品方法は？", "answer": "30日以内です。", "language": "ja", "annotation": "返品ポリシー"},
    {"question": "配送にはどのくらいかかりますか？", "answer": "3日です。", "language": "ja", "annotation": "配送時間"},
]
TINY_EVAL = [
    {"query": "Can I send the headphones back?", "language": "en", "annotation": "Return policy"},
    {"query": "When will my parcel arrive?", "language": "en", "annotation": "Shipping time"},
    {"query": "可以退耳机吗", "language": "zh", "annotation": "退货政策"},
    {"query": "多久能收到货", "language": "zh", "annotation": "配送时间"},
    {"query": "ヘッドホンを返したい", "language": "ja", "annotation": "返品ポリシー"},
    {"query": "いつ届きますか", "language": "ja", "annotation": "配送時間"},
]


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), "utf-8")
    return path


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "data", tmp_path / "storage")


@pytest.fixture
def tiny_tenant(layout: Layout) -> str:
    """One tenant with six good FAQ rows (two per language) and six eval queries."""
    write_json(layout.tenant_data("acme") / "faq.json", TINY_FAQ)
    write_json(layout.tenant_data("acme") / "eval_queries.json", TINY_EVAL)
    return "acme"
