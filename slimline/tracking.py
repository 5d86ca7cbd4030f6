"""MLflow, as every stage uses it: the names slimline writes, the client, the experiment, and
a stage's run nested under the night's run.

Every model slimline registers carries the tag `slimline.cluster_id`; the aliases `champion`,
`challenger` and `previous-champion` mark what serves, what was last proposed and what a
rollback restores. Every run carries `slimline.stage`; a night's stage runs carry the night's
run as `mlflow.parentRunId`, so the MLflow UI shows one run per night with the stages inside.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slimline.config import Settings

# --- names -------------------------------------------------------------------------------
PARENT_TAG = "mlflow.parentRunId"
STAGE_TAG = "slimline.stage"  # collect, scrub, cluster, train, evaluate, promote, report, ...
KIND_TAG = "slimline.kind"
NIGHT_TAG = "slimline.night"  # the night's date, on the nightly run
PROFILE_TAG = "slimline.profile"
CLUSTER_TAG = "slimline.cluster_id"
SLUG_TAG = "slimline.slug"
BASE_MODEL_TAG = "slimline.base_model"
CONTEXT_HASH_TAG = "slimline.context_hash"
DATASET_DIGEST_TAG = "slimline.dataset_digest"
EVALUATED_TAG = "slimline.evaluated"
CHAMPION_VERSION_TAG = "slimline.champion_version"
MODEL_VERSION_TAG = "slimline.model_version"
GATE_PROMOTE_TAG = "slimline.gate.promote"
GATE_REASONS_TAG = "slimline.gate.reasons"
METRIC_TAG_PREFIX = "slimline.metric."  # a version's challenger metrics, as tags
# the cascade, on a registered version: what the router serves it with, and what it served
THRESHOLD_TAG = "slimline.threshold"  # the calibrated confidence threshold
SIGNAL_TAG = "slimline.confidence_signal"  # how the confidence is read (decoding/confidence.py)
COVERAGE_TAG = "slimline.coverage"  # share of the test calls served at the threshold
SERVED_AGREEMENT_TAG = "slimline.served_agreement"  # their agreement with the teacher

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # what the MLflow UI opens the experiment on
EXPERIMENT_KIND = "custom_model_development"  # the runs (not the GenAI overview) first

ADAPTER_ARTIFACT = "adapter"  # a train run's adapter folder; registered as runs:/<id>/adapter


# --- client, experiment, runs ------------------------------------------------------------
def client(settings: Settings) -> Any:
    """An MlflowClient on the settings' tracking store."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri)


def mlflow_experiment(settings: Settings) -> str:
    """Make sure the MLflow experiment exists (artifacts under SLIMLINE_HOME when local);
    returns its id. Sets it as the active experiment."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    name = settings.tracking.experiment
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        local = settings.tracking.mlflow_tracking_uri is None
        location = settings.mlflow_artifacts.as_uri() if local else None
        exp_id = mlflow.create_experiment(
            name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
        )
    else:
        exp_id = exp.experiment_id
        if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:  # made before slimline set it
            mlflow.MlflowClient().set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


@contextmanager
def stage_run(
    settings: Settings,
    stage: str,
    parent_run_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[Any]:
    """An active MLflow run of one stage, tagged `slimline.stage=<stage>`: under
    `parent_run_id` (the night's run) when given, else nested in the active run if any."""
    import mlflow

    experiment_id = mlflow_experiment(settings)
    active = mlflow.active_run()
    all_tags = {STAGE_TAG: stage, **(tags or {})}
    if active is None and parent_run_id:
        all_tags[PARENT_TAG] = parent_run_id
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name or stage,
        nested=active is not None,
        tags=all_tags,
    ) as run:
        yield run


def registry_counts(settings: Settings) -> tuple[int, int]:
    """(registered models, models with a champion) among slimline's registered models.

    A local MLflow store that does not exist yet counts as empty (and is not created).
    """
    uri = settings.mlflow_tracking_uri
    local = uri.startswith("sqlite:///") and not settings.tracking.mlflow_tracking_uri
    if local and not settings.path("mlflow.db").exists():
        return 0, 0
    models = [
        m for m in client(settings).search_registered_models() if CLUSTER_TAG in (m.tags or {})
    ]
    champions = sum(1 for m in models if CHAMPION in (m.aliases or {}))
    return len(models), champions
