-- Partitions of a `workers: remote` step waiting for, or held by, a `batch-host worker`: the
-- manager inserts one row per partition to run, a worker claims it (and renews its lease while it
-- runs), and marks it DONE; a claim whose lease ran out is taken over by another worker.
CREATE TABLE BH_PARTITION_WORK (
    JOB_EXECUTION_ID BIGINT NOT NULL,
    STEP_NAME VARCHAR(100) NOT NULL,
    WORKER_STEP VARCHAR(100) NOT NULL,
    PARTITION_CONTEXT TEXT NOT NULL,
    STATUS VARCHAR(10) NOT NULL,
    CLAIMED_BY VARCHAR(255),
    LEASE_UNTIL TIMESTAMP,
    ATTEMPTS BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (JOB_EXECUTION_ID, STEP_NAME),
    constraint BH_PARTITION_WORK_FK foreign key (JOB_EXECUTION_ID) references BATCH_JOB_EXECUTION(JOB_EXECUTION_ID)
);
CREATE INDEX BH_PARTITION_WORK_STATUS ON BH_PARTITION_WORK (STATUS, LEASE_UNTIL);
