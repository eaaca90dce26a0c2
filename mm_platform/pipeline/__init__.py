"""The steps of a tenant x modality pipeline as plain functions: the Dagster assets and the CLI call
these, so every step is testable without a Dagster instance, and every modality goes through the
same steps: validate -> (derive) -> embed -> index -> evaluate -> promote."""

from mm_platform.pipeline.build import build_index, embed, isolation_canary
from mm_platform.pipeline.evaluate import EvaluationSettings, evaluate, evaluation_key, query_path, version_models
from mm_platform.pipeline.inputs import absent, derive, load_queries, load_rows, rows_of, validate
from mm_platform.pipeline.promote import GateFailed, promote
from mm_platform.pipeline.tenant import (
                                           DEFAULT_KEEP_VERSIONS,
                                           FAQ,
                                           encoder_query_cost_ms,
                                           gates_for,
                                           index_store,
                                           tenant_models,
)

__all__ = ["DEFAULT_KEEP_VERSIONS", "FAQ", "EvaluationSettings", "GateFailed", "absent", "build_index", "derive",
           "embed", "encoder_query_cost_ms", "evaluate", "evaluation_key", "gates_for", "index_store",
           "isolation_canary", "load_queries", "load_rows", "promote", "query_path", "rows_of", "tenant_models",
           "validate", "version_models"]
