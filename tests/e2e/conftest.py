"""A hand-written tenant run by real `mm` subprocesses on their own instance and folders."""

import os

import pytest

from tests.conftest import TINY_EVAL, TINY_FAQ, write_json

TENANT = "acme"
#: hand-written tenant: the sample-size bounds lifted, one encoder (the mechanics are under test)
TENANT_YAML = "models:\n  text2: none\ngates: {min_n: 1, min_f1: 0.0, min_recall_at_1: 0.0}\n"


@pytest.fixture
def tiny_env(tmp_path):
    data = tmp_path / "data"
    write_json(data / TENANT / "faq.json", TINY_FAQ)
    write_json(data / TENANT / "eval_queries.json", TINY_EVAL)
    (data / TENANT / "tenant.yaml").write_text(TENANT_YAML, "utf-8")
    return {**os.environ, "MM_DATA_DIR": str(data), "MM_STORAGE_DIR": str(tmp_path / "storage"),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"), "HF_HUB_OFFLINE": "1", "MM_LOCK_TIMEOUT": "120"}
