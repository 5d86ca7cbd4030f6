"""The train stage: select a base model, build the dataset, fine-tune an adapter per cluster.

- select.py, catalog.yaml: the candidate models and the choice per cluster;
- dataset.py: the conversation split, the distilled context, compaction, SFT examples;
- plan.py: a cluster's plan (split, candidates, datasets, jobs; races of base models);
- train.py: one adapter with TRL's SFTTrainer and a PEFT LoRA/DoRA config;
- jobs.py: the jobs on Ray (local or an existing cluster), retries, CPU fallback;
- tracking.py: the MLflow run of each cluster (logged by the driver);
- stage.py: `train_clusters(settings, cluster_ids, parent_run_id) -> TrainResult`;
- tasks.py: the Prefect task wrappers.
"""
