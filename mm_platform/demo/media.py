"""Deterministic demo media: product pictures, synthesised speech and short videos per tenant.

`write_media_demo` writes, under `out_dir/<tenant>/` (every path in the manifests is
relative to that tenant folder):

* `images/*.jpg` + `images.csv`: one procedurally drawn 512x512 product picture per
  product (an entity of the tenant in a colour / shape / pattern variant), one csv row
  per (picture, language) with a description and the product's name in that language;
* `speech/*.wav` + `speech.json`: the tenant's held-out FAQ eval queries spoken by
  espeak-ng (English voice `en`, Mandarin `cmn-latn-pinyin` fed tone-numbered pinyin,
  Japanese `ja` fed hiragana), 16 kHz mono 16-bit PCM;
* `video/*.mp4` + `video.json`: 3 s 1280x720 H.264 clips of a product (the picture
  moving and zooming over a plain background, a close-up, a label card);
* evaluation queries appended to `eval_queries.json`: perturbed photos of products
  (`queries/images/`), spoken queries whose texts are disjoint from the spoken corpus
  (`queries/speech/`) and 1 s clips of perturbed video frames (`queries/video/`).

Everything random comes from `random.Random(f"{seed}:{tenant}:{profile}:media")` (and a
numpy generator seeded from it), so a rerun writes byte-identical files. Rerunning into
the same folder replaces the media queries in `eval_queries.json` (text queries are kept)
and removes media files of an earlier run that the new manifests no longer list.
"""

from __future__ import annotations

import csv
import io
import random
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mm_platform.atomic import atomic_write_json, atomic_write_text
from mm_platform.demo.faq import LANGUAGES, PROFILES, TENANTS, build_faq_rows
from mm_platform.demo.faq_content import CONTENT, Entity

IMAGE_SIZE = 512
VIDEO_SIZE = (1280, 720)  # width, height
QUERY_VIDEO_SIZE = (960, 540)
VIDEO_FPS = 8
SAMPLE_RATE = 16000
ESPEAK = "espeak-ng"
SPEECH_WORKERS = 2
MEDIA_QUERY_KEYS = ("image_path", "audio_path", "video_path", "joint")

# The demo's spoken queries cover zh and ja too, but the embedded ASR model (faster-whisper tiny.en)
# hears English only: those cells cannot be measured, so the demo says why instead of passing them.
DEMO_TENANT_YAML = """\
# Written by `mm demo-data`. Cells that cannot be measured must be excused with a reason.
excuse:
  speech:
    zh: "the embedded ASR model (faster-whisper tiny.en) is English-only"
    ja: "the embedded ASR model (faster-whisper tiny.en) is English-only"
"""

# frames of the three video scenes at VIDEO_FPS: product moving/zooming, close-up, label card
SCENE_FRAMES = (12, 8, 4)


@dataclass(frozen=True)
class MediaProfile:
    products: int
    image_queries: int
    speech_rows: int
    audio_queries_per_language: int
    joint_per_language: int
    videos: int
    video_queries: int


MEDIA_PROFILES = {
    # every gated cell gets at least 30 scored queries (fewer is `underpowered` and cannot pass):
    # photos and clips are one cell per tenant, spoken queries one per language
    "small": MediaProfile(
        products=6, image_queries=36, speech_rows=180, audio_queries_per_language=30, videos=4, video_queries=30,
        joint_per_language=4
    ),
    "tiny": MediaProfile(
        products=3, image_queries=6, speech_rows=12, audio_queries_per_language=3, videos=2, video_queries=4,
        joint_per_language=2
    ),
    "seed": MediaProfile(
        products=334, image_queries=100, speech_rows=1000, audio_queries_per_language=100, videos=34, video_queries=60,
        joint_per_language=20
    ),
}

# --- vocabulary: (rgb, zh, en, ja adjective, ja noun) ---

COLOURS: dict[str, tuple[tuple[int, int, int], str, str, str, str]] = {
    "red": ((214, 38, 38), "红色", "red", "赤い", "赤"),
    "orange": ((246, 138, 22), "橙色", "orange", "オレンジ色の", "オレンジ"),
    "yellow": ((246, 212, 32), "黄色", "yellow", "黄色い", "黄色"),
    "green": ((38, 150, 62), "绿色", "green", "緑の", "緑"),
    "teal": ((0, 148, 150), "青绿色", "teal", "青緑の", "青緑"),
    "blue": ((38, 92, 222), "蓝色", "blue", "青い", "青"),
    "navy": ((26, 36, 102), "藏青色", "navy", "紺色の", "紺"),
    "purple": ((128, 48, 170), "紫色", "purple", "紫の", "紫"),
    "pink": ((242, 122, 182), "粉色", "pink", "ピンクの", "ピンク"),
    "brown": ((118, 70, 30), "棕色", "brown", "茶色の", "茶色"),
    "black": ((26, 26, 26), "黑色", "black", "黒い", "黒"),
    "white": ((246, 246, 246), "白色", "white", "白い", "白"),
    "gray": ((130, 130, 130), "灰色", "gray", "グレーの", "グレー"),
}

SHAPES: dict[str, tuple[str, str, str]] = {
    "circle": ("圆形", "round", "丸い"),
    "square": ("方形", "square", "四角い"),
    "triangle": ("三角形", "triangular", "三角形の"),
    "hexagon": ("六边形", "hexagonal", "六角形の"),
    "star": ("星形", "star-shaped", "星形の"),
    "diamond": ("菱形", "diamond-shaped", "ひし形の"),
    "capsule": ("胶囊形", "capsule-shaped", "カプセル形の"),
    "cross": ("十字形", "cross-shaped", "十字形の"),
}

PATTERNS: dict[str, tuple[str, str, str]] = {
    "plain": ("纯色", "plain", "無地"),
    "stripes": ("条纹", "stripes", "ストライプ"),
    "diagonal": ("斜条纹", "diagonal stripes", "斜めストライプ"),
    "dots": ("圆点", "dots", "水玉模様"),
    "checks": ("格子", "checks", "チェック柄"),
    "gradient": ("渐变", "gradient", "グラデーション"),
    "waves": ("波浪纹", "waves", "波模様"),
}

BACKGROUNDS: dict[str, tuple[tuple[int, int, int], str, str, str]] = {
    "light_gray": ((222, 222, 222), "浅灰色", "light gray", "薄いグレー"),
    "cream": ((250, 242, 222), "米白色", "cream", "クリーム色"),
    "pale_blue": ((204, 224, 246), "淡蓝色", "pale blue", "水色"),
    "mint": ((210, 240, 218), "薄荷绿", "mint green", "ミントグリーン"),
    "pale_pink": ((247, 216, 224), "淡粉色", "pale pink", "薄いピンク"),
    "charcoal": ((50, 52, 58), "深灰色", "charcoal", "チャコールグレー"),
    "sand": ((226, 204, 166), "沙色", "sand", "ベージュ"),
    "lavender": ((226, 216, 248), "淡紫色", "lavender", "ラベンダー色"),
}

# plain studio backdrops of the videos: mid tones, so +-25 % exposure neither clips nor crushes them
VIDEO_BACKGROUNDS: tuple[tuple[int, int, int], ...] = (
    (70, 90, 120), (120, 130, 70), (170, 100, 80), (110, 130, 150), (110, 70, 110),
    (140, 160, 130), (150, 140, 130), (40, 100, 110), (190, 160, 70), (180, 130, 140),
)


@dataclass(frozen=True)
class Product:
    """One product picture: an entity in a colour / shape / pattern variant, with its drawing parameters."""

    key: str
    entity: Entity
    colour: str
    shape: str
    pattern: str
    pattern_colour: str
    background: str
    center: tuple[int, int]
    radius: int
    rotation: float
    period: int
    pattern_angle: float
    video_background: tuple[int, int, int] = field(default=(0, 0, 0))

    def annotation(self, language: str) -> str:
        _, zh, en, ja_adj, _ = COLOURS[self.colour]
        word = {"zh": zh, "en": en, "ja": ja_adj}[language]
        return f"{word} {self.entity.name[language]}"

    def description(self, language: str) -> str:
        name = self.entity.name[language]
        _, c_zh, c_en, c_ja_adj, _ = COLOURS[self.colour]
        _, p_zh, p_en, _, p_ja = COLOURS[self.pattern_colour]
        s_zh, s_en, s_ja = SHAPES[self.shape]
        t_zh, t_en, t_ja = PATTERNS[self.pattern]
        _, b_zh, b_en, b_ja = BACKGROUNDS[self.background]
        if language == "zh":
            if self.pattern == "plain":
                finish = "纯色"
            elif self.pattern == "gradient":
                finish = f"从{c_zh}渐变到{p_zh}"
            else:
                finish = f"带{p_zh}{t_zh}"
            return f"一款{c_zh}的{s_zh}{name}，{finish}，{b_zh}背景。"
        if language == "en":
            if self.pattern == "plain":
                finish = "in a plain finish"
            elif self.pattern == "gradient":
                finish = f"with a {c_en}-to-{p_en} gradient"
            else:
                finish = f"with {p_en} {t_en}"
            article = "An" if c_en[0] in "aeiou" else "A"
            return f"{article} {c_en} {s_en} {name} {finish} on a {b_en} background."
        if self.pattern == "plain":
            finish = "無地"
        elif self.pattern == "gradient":
            finish = f"{COLOURS[self.colour][4]}から{p_ja}へのグラデーション"
        else:
            finish = f"{p_ja}の{t_ja}入り"
        return f"{s_ja}{c_ja_adj}{name}。{finish}で、背景は{b_ja}。"


# --- public entry point ---


def write_media_demo(
    out_dir: Path, profile: str = "small", seed: int = 0, tenants: Iterable[str] = TENANTS
) -> dict[str, dict[str, int]]:
    """Write images, speech and video (plus their eval queries) for each tenant; return counts per tenant."""
    if profile not in MEDIA_PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    _require_espeak()
    size = MEDIA_PROFILES[profile]
    counts: dict[str, dict[str, int]] = {}
    for tenant in tenants:
        if tenant not in CONTENT:
            raise ValueError(f"unknown tenant {tenant!r}; expected one of {TENANTS}")
        tenant_dir = Path(out_dir) / tenant
        tenant_dir.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"{seed}:{tenant}:{profile}:media")
        nrng = np.random.default_rng(rng.getrandbits(64))
        faq_rows, text_queries = build_faq_rows(tenant, profile, seed)
        products = _products(rng, tenant, profile, seed, size.products)
        written: set[str] = set()

        image_rows, image_queries = _write_images(tenant_dir, products, size.image_queries, rng, nrng, written)
        catalogue = {w for r in faq_rows for w in _SPOKEN_WORD.findall(f"{r['question']} {r['answer']}".lower())}
        speech_rows, audio_queries = _write_speech(
            tenant_dir, text_queries, size.speech_rows, size.audio_queries_per_language, rng, written, catalogue
        )
        video_rows, video_queries = _write_videos(tenant_dir, products, size.videos, size.video_queries, rng, written)

        atomic_write_text(tenant_dir / "tenant.yaml", DEMO_TENANT_YAML)
        atomic_write_text(tenant_dir / "images.csv", _csv(image_rows, ("image_path", "description", "language", "annotation")))
        atomic_write_json(tenant_dir / "speech.json", speech_rows)
        atomic_write_json(tenant_dir / "video.json", video_rows)
        joint = _joint_requests(text_queries, products, image_queries, audio_queries, video_queries,
                                size.joint_per_language, rng)
        _append_eval_queries(tenant_dir / "eval_queries.json", image_queries + audio_queries + video_queries + joint)
        _remove_stale(tenant_dir, written)
        counts[tenant] = {
            "products": len(products),
            "images": len(image_rows),
            "speech": len(speech_rows),
            "videos": len(video_rows),
            "image_queries": len(image_queries),
            "audio_queries": len(audio_queries),
            "video_queries": len(video_queries),
            "joint_requests": len(joint),
        }
    return counts


def _joint_requests(text_queries: list[dict], products: Sequence[Product], image_queries: list[dict],
                    audio_queries: list[dict], video_queries: list[dict], per_language: int,
                    rng: random.Random) -> list[dict]:
    """Joint requests: a text question about a product, with a photo (and a clip) of that product and
    a spoken question of the same intent where one exists. The expected answer is the FAQ entry of
    the question's intent for the pictured product (`annotation` + `entity`)."""
    by_key = {p.key: p for p in products}

    def product_of(path: str) -> Product:
        return by_key[Path(path).stem.split("-", 1)[1]]

    photos, clips = defaultdict(list), defaultdict(list)
    for query in image_queries:
        photos[product_of(query["image_path"]).entity.key].append(query["image_path"])
    for query in video_queries:
        clips[product_of(query["video_path"]).entity.key].append(query["video_path"])
    entities = {p.entity.key: p.entity for p in products}
    requests = []
    for language in LANGUAGES:
        spoken = defaultdict(list)
        for query in audio_queries:
            if query["language"] == language:
                spoken[query["annotation"]].append(query["audio_path"])
        candidates = [(q, e) for q in text_queries if q["language"] == language
                      for e in entities.values() if e.name[language] in q["query"] and photos[e.key]]
        for query, entity in rng.sample(candidates, min(per_language, len(candidates))):
            parts = {"query": query["query"], "image_path": rng.choice(photos[entity.key])}
            if clips[entity.key]:
                parts["video_path"] = rng.choice(clips[entity.key])
            if spoken[query["annotation"]]:
                parts["audio_path"] = rng.choice(spoken[query["annotation"]])
            requests.append({"joint": parts, "language": language, "annotation": query["annotation"],
                             "entity": entity.name[language]})
    return requests


# --- products ---


def _products(rng: random.Random, tenant: str, profile: str, seed: int, count: int) -> list[Product]:
    """`count` products spread over the tenant's entities, no two with the same colour/shape/pattern
    and no entity twice in one colour (so the annotation names one product)."""
    content = CONTENT[tenant]
    if profile in ("small", "tiny"):
        # the entities of the small FAQ, so the demo's pictures match its questions
        faq_rows, _ = build_faq_rows(tenant, profile, seed)
        names = {row["entity"] for row in faq_rows if row["language"] == "en"}
        entities = [e for e in content.entities if e.name["en"] in names] or list(content.entities[:2])
    else:
        entities = list(content.entities)
    base, extra = divmod(count, len(entities))
    with_extra = set(rng.sample(range(len(entities)), extra))
    combos = [(c, s, p) for c in COLOURS for s in SHAPES for p in PATTERNS]
    rng.shuffle(combos)
    used: set[tuple[str, str, str]] = set()
    products = []
    for idx, entity in enumerate(entities):
        colours_used: set[str] = set()
        shapes_used: list[str] = []
        for _ in range(base + (idx in with_extra)):
            # prefer a shape the entity does not have yet, then any free combination
            pick = next(
                (k for k in combos if k not in used and k[0] not in colours_used and k[1] not in shapes_used),
                None,
            ) or next(k for k in combos if k not in used and k[0] not in colours_used)
            used.add(pick)
            colours_used.add(pick[0])
            shapes_used.append(pick[1])
            products.append(_product(rng, entity, *pick))
    return products


def _product(rng: random.Random, entity: Entity, colour: str, shape: str, pattern: str) -> Product:
    rgb = np.array(COLOURS[colour][0], dtype=float)
    pattern_colours = [c for c, v in COLOURS.items() if c != colour and np.linalg.norm(np.array(v[0]) - rgb) >= 150]
    backgrounds = [b for b, v in BACKGROUNDS.items() if np.linalg.norm(np.array(v[0]) - rgb) >= 110]
    return Product(
        key=f"{entity.key}-{colour}",
        entity=entity,
        colour=colour,
        shape=shape,
        pattern=pattern,
        pattern_colour=rng.choice(pattern_colours),
        background=rng.choice(backgrounds),
        center=(256 + rng.randint(-24, 24), 222 + rng.randint(-14, 14)),
        radius=rng.randint(148, 178),
        rotation=rng.uniform(-25, 25),
        period=rng.randint(26, 46),
        pattern_angle=rng.choice([0.0, 90.0]) if pattern != "diagonal" else rng.choice([45.0, 135.0]),
        video_background=rng.choice(VIDEO_BACKGROUNDS),
    )


def draw_product(product: Product) -> np.ndarray:
    """The product picture: RGB uint8 512x512."""
    import cv2

    n = IMAGE_SIZE
    bg = np.array(BACKGROUNDS[product.background][0], dtype=np.float32)
    # background with soft top lighting
    shade = np.linspace(1.04, 0.9, n, dtype=np.float32)[:, None, None]
    canvas = np.clip(np.broadcast_to(bg, (n, n, 3)) * shade, 0, 255).astype(np.float32)
    cx, cy = product.center
    r = product.radius
    # floor shadow
    shadow = np.zeros((n, n), np.float32)
    cv2.ellipse(shadow, (cx, min(cy + int(r * 0.95), 430)), (int(r * 0.9), 16), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 7)[:, :, None]
    canvas = canvas * (1 - 0.35 * shadow)

    mask = _shape_mask(product.shape, (cx, cy), r, product.rotation)
    body = _pattern_layer(product, mask)
    alpha = mask[:, :, None]
    canvas = canvas * (1 - alpha) + body * alpha
    # outline in a darker shade of the body colour
    outline = np.zeros((n, n), np.uint8)
    contours, _ = cv2.findContours((mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(outline, contours, -1, 255, 3, cv2.LINE_AA)
    dark = np.array(COLOURS[product.colour][0], np.float32) * 0.55
    o = (outline.astype(np.float32) / 255.0)[:, :, None]
    canvas = canvas * (1 - o) + dark * o
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    _label(image, product.entity.name["en"], dark_background=product.background == "charcoal")
    return image


def _shape_mask(shape: str, center: tuple[int, int], r: int, rotation: float) -> np.ndarray:
    """Anti-aliased mask in [0, 1] of the product body."""
    import cv2

    n = IMAGE_SIZE
    mask = np.zeros((n, n), np.uint8)
    cx, cy = center
    if shape == "circle":
        cv2.circle(mask, (cx, cy), r, 255, -1, cv2.LINE_AA)
        return mask.astype(np.float32) / 255.0
    if shape == "capsule":
        w, h = r, int(r * 0.5)
        pts = [(-w + h + h * np.cos(a), h * np.sin(a)) for a in np.linspace(np.pi / 2, 3 * np.pi / 2, 24)]
        pts += [(w - h + h * np.cos(a), h * np.sin(a)) for a in np.linspace(-np.pi / 2, np.pi / 2, 24)]
    elif shape == "square":
        s = r * 0.82
        pts = [(-s, -s), (s, -s), (s, s), (-s, s)]
    elif shape == "triangle":
        pts = [(r * np.cos(a), r * np.sin(a) + r * 0.15) for a in np.radians([-90, 30, 150])]
    elif shape == "hexagon":
        pts = [(r * np.cos(a), r * np.sin(a)) for a in np.radians(np.arange(0, 360, 60))]
    elif shape == "star":
        pts = [
            ((r if i % 2 == 0 else r * 0.45) * np.cos(a), (r if i % 2 == 0 else r * 0.45) * np.sin(a))
            for i, a in enumerate(np.radians(np.arange(-90, 270, 36)))
        ]
    elif shape == "diamond":
        pts = [(0, -r), (r * 0.68, 0), (0, r), (-r * 0.68, 0)]
    elif shape == "cross":
        a, b = r * 0.32, r * 0.95
        pts = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    theta = np.radians(rotation)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    xy = np.array(pts, dtype=np.float64) @ rot.T + np.array([cx, cy])
    cv2.fillPoly(mask, [np.round(xy * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _pattern_layer(product: Product, mask: np.ndarray) -> np.ndarray:
    """Full-size RGB float layer: body colour with the product's pattern in its pattern colour."""
    import cv2

    n = IMAGE_SIZE
    body = np.array(COLOURS[product.colour][0], np.float32)
    accent = np.array(COLOURS[product.pattern_colour][0], np.float32)
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    cx, cy = product.center
    theta = np.radians(product.pattern_angle + product.rotation)
    u = (xs - cx) * np.cos(theta) + (ys - cy) * np.sin(theta)
    v = -(xs - cx) * np.sin(theta) + (ys - cy) * np.cos(theta)
    p = float(product.period)
    if product.pattern == "plain":
        weight = np.zeros((n, n), np.float32)
    elif product.pattern in ("stripes", "diagonal"):
        weight = ((u % p) < p / 2).astype(np.float32)
    elif product.pattern == "dots":
        du = (u % p) - p / 2
        dv = (v % p) - p / 2
        weight = (du * du + dv * dv < (p * 0.27) ** 2).astype(np.float32)
    elif product.pattern == "checks":
        weight = ((np.floor(u / p) + np.floor(v / p)) % 2).astype(np.float32)
    elif product.pattern == "gradient":
        weight = np.clip((v + product.radius) / (2 * product.radius), 0, 1).astype(np.float32)
    elif product.pattern == "waves":
        weight = (((u + 0.35 * p * np.sin(v / p * 2.2)) % p) < p / 2).astype(np.float32)
    else:
        raise ValueError(f"unknown pattern {product.pattern!r}")
    if product.pattern not in ("plain", "gradient"):
        weight = cv2.GaussianBlur(weight, (0, 0), 0.8)
    layer = body * (1 - weight[:, :, None]) + accent * weight[:, :, None]
    # gentle shading: lighter top-left, darker bottom-right
    light = 1.08 - 0.16 * np.clip(((xs - cx) + (ys - cy)) / (4.0 * product.radius) + 0.5, 0, 1)
    return layer * light[:, :, None]


def _label(image: np.ndarray, text: str, dark_background: bool) -> None:
    """Print `text` centred on a banner at the bottom of the picture (in place)."""
    import cv2

    n = IMAGE_SIZE
    font = cv2.FONT_HERSHEY_DUPLEX
    scale, thickness = 1.2, 2
    (w, h), _ = cv2.getTextSize(text, font, scale, thickness)
    if w > 420:
        scale *= 420 / w
        (w, h), _ = cv2.getTextSize(text, font, scale, thickness)
    banner, ink = ((238, 238, 238), (30, 30, 30)) if dark_background else ((32, 32, 36), (250, 250, 250))
    cv2.rectangle(image, (36, 446), (n - 36, 498), banner, -1, cv2.LINE_AA)
    cv2.putText(image, text, ((n - w) // 2, 472 + h // 2), font, scale, ink, thickness, cv2.LINE_AA)


# --- images and image queries ---


def _write_images(
    tenant_dir: Path,
    products: Sequence[Product],
    n_queries: int,
    rng: random.Random,
    nrng: np.random.Generator,
    written: set[str],
) -> tuple[list[dict], list[dict]]:
    rows, queries = [], []
    pictures = {}
    for product in products:
        rel = f"images/{product.key}.jpg"
        pictures[product.key] = picture = draw_product(product)
        _write_jpeg(tenant_dir / rel, picture, 92)
        written.add(rel)
        for language in LANGUAGES:
            rows.append(
                {
                    "image_path": rel,
                    "description": product.description(language),
                    "language": language,
                    "annotation": product.annotation(language),
                }
            )
    for idx, product in enumerate(_cycle_sample(rng, products, n_queries)):
        photo, quality = perturb_photo(pictures[product.key], rng, nrng)
        rel = f"queries/images/{idx:03d}-{product.key}.jpg"
        _write_jpeg(tenant_dir / rel, photo, quality)
        written.add(rel)
        language = LANGUAGES[idx % len(LANGUAGES)]
        queries.append({"image_path": rel, "language": language, "annotation": product.annotation(language)})
    return rows, queries


def perturb_photo(image: np.ndarray, rng: random.Random, nrng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A 'photo' of a picture: 2-3 of crop (<= 12 %), rotation (<= 10 deg), brightness (+-25 %),
    Gaussian blur and JPEG recompression (quality 35-60). Returns (RGB 512x512, JPEG quality)."""
    import cv2

    n = image.shape[0]
    ops = rng.sample(["crop", "rotate", "brightness", "blur", "jpeg"], rng.choice([2, 3]))
    out = image.astype(np.float32)
    if "rotate" in ops:
        angle = rng.choice([-1, 1]) * rng.uniform(3.0, 10.0)
        matrix = cv2.getRotationMatrix2D((n / 2, n / 2), angle, 1.0)
        out = cv2.warpAffine(out, matrix, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if "crop" in ops:
        keep_w, keep_h = rng.uniform(0.88, 0.97), rng.uniform(0.88, 0.97)
        w, h = int(n * keep_w), int(n * keep_h)
        x0, y0 = rng.randint(0, n - w), rng.randint(0, n - h)
        out = cv2.resize(out[y0 : y0 + h, x0 : x0 + w], (n, n), interpolation=cv2.INTER_LINEAR)
    if "brightness" in ops:
        out = out * (rng.choice([-1, 1]) * rng.uniform(0.1, 0.25) + 1.0)
    if "blur" in ops:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(1.0, 2.5))
    # a little sensor noise on every photo
    out = out + nrng.normal(0.0, 2.0, out.shape).astype(np.float32)
    quality = rng.randint(35, 60) if "jpeg" in ops else 90
    return np.clip(np.round(out), 0, 255).astype(np.uint8), quality


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    import cv2

    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())


# --- speech ---


def _require_espeak() -> None:
    if shutil.which(ESPEAK) is None:
        raise RuntimeError(
            f"{ESPEAK} not found on PATH: the demo speech is synthesised with it "
            "(install it, e.g. `apt-get install espeak-ng`)"
        )


# en-us at a calm speed with 120 ms between words: tiny.en measured WER 0.03 on product
# questions, against 0.13-0.21 for the default `en` voice at 150-185 words per minute.
VOICES = {"en": "en-us", "zh": "cmn-latn-pinyin", "ja": "ja"}
WORD_GAP = 12
VOICE_VARIANTS = ("", "+f2", "+m3", "+f4")  # base voice first; repeated takes use another speaker
SPEEDS = {"en": (125, 140), "zh": (135, 165), "ja": (150, 180)}


@lru_cache(maxsize=1)
def _kakasi():
    import pykakasi

    return pykakasi.kakasi()


def tts_text(text: str, language: str) -> str:
    """What espeak-ng reads: pinyin with tone numbers for Mandarin, hiragana for Japanese."""
    if language == "zh":
        from pypinyin import Style, lazy_pinyin

        syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
        spoken = " ".join(s.strip() for s in syllables if s.strip())
        return unicodedata.normalize("NFKC", spoken.replace("。", ".").replace("、", ","))
    if language == "ja":
        spoken = "".join(item["hira"] for item in _kakasi().convert(text))
        return unicodedata.normalize("NFKC", spoken.replace("。", "。 "))
    return text


def _speak(voice: str, speed: int, pitch: int, text: str, path: Path, tmp: Path) -> None:
    """Synthesise `text` into `tmp` with espeak-ng, write it to `path` as 16 kHz mono PCM-16."""
    import soundfile as sf
    import soxr

    result = subprocess.run(
        # A pause between words (-g, in 10 ms units), as a careful caller speaks; without it
        # tiny.en runs espeak's words together.
        [ESPEAK, "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(WORD_GAP), "-w", str(tmp), text],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not tmp.is_file():
        raise RuntimeError(f"{ESPEAK} failed for voice {voice}: {result.stderr.strip() or result.returncode}")
    audio, rate = sf.read(str(tmp), dtype="float32", always_2d=True)
    tmp.unlink()
    audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")


_SPOKEN_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    """Whole words of the bundled all-MiniLM-L6-v2 vocabulary (BERT uncased): a word a caller says."""
    from mm_platform.encoders.text import bundled_minilm_path

    vocab = (Path(bundled_minilm_path()) / "vocab.txt").read_text("utf-8").split("\n")
    return frozenset(w for w in vocab if w.isalnum())


def speakable(text: str, language: str, catalogue: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether a typed query is something a caller would say: chat typos and abbreviations
    ("tution", "pls") are not spoken, and a TTS voice would spell them out. English words must be
    whole words of a real vocabulary or of the tenant's own FAQ (product names); Chinese and
    Japanese text is spoken as written."""
    if language != "en":
        return True
    words = _english_words()
    return all(w in words or w in catalogue for w in _SPOKEN_WORD.findall(text.lower()))


def _write_speech(
    tenant_dir: Path,
    text_queries: Sequence[dict],
    n_rows: int,
    n_eval_per_language: int,
    rng: random.Random,
    written: set[str],
    catalogue: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[dict], list[dict]]:
    """Speak the held-out text queries a caller could say (`speakable`): per language a corpus
    part (speech.json) and a disjoint eval part (audio queries). When the corpus needs more rows than there are texts left, texts
    are spoken again by another speaker (voice variant, speed, pitch)."""
    base, extra = divmod(n_rows, len(LANGUAGES))
    jobs, rows, queries = [], [], []
    for li, language in enumerate(LANGUAGES):
        texts = [q for q in text_queries if q["language"] == language and speakable(q["query"], language, catalogue)]
        rng.shuffle(texts)
        eval_part, corpus_part = _split_keeping_intents(texts, n_eval_per_language)
        if not corpus_part:
            raise ValueError(f"no {language} eval queries left for the spoken corpus")
        for i in range(base + (li < extra)):
            query = corpus_part[i % len(corpus_part)]
            take = i // len(corpus_part)
            rel = f"speech/{language}-{i:04d}.wav"
            jobs.append(_speech_job(rng, language, query["query"], take, tenant_dir / rel))
            rows.append({"audio_path": rel, "text": query["query"], "language": language, "annotation": query["annotation"]})
        for i, query in enumerate(eval_part):
            rel = f"queries/speech/{language}-{i:03d}.wav"
            jobs.append(_speech_job(rng, language, query["query"], 0, tenant_dir / rel))
            queries.append({"audio_path": rel, "text": query["query"], "language": language, "annotation": query["annotation"]})
    with tempfile.TemporaryDirectory(prefix="mm-speech-") as tmp, ThreadPoolExecutor(SPEECH_WORKERS) as pool:
        futures = [pool.submit(_speak, *job, Path(tmp) / f"{idx:05d}.wav") for idx, job in enumerate(jobs)]
        for future in futures:
            future.result()
    written.update(r["audio_path"] for r in rows + queries)
    return rows, queries


def _split_keeping_intents(texts: list[dict], n_eval: int) -> tuple[list[dict], list[dict]]:
    """Take eval texts only from intents that keep at least one text in the spoken corpus, so
    every spoken query has something of its intent to be found."""
    remaining: dict[str, int] = {}
    for query in texts:
        remaining[query["annotation"]] = remaining.get(query["annotation"], 0) + 1
    eval_part, corpus_part = [], []
    for query in texts:
        if len(eval_part) < n_eval and remaining[query["annotation"]] > 1:
            remaining[query["annotation"]] -= 1
            eval_part.append(query)
        else:
            corpus_part.append(query)
    return eval_part, corpus_part


def _speech_job(rng: random.Random, language: str, text: str, take: int, path: Path) -> tuple:
    low, high = SPEEDS[language]
    voice = VOICES[language] + VOICE_VARIANTS[take % len(VOICE_VARIANTS)]
    return (voice, rng.randint(low, high), rng.randint(38, 62), tts_text(text, language), path)


# --- video ---


def _write_videos(
    tenant_dir: Path,
    products: Sequence[Product],
    n_videos: int,
    n_queries: int,
    rng: random.Random,
    written: set[str],
) -> tuple[list[dict], list[dict]]:
    chosen = rng.sample(list(products), min(n_videos, len(products)))
    rows, queries, frames_of = [], [], {}
    for product in chosen:
        rel = f"video/{product.key}.mp4"
        frames_of[product.key] = frames = video_frames(product, draw_product(product))
        write_mp4(tenant_dir / rel, frames, VIDEO_FPS)
        written.add(rel)
        for language in LANGUAGES:
            rows.append(
                {
                    "video_path": rel,
                    "description": product.description(language),
                    "language": language,
                    "annotation": product.annotation(language),
                }
            )
    clip_len = VIDEO_FPS  # about 1 s
    for idx, product in enumerate(_cycle_sample(rng, chosen, n_queries)):
        frames = frames_of[product.key]
        start = rng.randint(0, len(frames) - clip_len)
        clip = perturb_clip(frames[start : start + clip_len], rng)
        rel = f"queries/video/{idx:03d}-{product.key}.mp4"
        write_mp4(tenant_dir / rel, clip, VIDEO_FPS)
        written.add(rel)
        language = LANGUAGES[idx % len(LANGUAGES)]
        queries.append({"video_path": rel, "language": language, "annotation": product.annotation(language)})
    return rows, queries


def video_frames(product: Product, picture: np.ndarray) -> list[np.ndarray]:
    """RGB 1280x720 frames: the picture moving and zooming over a plain background, a close-up
    of the product, then a label card in the product's colour."""
    import cv2

    width, height = VIDEO_SIZE
    move, close, card = SCENE_FRAMES
    bg = np.array(product.video_background, np.uint8)
    frames = []
    for i in range(move):
        t = i / max(move - 1, 1)
        side = int(round(height * (0.78 + 0.2 * t)))
        thumb = cv2.resize(picture, (side, side), interpolation=cv2.INTER_AREA)
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = bg
        x0 = int(round(60 + t * (width - side - 120)))
        y0 = (height - side) // 2
        frame[y0 : y0 + side, x0 : x0 + side] = thumb
        frames.append(frame)
    cx, cy = product.center
    for i in range(close):
        t = i / max(close - 1, 1)
        w = int(round(2.2 * product.radius * (1.0 - 0.2 * t)))
        h = int(round(w * height / width))
        x0 = int(np.clip(cx - w // 2, 0, IMAGE_SIZE - w))
        y0 = int(np.clip(cy - h // 2, 0, IMAGE_SIZE - h))
        frames.append(cv2.resize(picture[y0 : y0 + h, x0 : x0 + w], (width, height), interpolation=cv2.INTER_LINEAR))
    colour = COLOURS[product.colour][0]
    for i in range(card):
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = colour
        cv2.rectangle(frame, (140, 160), (width - 140, height - 160), (248, 248, 248), -1, cv2.LINE_AA)
        thumb = cv2.resize(picture, (340, 340), interpolation=cv2.INTER_AREA)
        frame[190:530, 170:510] = thumb
        name = product.entity.name["en"]
        font = cv2.FONT_HERSHEY_DUPLEX
        scale = 1.6
        (tw, th), _ = cv2.getTextSize(name, font, scale, 3)
        if tw > 560:
            scale *= 560 / tw
            (tw, th), _ = cv2.getTextSize(name, font, scale, 3)
        cv2.putText(frame, name, (560, 330 + th // 2), font, scale, (30, 30, 30), 3, cv2.LINE_AA)
        cv2.putText(frame, COLOURS[product.colour][2], (560, 420), font, 1.2, (90, 90, 90), 2, cv2.LINE_AA)
        frames.append(frame)
    return frames


def perturb_clip(frames: Sequence[np.ndarray], rng: random.Random) -> list[np.ndarray]:
    """A re-filmed clip: 2-3 of crop (<= 12 %), brightness (+-25 %) and blur, the same for the
    whole clip, resized to QUERY_VIDEO_SIZE (the H.264 re-encoding adds its own artefacts)."""
    import cv2

    height, width = frames[0].shape[:2]
    ops = rng.sample(["crop", "brightness", "blur"], rng.choice([2, 3]))
    keep = rng.uniform(0.88, 0.96) if "crop" in ops else 1.0
    w, h = int(width * keep) // 2 * 2, int(height * keep) // 2 * 2
    x0, y0 = rng.randint(0, width - w), rng.randint(0, height - h)
    gain = rng.choice([-1, 1]) * rng.uniform(0.1, 0.25) + 1.0 if "brightness" in ops else 1.0
    sigma = rng.uniform(1.5, 3.0) if "blur" in ops else 0.0
    scale = QUERY_VIDEO_SIZE[0] / w
    out = []
    for frame in frames:
        # resize first (cheaper); the blur scaled to the new size is the same blur
        f = cv2.resize(frame[y0 : y0 + h, x0 : x0 + w], QUERY_VIDEO_SIZE, interpolation=cv2.INTER_AREA)
        if gain != 1.0:
            f = cv2.convertScaleAbs(f, alpha=gain)
        if sigma:
            f = cv2.GaussianBlur(f, (0, 0), sigma * scale)
        out.append(f)
    return out


def write_mp4(path: Path, frames: Sequence[np.ndarray], fps: int) -> None:
    """H.264 yuv420p MP4, bit-exact flags so a rerun writes the same bytes."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("h264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "superfast", "crf": "23"}
        stream.codec_context.thread_count = 2
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# --- manifests ---


def _cycle_sample(rng: random.Random, items: Sequence, count: int) -> list:
    """`count` items, all distinct while there are enough, then the whole list again in a new order."""
    out: list = []
    while len(out) < count:
        out += rng.sample(list(items), min(len(items), count - len(out)))
    return out


def _csv(rows: Sequence[dict], header: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _append_eval_queries(path: Path, media_queries: list[dict]) -> None:
    """Keep the file's text queries, replace its media queries with `media_queries`."""
    import json

    existing = json.loads(path.read_text("utf-8")) if path.is_file() else []
    kept = [q for q in existing if not any(k in q for k in MEDIA_QUERY_KEYS)]
    atomic_write_json(path, kept + media_queries)


def _remove_stale(tenant_dir: Path, written: set[str]) -> None:
    """Delete media files of an earlier run in the folders this generator owns."""
    for folder in ("images", "speech", "video", "queries/images", "queries/speech", "queries/video"):
        root = tenant_dir / folder
        if not root.is_dir():
            continue
        for file in root.iterdir():
            if file.is_file() and file.suffix in (".jpg", ".wav", ".mp4") and file.relative_to(tenant_dir).as_posix() not in written:
                file.unlink()
