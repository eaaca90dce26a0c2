"""A tenant the platform was never tuned on, run the way a new user runs it: plain `mm run`.

`tests/data/unseen/travel` (an online travel agency; 20 intents, 1-3 FAQ entries each, 60 queries
per language written far from the FAQ's wording) was written for this check and used only once
while the retrieval strategies were developed (on `telecom`), at the end.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
MM = str(Path(sys.executable).parent / "mm")
UNSEEN = ROOT / "tests" / "data" / "unseen" / "travel"


def test_plain_mm_run_on_an_unseen_tenant_goes_live_with_f1_above_082(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(UNSEEN, data / "travel")
    env = {**os.environ, "MM_DATA_DIR": str(data), "MM_STORAGE_DIR": str(tmp_path / "storage"),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([MM, "run"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = json.loads(subprocess.run([MM, "report", "--json"], env=env, cwd=ROOT, capture_output=True, text=True,
                                     timeout=300).stdout)
    faq = {r["language"]: r for r in rows if r["modality"] == "faq" and r["status"] == "live"}
    assert set(faq) == {"zh", "en", "ja"}
    for language, row in faq.items():
        assert row["verdict"] == "pass" and row["n_queries"] >= 30, row
        assert row["f1_macro"] >= 0.82, (language, row["f1_macro"], row["f1_macro_ci"])
    live = json.loads((tmp_path / "storage" / "travel" / "indexes" / "faq" / "LIVE.json").read_text("utf-8"))
    assert {row["strategy"] for row in faq.values()} == {live["strategy"]["id"]}  # served = evaluated
