"""Joint queries: one request carrying text, audio, image and video, answered from the tenant's
FAQ with a fused ranking (the seed's "联合查询").

Every input is first turned into FAQ-space text by its own live index: the text as is, speech
through the ASR model of the speech index, a photo or clip through the label of its best
match in the image or video index (which names the product). Each text scores the FAQ rows of
the request's language with the FAQ index's own encoder, and the scores are fused by a weighted
sum (CombSUM): questions carry the intent, pictures the product, so the entry about that intent
for that product comes first. Rank fusion (RRF) was measured first and lost: a picture ranks the
product's entries of every intent alike, and with equal votes it drowned the question's intent.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mm_platform.atomic import atomic_write_json, write_jsonl
from mm_platform.evaluation.gates import GateConfig, judge
from mm_platform.evaluation.metrics import f1_macro, latency_percentiles_ms, mean_reciprocal_rank, recall_at_k
from mm_platform.evaluation.stats import bootstrap_f1_interval, wilson_interval
from mm_platform.indexing.versions import now_iso
from mm_platform.inputs.tenancy import Layout
from mm_platform.inputs.validation import RowError, language_field, load_records, require_object, text_field
from mm_platform.modalities.base import JOINT_KEY, Modality
from mm_platform.retrieval.live import LiveIndex

JOINT_FIELDS = {"query": "faq", "audio_path": "speech", "image_path": "image", "video_path": "video"}
#: weight of each input's cosine in the fused score: questions name the intent, pictures the product
WEIGHTS = {"faq": 1.0, "speech": 1.0, "image": 0.5, "video": 0.5}


def parse_joint_requests(tenant_dir: Path) -> tuple[list[dict], list[dict]]:
    """Joint requests of eval_queries.json: rows with a `joint` object of inputs (at least two)."""
    path = next((Path(tenant_dir) / n for n in ("eval_queries.json", "eval_queries.jsonl")
                 if (Path(tenant_dir) / n).is_file()), None)
    requests, quarantine = [], []
    if path is None:
        return requests, quarantine
    for row_no, record in load_records(path):
        if not isinstance(record, dict) or JOINT_KEY not in record:
            continue
        try:
            obj = require_object(record)
            parts = obj[JOINT_KEY]
            if not isinstance(parts, dict) or len(set(parts) & set(JOINT_FIELDS)) < 2:
                raise RowError(JOINT_KEY, f"expected an object with two or more of {', '.join(JOINT_FIELDS)}")
            unknown = sorted(set(parts) - set(JOINT_FIELDS))
            if unknown:
                raise RowError(JOINT_KEY, f"unknown input(s) {', '.join(unknown)}")
            for name in parts:
                text_field(parts, name)
            requests.append({"joint": parts, "language": language_field(obj), "annotation": text_field(obj, "annotation"),
                             "entity": text_field(obj, "entity", required=False), "source_row": row_no})
        except RowError as err:
            quarantine.append({"file": path.name, "row": row_no, "field": err.field, "reason": err.reason})
    return requests, quarantine


class JointAnswerer:
    """The live indexes of one tenant, loaded once, answering joint requests."""

    def __init__(self, layout: Layout, tenant: str, modalities: dict[str, Modality]):
        self.tenant_dir = layout.tenant_data(tenant)
        self.live = {name: LiveIndex.load(layout, tenant, modalities[name]) for name in JOINT_FIELDS.values()
                     if name in modalities}
        if not self.live.get("faq"):
            raise LookupError(f"{tenant}: no live FAQ index to answer joint queries from")

    def versions(self) -> dict[str, str]:
        return {name: live.handle.version for name, live in self.live.items() if live}

    def texts(self, parts: dict, language: str) -> list[tuple[str, str]]:
        """(source, FAQ-space text) for each input whose modality is live and supports it."""
        out = []
        for field, value in parts.items():
            name = JOINT_FIELDS[field]
            live = self.live.get(name)
            if name == "faq":
                out.append(("faq", value))
            elif live is None:
                continue
            elif name == "speech":
                query = {"audio_path": value, "language": language}
                if not live.modality.query_unsupported(query, live.models):
                    out.append(("speech", live.modality.transcribe_query(query, live.models, self.tenant_dir)))
            else:
                hits = live.search({field: value}, self.tenant_dir, k=1, language=language)
                if hits:
                    out.append((name, hits[0]["annotation"]))
        return out

    def answer(self, parts: dict, language: str, k: int = 5) -> list[dict]:
        faq = self.live["faq"]
        texts = self.texts(parts, language)
        if not texts:
            return []
        vectors = faq.models.text.encode([t for _, t in texts])
        lo, hi = faq.handle.manifest["language_ranges"].get(language, (0, 0))
        scores: dict[int, float] = defaultdict(float)
        rows: dict[int, dict] = {}
        # every row of the language is scored by every input (exact search over the language's range)
        for (source, _), hits in zip(texts, faq.handle.search(vectors, k=max(1, hi - lo), language=language)):
            for hit in hits:
                scores[id(hit.row)] += WEIGHTS[source] * hit.score
                rows[id(hit.row)] = hit.row
        order = sorted(scores, key=lambda key: -scores[key])[:k]
        return [{"fused_score": round(scores[key], 5), **rows[key]} for key in order]


def evaluate_joint(layout: Layout, tenant: str, modalities: dict[str, Modality], k: int = 5,
                   gates: GateConfig | None = None) -> dict:
    """Evaluation rows (modality "joint") per language of the tenant's joint requests, on what is live."""
    requests, quarantine = parse_joint_requests(layout.tenant_data(tenant))
    write_jsonl(layout.quarantine_dir(tenant) / "joint.jsonl", quarantine)
    if not requests:
        return {"present": False, "reason": "no joint requests in eval_queries.json", "quarantine": quarantine}
    answerer = JointAnswerer(layout, tenant, modalities)
    by_language = defaultdict(list)
    for request in requests:
        by_language[request["language"]].append(request)
    rows = []
    for language, items in sorted(by_language.items()):
        answerer.answer(items[0]["joint"], language)  # warm-up: first-call costs are not latency
        ranked, predicted, entity_hits, latencies, errors = [], [], [], [], 0
        for request in items:
            started = time.perf_counter()
            try:
                hits = answerer.answer(request["joint"], language, k)
            except Exception:  # noqa: BLE001 - an error is a measured outcome
                errors += 1
                hits = []
            latencies.append(time.perf_counter() - started)
            labels = [h["annotation"] for h in hits]
            ranked.append(labels)
            predicted.append(labels[0] if labels else None)
            if request["entity"]:
                entity_hits.append(bool(hits) and hits[0].get("entity") == request["entity"])
        truth = [r["annotation"] for r in items]
        r1_ci = wilson_interval(sum(p == t for p, t in zip(predicted, truth)), len(truth))
        f1_ci = bootstrap_f1_interval(predicted, truth)
        rows.append({
            "tenant": tenant, "modality": "joint", "language": language, "n_queries": len(items),
            "model": "fused(" + ", ".join(sorted(answerer.versions())) + ")", "index_version": json.dumps(answerer.versions()),
            "recall_at_1": round(recall_at_k(ranked, truth, 1), 4), "recall_at_5": round(recall_at_k(ranked, truth, 5), 4),
            "mrr": round(mean_reciprocal_rank(ranked, truth), 4), "f1_macro": round(f1_macro(predicted, truth), 4),
            "recall_at_1_ci": [round(x, 4) for x in r1_ci], "f1_macro_ci": [round(x, 4) for x in f1_ci],
            "entity_accuracy": round(float(np.mean(entity_hits)), 4) if entity_hits else None,
            **latency_percentiles_ms(latencies),
            "throughput_qps": round(len(items) / sum(latencies), 1) if sum(latencies) else 0.0,
            "error_rate": round(errors / len(items), 5), "n_unsupported": 0, "unsupported_reason": None,
        })
    judge(rows, gates or GateConfig(), [])  # verdicts for the report; the joint check only warns
    report = {"present": True, "tenant": tenant, "modality": "joint", "evaluated_at": now_iso(),
              "versions": answerer.versions(), "rows": rows, "quarantine": quarantine}
    atomic_write_json(layout.artifact(tenant, "indexes", "joint", "evaluation.json"), report)
    return report
