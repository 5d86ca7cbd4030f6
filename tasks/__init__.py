"""The stage library, installed as `slimline.tasks`: one package per stage of the loop.

collect -> scrub -> cluster -> select -> train -> evaluate -> promote -> report -> serve, and
nightly (the night's own bookkeeping). Each package has the same front: `config.py` (its
typed settings, light to import), `result.py` (the one result it returns), `stage.py`
(`run_<stage>(settings, ..., parent_run_id=None)`), `tasks.py` (its one Prefect task).
"""
