"""MLflow helpers shared by stages: what slimline registers, and how to count it.

Every model slimline registers carries the tag `slimline.cluster_id`; aliases `champion`
and `challenger` mark what serves and what was last proposed.
"""

from __future__ import annotations

from slimline.config import Settings

CLUSTER_TAG = "slimline.cluster_id"
CHAMPION = "champion"
CHALLENGER = "challenger"


def registry_counts(settings: Settings) -> tuple[int, int]:
    """(registered models, models with a champion) among slimline's registered models.

    A local MLflow store that does not exist yet counts as empty (and is not created).
    """
    uri = settings.mlflow_tracking_uri
    local = uri.startswith("sqlite:///") and not settings.tracking.mlflow_tracking_uri
    if local and not settings.path("mlflow.db").exists():
        return 0, 0
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    models = [m for m in client.search_registered_models() if CLUSTER_TAG in (m.tags or {})]
    champions = sum(1 for m in models if CHAMPION in (m.aliases or {}))
    return len(models), champions
