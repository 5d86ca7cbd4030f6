"""Small real flows that the topology test runs through the real worker (loaded by Prefect
from this file, not collected by pytest). They do what the nightly flow and deploy-adapter
do to the servers, in seconds: read the settings where they run, log an MLflow run (params,
a metric, an artifact) on the topology's MLflow server, touch the work store."""

from __future__ import annotations

from prefect import flow


def _log_run(run_name: str, params: dict[str, str]) -> dict[str, str]:
    import mlflow

    from slimline.config import load_settings
    from slimline.runtime import configure
    from slimline.store import open_work
    from slimline.tracking import mlflow_experiment

    settings = load_settings()
    configure(settings)
    work = open_work(settings)  # the PostgreSQL work store, migrated
    work.set_state("topology-probe", {"last": run_name})
    mlflow_experiment(settings)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metric("answer", 42)
        mlflow.log_text(f"{run_name}\n", "probe.txt")
    return {"run_id": run.info.run_id, "tracking_uri": settings.mlflow_tracking_uri}


@flow(name="topology-probe")
def probe(tag: str = "probe") -> dict[str, str]:
    """Stands in for the nightly flow: one MLflow run named after `tag`."""
    return _log_run(f"probe-{tag}", {"tag": tag})


@flow(name="topology-promoted-probe")
def promoted_probe(model_name: str, version: int | None = None) -> dict[str, str]:
    """Stands in for deploy-adapter (same parameters): one MLflow run per promotion."""
    return _log_run(
        f"promoted-{model_name}-v{version}", {"model_name": model_name, "version": str(version)}
    )
