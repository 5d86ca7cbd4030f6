"""Retraining is planned from cluster membership and config, and survives a crash."""

from slimline.store import WorkStore
from slimline.store.schema import UNCLUSTERED
from slimline.tasks.nightly.plan import clusters_to_train, config_fingerprint, mark_completed
from slimline.tasks.train.config import TrainConfig


def assign(work, pairs):
    work.assign(
        [{"call_id": c, "cluster_id": k, "probability": 1.0, "model_version": 1} for c, k in pairs]
    )


def test_only_changed_clusters_are_retrained(tmp_path):
    work = WorkStore(f"sqlite:///{tmp_path / 'w.db'}")
    fp = config_fingerprint(TrainConfig())
    assign(work, [("a", 0), ("b", 0), ("c", 1), ("d", UNCLUSTERED)])
    first = clusters_to_train(work, fp)
    assert set(first) == {0, 1}  # outliers are never trained

    mark_completed(work, {0: first[0]})  # the night crashed after cluster 0
    assert set(clusters_to_train(work, fp)) == {1}
    mark_completed(work, {1: first[1]})
    assert clusters_to_train(work, fp) == {}  # a night with no new calls trains nothing

    assign(work, [("e", 1)])  # a new call joins cluster 1
    assert set(clusters_to_train(work, fp)) == {1}
    other = config_fingerprint(TrainConfig(rank=4))
    assert set(clusters_to_train(work, other)) == {0, 1}  # a new config retrains all


def test_a_night_can_be_capped_to_the_largest_clusters(tmp_path):
    work = WorkStore(f"sqlite:///{tmp_path / 'w.db'}")
    fp = config_fingerprint(TrainConfig())
    assign(work, [("a", 0), ("b", 1), ("c", 1), ("d", 2), ("e", 2), ("f", 2)])
    assert list(clusters_to_train(work, fp, max_clusters=2)) == [2, 1]
    mark_completed(work, clusters_to_train(work, fp, max_clusters=2))
    assert list(clusters_to_train(work, fp, max_clusters=2)) == [0]  # its turn came


def test_a_capped_night_trains_first_the_cluster_with_the_most_servable_calls(tmp_path, tau2_path):
    """The cascade serves tool calls (text only with promote.text_target): a bigger cluster
    of mostly text answers waits behind a smaller one of tool calls."""
    from testkit.tau2_store import tau2_records
    from testkit.tiny_adapters import store_cluster

    from slimline.chat_format import reference_calls

    records = tau2_records(tau2_path)
    tools = [r for r in records if reference_calls(r.response)][:30]
    texts = [r for r in records if not reference_calls(r.response)][:40]
    work = WorkStore(f"sqlite:///{tmp_path / 'w.db'}")
    store_cluster(work, texts[:35] + tools[:5], cluster_id=0, slug="talk")  # 40 calls, 5 tool
    store_cluster(work, tools[5:25], cluster_id=1, slug="act")  # 20 calls, 20 tool
    fp = config_fingerprint(TrainConfig())
    assert list(clusters_to_train(work, fp, 1, "servable")) == [1]
    assert list(clusters_to_train(work, fp, 1, "largest")) == [0]
    # when text answers can be served too, every call counts
    assert list(clusters_to_train(work, fp, 1, "servable", text_served=True)) == [0]
    assert list(clusters_to_train(work, fp)) == [0, 1]  # no cap: all, whatever the order
