"""The `collect` flow on a real (test) Prefect API: a task per source, retries for sources
that fail, and a table artifact of counts that holds no record content."""

from __future__ import annotations

import gzip
import json

import pytest

from slimline.store import RawStore


@pytest.mark.slow
def test_the_collect_flow_collects_every_source_and_publishes_counts_only(
    prefect_api, settings, tmp_path, tau2_path
):
    from prefect.artifacts import Artifact
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from slimline.flows.collect import collect

    with gzip.open(tau2_path, "rt") as f:
        lines = [next(f) for _ in range(6)]
    good = tmp_path / "calls.jsonl"
    good.write_text("".join(lines[:5]) + "not json\n")
    missing = str(tmp_path / "nowhere" / "*.jsonl.gz")  # a glob matching nothing: no error
    gone = str(tmp_path / "gone.jsonl")  # a path that does not exist: an error, not retried

    state = collect(sources=[str(good), missing, gone], home=str(settings.home), return_state=True)
    result = state.result()

    by_source = {s.source: s for s in result.sources}
    assert (by_source[str(good)].new, by_source[str(good)].quarantined) == (5, 1)
    assert by_source[missing].files == 0 and by_source[missing].error is None
    assert "no such file" in by_source[gone].error
    assert (result.new, result.quarantined, result.errors) == (5, 1, 1)
    store = RawStore(settings.raw_store_url)
    assert store.count_calls() == 5
    store.close()

    artifact = Artifact.get("collect-counts")
    table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    rows = {row["source"]: row for row in table}
    assert rows[str(good)]["new"] == 5 and rows[str(good)]["quarantined"] == 1
    assert rows["(total)"]["new"] == 5 and rows[gone]["error"] is True
    text = json.dumps(table)
    record = json.loads(lines[0])
    for message in record["request"]["messages"][1:]:  # no conversation text in the artifact
        assert not message.get("content") or message["content"][:40] not in text

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    assert sorted((r.state_name, r.run_count) for r in runs) == [
        ("Completed", 1),
        ("Completed", 1),
        ("Failed", 1),  # the missing path: failed once, not retried
    ]

    again = collect(sources=[str(good)], home=str(settings.home))
    assert (again.new, again.sources[0].unchanged) == (0, 1)
