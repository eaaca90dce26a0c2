"""Helpers for the serving tests: tenants built and promoted with the real pipeline functions."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from mm_platform.encoders.models import ModelSet
from mm_platform.evaluation.gates import GateConfig
from mm_platform.indexing.versions import build_index_version
from mm_platform.inputs.tenancy import Layout
from mm_platform.modalities.faq import FaqModality
from mm_platform.pipeline import build_index, embed, evaluate, index_store, promote, validate

# Three intents per tenant in zh, en and ja; eval queries paraphrase them. Three queries per cell
# are far too few for the gates' statistics (they would be `underpowered`): these tests measure the
# service, so their tenants go live with the sample-size bound lifted.
TEST_GATES = GateConfig(min_n=1, min_f1=0.0, min_recall_at_1=0.0)
#: the text encoder alone (the serving tests do not need the ensemble's second encoder)
TEXT_ONLY = {"text": {"name": "use-multilingual-v3"}}
FAQ = {
    "acme": [
        ("en", "Return policy", "How do I return the headphones I bought?", "You can return them within 30 days."),
        ("en", "Shipping time", "How long does delivery take?", "Delivery takes three working days."),
        ("en", "Payment methods", "Which payment methods do you accept?", "We accept credit cards and PayPal."),
        ("zh", "退货政策", "我买的耳机怎么退货？", "30天内可以退货。"),
        ("zh", "配送时间", "配送需要多长时间？", "配送需要三个工作日。"),
        ("zh", "支付方式", "你们接受哪些支付方式？", "我们接受信用卡和支付宝。"),
        ("ja", "返品ポリシー", "購入したヘッドホンの返品方法は？", "30日以内なら返品できます。"),
        ("ja", "配送時間", "配送にはどのくらいかかりますか？", "配送には3営業日かかります。"),
        ("ja", "支払い方法", "どの支払い方法が使えますか？", "クレジットカードとPayPalが使えます。"),
    ],
    "globex": [
        ("en", "Book appointment", "How can I book an appointment with a doctor?", "Book online or call the front desk."),
        ("en", "Opening hours", "What are the clinic opening hours?", "We are open 8am to 6pm on weekdays."),
        ("en", "Insurance", "Do you accept my health insurance?", "We accept all national insurance plans."),
        ("zh", "预约挂号", "怎么预约医生？", "可以在线预约或致电前台。"),
        ("zh", "营业时间", "诊所几点开门？", "工作日早上8点到下午6点营业。"),
        ("zh", "医疗保险", "可以用医保吗？", "我们接受所有国家医保。"),
        ("ja", "予約", "医師の予約はどうすればいいですか？", "オンラインまたは受付に電話で予約できます。"),
        ("ja", "診療時間", "クリニックの診療時間は？", "平日の午前8時から午後6時までです。"),
        ("ja", "保険", "健康保険は使えますか？", "すべての国民健康保険が使えます。"),
    ],
}
EVAL = {
    "acme": [
        ("en", "Return policy", "Can I send back my headphones?"),
        ("en", "Shipping time", "When will my order arrive?"),
        ("en", "Payment methods", "Can I pay with a credit card?"),
        ("zh", "退货政策", "耳机可以退吗"),
        ("zh", "配送时间", "多久能送到"),
        ("zh", "支付方式", "可以用信用卡付款吗"),
        ("ja", "返品ポリシー", "ヘッドホンを返品したい"),
        ("ja", "配送時間", "いつ届きますか"),
        ("ja", "支払い方法", "クレジットカードで払えますか"),
    ],
    "globex": [
        ("en", "Book appointment", "I want to see a doctor, how do I make an appointment?"),
        ("en", "Opening hours", "When is the clinic open?"),
        ("en", "Insurance", "Is my insurance accepted?"),
        ("zh", "预约挂号", "我想预约看医生"),
        ("zh", "营业时间", "诊所什么时候营业"),
        ("zh", "医疗保险", "医保能用吗"),
        ("ja", "予約", "診察の予約を取りたい"),
        ("ja", "診療時間", "何時に開いていますか"),
        ("ja", "保険", "保険は使えますか"),
    ],
}


def write_tenant(layout: Layout, tenant: str, answer_suffix: str = "") -> None:
    rows = [{"id": f"{tenant}-{lang}-{i}", "question": q, "answer": a + answer_suffix, "language": lang,
             "annotation": ann} for i, (lang, ann, q, a) in enumerate(FAQ[tenant])]
    queries = [{"query": q, "language": lang, "annotation": ann} for lang, ann, q in EVAL[tenant]]
    folder = layout.tenant_data(tenant)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faq.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    (folder / "eval_queries.json").write_text(json.dumps(queries, ensure_ascii=False), "utf-8")


def build_and_promote(layout: Layout, tenant: str, run_id: str = "test") -> str:
    """validate -> embed -> build_index -> evaluate -> promote; returns the live version."""
    modality, models, gates = FaqModality(), ModelSet(choices=dict(TEXT_ONLY)), TEST_GATES
    dataset = validate(layout, tenant, modality)
    embeddings = embed(layout, tenant, modality, dataset, models)
    index_ref = build_index(layout, tenant, modality, dataset, embeddings)
    report = evaluate(layout, tenant, modality, dataset, index_ref, gates, run_id)
    result = promote(layout, tenant, modality, report, gates, run_id)
    return result["live_version"]


def build_speech_like_index(layout: Layout, tenant: str) -> str:
    """A text-embedded index in the speech modality's folder, shaped like the speech pipeline's
    (rows carry text/transcript, the manifest names an `asr` and a `text` model), built without
    audio: the transcripts are given. Promoted live; returns its version."""
    text = ModelSet().text
    rows = [
        {"id": "speech-en-1", "audio_path": "audio/en1.wav", "text": "I want to return my headphones",
         "transcript": "i want to return my headphones", "language": "en", "annotation": "Return policy",
         "title": "I want to return my headphones", "content": "Return policy", "tenant": tenant},
        {"id": "speech-en-2", "audio_path": "audio/en2.wav", "text": "Where is my parcel",
         "transcript": "where is my parcel", "language": "en", "annotation": "Shipping time",
         "title": "Where is my parcel", "content": "Shipping time", "tenant": tenant},
        {"id": "speech-zh-1", "audio_path": "audio/zh1.wav", "text": "我要退货", "transcript": "我要退货",
         "language": "zh", "annotation": "退货政策", "title": "我要退货", "content": "退货政策", "tenant": tenant},
    ]
    vectors = text.encode([r["transcript"] for r in rows])
    asr_spec = {"name": "faster-whisper", "version": "not-loaded", "languages": ["en", "zh"]}
    spec = {**text.spec(), "models": {"asr": asr_spec, "text": text.spec()}}
    store = index_store(layout, tenant, "speech")
    ref = build_index_version(store.versions_root, rows, vectors, spec, f"asr+{text.key}", tenant=tenant,
                              modality="speech", dataset_fingerprint="given-transcripts")
    store.promote(ref["version"], "test")
    return ref["version"]


def retrieval_body(knowledge_id: str, query: str, top_k: int = 5, score_threshold: float = 0.0,
                   metadata_condition: dict | None = None) -> dict:
    body = {"knowledge_id": knowledge_id, "query": query,
            "retrieval_setting": {"top_k": top_k, "score_threshold": score_threshold}}
    if metadata_condition is not None:
        body["metadata_condition"] = metadata_condition
    return body


def tenant_dir(layout: Layout, tenant: str) -> Path:
    return layout.tenant_data(tenant)


@contextlib.contextmanager
def ready_client(app):
    """A TestClient over `app` once /readyz says every live index is loaded (at most 10 s)."""
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        for _ in range(200):
            if client.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        yield client
