"""Both stores on SQLite and on a real PostgreSQL: round trips, idempotence, migrations."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect

from slimline.record import CallRecord
from slimline.store import RawStore, StoreUnavailable, WorkStore

SYSTEM = "You are a support agent. " * 200  # a long prompt repeated by every call


def make_call(i: int, conv: str = "c1", days_old: int = 0) -> CallRecord:
    history = [{"role": "system", "content": SYSTEM}]
    for j in range(i):
        history += [
            {"role": "user", "content": f"question {j}"},
            {"role": "assistant", "content": f"answer {j}"},
        ]
    history.append({"role": "user", "content": f"question {i}"})
    return CallRecord.build(
        source="test",
        agent="support",
        model="gpt-4.1",
        conversation_id=conv,
        timestamp=datetime.now(UTC) - timedelta(days=days_old),
        messages=history,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
        response={
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"t{i}",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": f'{{"n": {i}}}'},
                }
            ],
        },
        cost_usd=0.001 * i,
        prompt_tokens=10 * i,
        metadata={"i": i},
    )


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


def test_raw_store_round_trip_and_reinsert_is_a_no_op(url):
    store = RawStore(url)
    calls = [make_call(i) for i in range(5)]
    assert store.add_calls(calls).new == 5
    again = store.add_calls([*calls, calls[0]])
    assert (again.new, again.duplicates) == (0, 6)
    assert store.count_calls() == 5
    back = [rec for _, rec in store.iter_calls()]
    assert back == calls
    seqs = [seq for seq, _ in store.iter_calls()]
    assert [rec.id for _, rec in store.iter_calls(after_seq=seqs[2])] == [c.id for c in calls[3:]]
    store.close()


def test_repeated_strings_are_stored_once(url):
    store = RawStore(url)
    store.add_calls([make_call(i) for i in range(10)])
    with store.engine.connect() as conn:
        blobs = conn.exec_driver_sql("SELECT count(*) FROM raw_blobs").scalar()
    # 1 system prompt + 10 user turns + 9 assistant turns + 1 tools list + 10 responses
    assert blobs == 31
    store.close()


def test_watermark_moves_with_the_data(url):
    store = RawStore(url)
    store.add_calls([make_call(0)], watermark=("file:a", {"offset": 10}))
    assert store.get_watermark("file:a") == {"offset": 10}
    store.set_watermark("file:a", {"offset": 20})
    assert store.get_watermark("file:a") == {"offset": 20}
    assert store.get_watermark("file:b") is None
    store.close()


def test_quarantine_keeps_reason_and_text_once(url):
    store = RawStore(url)
    assert store.quarantine("f.jsonl", "line 3", "not JSON", "{oops")
    assert not store.quarantine("f.jsonl", "line 3", "not JSON", "{oops")
    [line] = store.list_quarantined()
    assert (line.location, line.reason, line.raw_text) == ("line 3", "not JSON", "{oops")
    assert store.count_quarantined() == 1
    store.close()


def test_retention_purges_old_calls_and_their_blobs(url):
    store = RawStore(url)
    old = make_call(1, conv="old", days_old=100)
    new = make_call(0, conv="new")
    store.add_calls([old, new])
    assert store.purge_older_than(90) == 1
    assert [r.id for _, r in store.iter_calls()] == [new.id]
    with store.engine.connect() as conn:
        blobs = conn.exec_driver_sql("SELECT count(*) FROM raw_blobs").scalar()
    assert blobs == 4  # system, question 0, tools, response 0
    store.close()


def test_secret_is_created_once(url):
    store = RawStore(url)
    key = store.secret("surrogate-key")
    assert len(key) == 64 and store.secret("surrogate-key") == key
    store.close()


def test_work_store_scrubbed_calls_clusters_runs_state(url):
    work = WorkStore(url)
    calls = [make_call(i) for i in range(3)]
    assert work.add_scrubbed([(10 + i, c) for i, c in enumerate(calls)], "run1") == 3
    assert work.add_scrubbed([(10, calls[0])]) == 0
    assert work.count_scrubbed() == 3 and work.max_raw_seq() == 12
    assert list(work.iter_scrubbed(ids=[calls[1].id])) == [calls[1]]
    work.save_cluster(
        {
            "cluster_id": 0,
            "slug": "support-lookup",
            "label": "support · lookup",
            "keywords": ["lookup"],
            "top_tools": ["lookup"],
            "stats": {"calls": 3},
            "model_version": 1,
        }
    )
    work.assign(
        [{"call_id": c.id, "cluster_id": 0, "probability": 1.0, "model_version": 1} for c in calls]
    )
    assert work.count_clusters() == 1 and set(work.assignments().values()) == {0}
    run = work.start_run("scrub")
    work.finish_run(run, {"scrubbed": 3})
    assert work.runs("scrub")[0]["summary"] == {"scrubbed": 3}
    work.set_state("x", {"a": 1})
    assert work.get_state("x") == {"a": 1} and work.get_state("y", 5) == 5
    work.close()


def test_migrations_create_both_stores_from_nothing(url):
    RawStore(url).close()
    WorkStore(url).close()  # both in one database: table names do not collide
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {
        "raw_calls",
        "raw_blobs",
        "quarantine",
        "ingest_watermarks",
        "slimline_raw_version",
        "scrubbed_calls",
        "clusters",
        "cluster_assignments",
        "runs",
        "slimline_work_version",
    } <= tables


def test_unreachable_store_names_store_and_masks_password():
    with pytest.raises(StoreUnavailable) as info:
        RawStore("postgresql+psycopg://me:s3cret@127.0.0.1:1/raw")
    assert "raw store" in str(info.value) and "s3cret" not in str(info.value)
    assert "***" in str(info.value)
