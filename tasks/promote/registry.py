"""slimline's MLflow registry conventions: one registered model per cluster, aliases, history.

- a registered model per cluster, named by the cluster's slug, tagged `slimline.cluster_id`;
- every candidate adapter a version (source `runs:/<run_id>/adapter`), alias `challenger` on
  the latest candidate, `champion` on the one that serves;
- the champions in order are kept in the model's tag `slimline.champion_history` (a JSON
  list of versions), and alias `previous-champion` marks the one before the champion, so
  `rollback` can move `champion` back.
"""

from __future__ import annotations

import json
from typing import Any

from slimline.tracking import CHALLENGER, CHAMPION, CLUSTER_TAG, PREVIOUS_CHAMPION

HISTORY_TAG = "slimline.champion_history"
MAX_TAG_VALUE = 4900  # MLflow caps model-version tag values at 5,000 characters


class RegistryError(ValueError):
    """A registry operation that cannot be done; the message names the model and why."""


def client_for(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def ensure_model(client: Any, name: str, cluster_id: int, label: str | None = None) -> None:
    """Create the cluster's registered model if it does not exist; keep its tags current."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name,
            tags={CLUSTER_TAG: str(cluster_id)},
            description=f"slimline adapters for cluster {cluster_id}"
            + (f": {label}" if label else ""),
        )
    else:
        client.set_registered_model_tag(name, CLUSTER_TAG, str(cluster_id))


def version_by_alias(client: Any, name: str, alias: str) -> Any:
    """The version `alias` points at, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_TAG_VALUE else text[: MAX_TAG_VALUE - 1] + "…"


def history(client: Any, name: str) -> list[int]:
    """The champions of `name` in the order they served (last: the champion now)."""
    tags = client.get_registered_model(name).tags or {}
    try:
        versions = [int(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except (ValueError, TypeError):
        versions = []
    current = version_by_alias(client, name, CHAMPION)
    if current is not None and (not versions or versions[-1] != int(current.version)):
        versions.append(int(current.version))  # a champion set by hand joins the history
    return versions


def _point_aliases(client: Any, name: str, versions: list[int]) -> None:
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(versions))
    if versions:
        client.set_registered_model_alias(name, CHAMPION, str(versions[-1]))
    else:
        client.delete_registered_model_alias(name, CHAMPION)
    if len(versions) >= 2:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(versions[-2]))
    elif version_by_alias(client, name, PREVIOUS_CHAMPION) is not None:
        client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)


def register_candidate(
    client: Any, name: str, run_id: str, source: str, tags: dict[str, Any]
) -> int:
    """The version of `name` for the adapter at `source` (a new one, or the one already
    registered for `run_id`, its tags updated); alias `challenger` moves to it."""
    values = {k: tag_value(v) for k, v in tags.items()}
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        version = max(int(v.version) for v in existing)
        for key, value in values.items():
            client.set_model_version_tag(name, str(version), key, value)
    else:
        created = client.create_model_version(name, source=source, run_id=run_id, tags=values)
        version = int(created.version)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return version


def make_champion(client: Any, name: str, version: int) -> int | None:
    """Move `champion` to `version`; returns the champion it replaced (now
    `previous-champion`), or None."""
    versions = history(client, name)
    previous = versions[-1] if versions else None
    if previous == version:
        return None
    _point_aliases(client, name, [*versions, version])
    return previous


def rollback(client: Any, name: str) -> tuple[int, int]:
    """Move `champion` back to the previous champion; returns (from version, to version)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = history(client, name)
    except MlflowException:
        raise RegistryError(f"no registered model {name!r}") from None
    if len(versions) < 2:
        raise RegistryError(f"model {name!r} has no previous champion to roll back to")
    current = versions.pop()
    _point_aliases(client, name, versions)
    client.set_model_version_tag(name, str(current), "slimline.rolled_back", "true")
    return current, versions[-1]


def model_for_cluster(client: Any, cluster: str) -> str:
    """The registered model of a cluster given by slug (its name) or by cluster id."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(cluster)
        return cluster
    except MlflowException:
        pass
    for model in client.search_registered_models():
        if (model.tags or {}).get(CLUSTER_TAG) == cluster:
            return model.name
    raise RegistryError(f"no registered model for cluster {cluster!r} (give its slug or id)")
