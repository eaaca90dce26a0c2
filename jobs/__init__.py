"""Jobs and schedules."""

from jobs.indexing import challenger_evaluation_job, ci_checks_job, index_tenant_job, nightly_schedule, promotion_job

__all__ = ["challenger_evaluation_job", "ci_checks_job", "index_tenant_job", "nightly_schedule", "promotion_job"]
