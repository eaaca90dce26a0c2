"""Model automation: a version dropped into the registry inbox is registered and challenges the
champion; an evaluation that passed its gates is promoted."""

import dagster as dg

from jobs.indexing import challenger_evaluation_job, promotion_job
from resources import RegistryResource

CHALLENGER_EVALUATION = dg.AssetKey(["models", "challenger_evaluation"])
#: families whose challengers are evaluated by shadow migration
EVALUATED_FAMILIES = ("text_encoder",)


@dg.sensor(job=challenger_evaluation_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Registers complete folders dropped into <storage>/_registry/inbox/<family>/ (refused ones "
                       "go to .rejected/ with the reason), makes each new version the family's challenger and "
                       "requests its evaluation once.")
def registry_inbox_sensor(context: dg.SensorEvaluationContext, registry: RegistryResource) -> dg.SensorResult | dg.SkipReason:
    """The run key is the version, so a version is evaluated once."""
    registry = registry.registry()
    outcomes = registry.scan_inbox()
    requests = []
    for outcome in outcomes:
        context.log.info(f"inbox {outcome['family']}/{outcome['folder']}: {outcome['status']} "
                         f"{outcome.get('version') or outcome.get('reason', '')}")
        if outcome["status"] != "registered" or outcome["family"] not in EVALUATED_FAMILIES:
            continue
        registry.set_alias(outcome["family"], "challenger", outcome["version"], run_id=f"sensor-{context.cursor or 0}",
                           reason="registered from the inbox")
        requests.append(dg.RunRequest(
            run_key=f"challenge-{outcome['version']}",
            run_config={"ops": {"models__challenger_evaluation": {"config": {
                "family": outcome["family"], "challenger": outcome["version"]}}}},
            tags={"mm/trigger": "registry-inbox", "mm/challenger": outcome["version"]}))
    if not requests:
        return dg.SkipReason(f"inbox: {len(outcomes)} folder(s) processed, nothing to evaluate")
    return dg.SensorResult(run_requests=requests)


@dg.asset_sensor(asset_key=CHALLENGER_EVALUATION, job=promotion_job, default_status=dg.DefaultSensorStatus.RUNNING,
                 description="Requests a promotion run for each challenger evaluation whose gates passed.")
def promotion_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """One promotion run per passed evaluation (run key: the evaluation's run)."""
    materialization = asset_event.asset_materialization
    metadata = materialization.metadata if materialization else {}
    passed = metadata.get("gate_passed")
    if passed is None or not passed.value:
        return dg.SkipReason(f"evaluation in run {asset_event.run_id} did not pass its gates")
    return dg.RunRequest(run_key=f"promote-{asset_event.run_id}",
                         tags={"mm/trigger": "evaluation-passed", "mm/challenger": metadata["challenger"].value})
