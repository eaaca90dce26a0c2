"""Cross-lingual links between a tenant's intent labels, for pooling votes across languages.

Labels are per language ("退货政策", "Return policy", "返品ポリシー"). Rows that carry the optional
`intent` key are linked by it. Labels without one are aligned by the cross-lingual encoder: the
centroids of two languages' labels are matched when each is the other's best match and the best
beats the runner-up by `MIN_MARGIN` (the link's confidence); weaker candidates are left out and
recorded, so a wrong link cannot quietly move votes to another intent.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

#: an encoder alignment is kept only when its cosine beats the runner-up's by this much
MIN_MARGIN = 0.03

LabelKey = tuple[str, str]  # (language, annotation)


def _intent_links(rows: list[dict]) -> tuple[list[dict], set[LabelKey]]:
    keys: dict[LabelKey, set[str]] = defaultdict(set)
    for row in rows:
        keys[(row["language"], row["annotation"])].add(row.get("intent") or "")
    keyed = {label: next(iter(k)) for label, k in keys.items() if len(k) == 1 and "" not in k}
    by_intent: dict[str, list[LabelKey]] = defaultdict(list)
    for label, intent in keyed.items():
        by_intent[intent].append(label)
    links = [{"from": list(a), "to": list(b), "confidence": 1.0, "by": "intent"}
             for group in by_intent.values() for a in group for b in group if a[0] != b[0]]
    return links, set(keyed)


def _aligned_links(rows: list[dict], vectors: np.ndarray, skip: set[LabelKey]) -> tuple[list[dict], list[dict]]:
    members: dict[LabelKey, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        label = (row["language"], row["annotation"])
        if label not in skip:
            members[label].append(i)
    centroids = {}
    for label, idx in members.items():
        c = vectors[idx].mean(axis=0)
        centroids[label] = c / max(float(np.linalg.norm(c)), 1e-9)
    languages = sorted({label[0] for label in centroids})
    links, dropped = [], []
    for a in languages:
        for b in languages:
            if a == b:
                continue
            left = [k for k in centroids if k[0] == a]
            right = [k for k in centroids if k[0] == b]
            if not left or not right:
                continue
            sims = np.stack([centroids[k] for k in left]) @ np.stack([centroids[k] for k in right]).T
            for i, label in enumerate(left):
                j = int(np.argmax(sims[i]))
                ordered = np.sort(sims[i])[::-1]
                margin = float(ordered[0] - (ordered[1] if len(ordered) > 1 else 0.0))
                mutual = int(np.argmax(sims[:, j])) == i
                record = {"from": list(label), "to": list(right[j]), "confidence": round(margin, 4),
                          "cosine": round(float(ordered[0]), 4), "by": "encoder"}
                (links if mutual and margin >= MIN_MARGIN else dropped).append(
                    record if mutual and margin >= MIN_MARGIN else
                    {**record, "why": "not mutual best" if not mutual else f"margin {margin:.3f} < {MIN_MARGIN}"})
    return links, dropped


def build_links(rows: list[dict], vectors: np.ndarray) -> dict:
    """The links file of an index version: by intent key where rows give one, else by encoder."""
    links, keyed = _intent_links(rows)
    aligned, dropped = _aligned_links(rows, vectors, keyed)
    return {"links": links + aligned, "dropped": dropped, "min_margin": MIN_MARGIN,
            "by_intent": len(links), "by_encoder": len(aligned)}


def link_map(links_file: dict | None) -> dict[LabelKey, dict[str, str]]:
    """{(language, label): {other language: linked label}}."""
    out: dict[LabelKey, dict[str, str]] = defaultdict(dict)
    for link in (links_file or {}).get("links", []):
        out[tuple(link["from"])][link["to"][0]] = link["to"][1]
    return dict(out)
