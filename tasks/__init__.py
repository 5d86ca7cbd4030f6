"""The stage library: one package per stage of the conversion loop.

collect -> scrub -> cluster -> train (select, dataset, train) -> evaluate -> promote -> report.
Each package owns its typed config (`config.py`, light to import), its pure functions and
its Prefect task wrappers. Installed as `slimline.tasks`.
"""
