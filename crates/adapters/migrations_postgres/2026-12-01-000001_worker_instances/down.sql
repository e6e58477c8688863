DROP TABLE worker_instances;
