-- One database per consumer on the shared PostgreSQL (run once, on an empty volume).
CREATE DATABASE prefect;
CREATE DATABASE mlflow;
CREATE DATABASE slimline_raw;
CREATE DATABASE slimline_work;
