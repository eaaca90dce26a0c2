"""Jobs and schedules."""

from .indexing import ci_checks_job, index_tenant_job, nightly_reindex_schedule

__all__ = ["ci_checks_job", "index_tenant_job", "nightly_reindex_schedule"]
