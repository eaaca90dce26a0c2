"""tenant.yaml: optional, validated with clear errors."""

import pytest

from mm_platform.evaluation.gates import GateConfig
from mm_platform.inputs.tenant_config import load_tenant_config
from mm_platform.inputs.validation import InputFileError


def test_absent_file_means_defaults(tmp_path):
    assert load_tenant_config(tmp_path).gate_config(GateConfig()) == GateConfig()


def test_gate_overrides_apply(tmp_path):
    (tmp_path / "tenant.yaml").write_text("gates:\n  min_f1: 0.95\nkeep_versions: 3\n")
    config = load_tenant_config(tmp_path)
    assert config.gate_config(GateConfig()).min_f1 == 0.95 and config.keep_versions == 3


@pytest.mark.parametrize("text, message", [
    ("gates: [1, 2]", "'gates' must be a mapping"),
    ("gates:\n  min_f1: high\n", "must be a number"),
    ("colour: blue\n", "unknown key"),
    ("keep_versions: 1\n", "keep_versions"),
    ("gates: {min_f1: [\n", "invalid YAML"),
])
def test_invalid_files_name_the_problem(tmp_path, text, message):
    (tmp_path / "tenant.yaml").write_text(text)
    with pytest.raises(InputFileError, match=message) as info:
        load_tenant_config(tmp_path)
    assert info.value.file.endswith("tenant.yaml")
