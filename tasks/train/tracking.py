"""What training writes to MLflow; only the driver calls this (see jobs.py for why).

Per cluster, one run named after its slug, nested under the nightly run (tag
`mlflow.parentRunId`), tagged `slimline.stage=train`, `slimline.cluster_id`,
`slimline.slug`, `slimline.base_model`, `slimline.context_hash`, `slimline.dataset_digest`:
- params: the TrainConfig, the base model, the selection and its reasons;
- metrics: `loss`, `learning_rate`, `grad_norm` per optimizer step (with the time each step
  ended), `eval_loss` and `eval_loss_before` (the base model's), timings, the dataset's
  token figures, and the system metrics sampled on the worker (`system/...`, as
  `log_system_metrics=True` names them);
- input: the scrubbed examples as a pandas dataset (context `training`, digest = the
  dataset's digest);
- artifacts: `adapter/` (PEFT adapter, tokenizer, distilled_context.json), which the promote
  stage registers as `runs:/<run_id>/adapter`, plus `train/selection.json`, `train/dataset.json`
  and, after a race of base models, `train/race.json`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from slimline.tracking import (
    ADAPTER_ARTIFACT,
    BASE_MODEL_TAG,
    CLUSTER_TAG,
    CONTEXT_HASH_TAG,
    DATASET_DIGEST_TAG,
    KIND_TAG,
    PARENT_TAG,
    SLUG_TAG,
    STAGE_TAG,
)
from slimline.tracking import client as _client


def start_parent_run(settings: Any, experiment_id: str, clusters: int) -> str:
    """A run of the whole train stage (when no nightly run is given)."""
    client = _client(settings)
    run = client.create_run(
        experiment_id,
        run_name=f"train-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={STAGE_TAG: "train", KIND_TAG: "train-stage"},
    )
    client.log_param(run.info.run_id, "clusters_requested", clusters)
    return run.info.run_id


def finish_parent_run(settings: Any, run_id: str, counts: dict[str, int], seconds: float) -> None:
    client = _client(settings)
    stamp = int(time.time() * 1000)
    from mlflow.entities import Metric

    metrics = [Metric(f"clusters_{k}", float(v), stamp, 0) for k, v in counts.items()]
    metrics.append(Metric("seconds", float(seconds), stamp, 0))
    client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id, "FAILED" if counts.get("failed") else "FINISHED")


def _params(entry: Any, config: dict[str, Any]) -> list[Any]:
    from mlflow.entities import Param

    values: dict[str, Any] = {f"train.{k}": v for k, v in config.items()}
    values["base_model"] = entry.base_model
    selection = entry.selection or {}
    values["select.model"] = selection.get("model")
    values["select.reasons"] = "; ".join(selection.get("reasons", []))
    values["examples"] = entry.examples
    values["eval_conversations"] = len(entry.eval_conversation_ids)
    values["train_conversations"] = len(entry.train_conversation_ids)
    return [
        Param(k, (json.dumps(v) if isinstance(v, list | dict) else str(v))[:6000])
        for k, v in values.items()
        if v is not None
    ]


def _metrics(entry: Any, result: Any) -> list[Any]:
    from mlflow.entities import Metric

    out: list[Metric] = []
    for row in result.steps:
        for key in ("loss", "learning_rate", "grad_norm"):
            if key in row:
                out.append(Metric(key, float(row[key]), int(row["timestamp_ms"]), int(row["step"])))
    for sample in result.system_metrics:
        for key, value in sample["values"].items():
            out.append(
                Metric(f"system/{key}", float(value), sample["timestamp_ms"], sample["step"])
            )
    end = result.ended_ms
    finals = {
        "first_loss": result.first_loss,
        "final_loss": result.final_loss,
        "eval_loss": result.eval_loss,
        "eval_loss_per_char": result.eval_loss_per_char,
        "eval_loss_before": result.eval_loss_before,
        "train_seconds": result.train_seconds,
        "job_seconds": result.job_seconds,
        "trainable_params": result.trainable_params,
        **{f"dataset.{k}": v for k, v in (entry.dataset_stats or {}).items()},
    }
    out += [Metric(k, float(v), end, 0) for k, v in finals.items() if v is not None]
    return out


def _log_dataset(client: Any, run_id: str, entry: Any, examples: list[dict[str, Any]]) -> None:
    import mlflow.data
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    frame = pd.DataFrame(
        {
            "prompt": [json.dumps(e["prompt"], ensure_ascii=False) for e in examples],
            "completion": [json.dumps(e["completion"], ensure_ascii=False) for e in examples],
        }
    )
    dataset = mlflow.data.from_pandas(
        frame, name=f"{entry.slug}-train", digest=(entry.dataset_digest or "")[:32] or None
    )
    tags = [
        InputTag("mlflow.data.context", "training"),
        InputTag(DATASET_DIGEST_TAG, entry.dataset_digest or ""),
    ]
    client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags)])


def log_cluster_run(
    settings: Any,
    experiment_id: str,
    parent_run_id: str,
    entry: Any,
    job: Any,
    result: Any | None,
    adapter_dir: Path | None,
) -> str:
    """One cluster's run (see the module doc); FAILED with `entry.reason` when no result."""
    from mlflow.entities import RunTag

    client = _client(settings)
    tags = {
        STAGE_TAG: "train",
        CLUSTER_TAG: str(entry.cluster_id),
        SLUG_TAG: entry.slug,
        BASE_MODEL_TAG: entry.base_model or "",
        CONTEXT_HASH_TAG: entry.context_hash or "",
        DATASET_DIGEST_TAG: entry.dataset_digest or "",
        PARENT_TAG: parent_run_id,
    }
    start = result.started_ms if result is not None else int(time.time() * 1000)
    run = client.create_run(experiment_id, start_time=start, tags=tags, run_name=entry.slug)
    run_id = run.info.run_id
    client.log_batch(run_id, params=_params(entry, job.config))
    client.log_dict(run_id, entry.selection or {}, "train/selection.json")
    if entry.race:
        client.log_dict(run_id, {"candidates": entry.race}, "train/race.json")
    client.log_dict(
        run_id,
        {
            "stats": entry.dataset_stats,
            "digest": entry.dataset_digest,
            "train_conversation_ids": entry.train_conversation_ids,
            "eval_conversation_ids": entry.eval_conversation_ids,
        },
        "train/dataset.json",
    )
    _log_dataset(client, run_id, entry, job.examples)
    if result is None:
        client.set_tag(run_id, "slimline.error", (entry.reason or "")[:8000])
        client.set_terminated(run_id, "FAILED")
        return run_id
    metrics = _metrics(entry, result)
    for i in range(0, len(metrics), 900):  # log_batch takes at most 1000 metrics
        client.log_batch(run_id, metrics=metrics[i : i + 900])
    client.log_batch(
        run_id,
        tags=[
            RunTag("slimline.device", f"{result.device} x{result.workers} ({result.precision})"),
            RunTag("slimline.host", result.host),
        ],
    )
    if adapter_dir is not None:
        client.log_artifacts(run_id, str(adapter_dir), ADAPTER_ARTIFACT)
    client.set_terminated(run_id, "FINISHED", end_time=int(time.time() * 1000))
    return run_id
