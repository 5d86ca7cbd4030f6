"""Prefect flows: thin DAG wiring, one flow per file. Installed as `slimline.flows`."""
