-- Where each job execution's job.yaml and work directory were, for `batch-host restart <id>`.
CREATE TABLE BH_JOB_SOURCE (
    JOB_EXECUTION_ID BIGINT NOT NULL PRIMARY KEY,
    JOB_FILE VARCHAR(4000) NOT NULL,
    WORKDIR VARCHAR(4000) NOT NULL,
    constraint BH_JOB_SOURCE_FK foreign key (JOB_EXECUTION_ID) references BATCH_JOB_EXECUTION(JOB_EXECUTION_ID)
);
