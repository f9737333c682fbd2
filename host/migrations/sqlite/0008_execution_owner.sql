-- The process that runs each job execution: its host, process id and process start (boot id and
-- start time), so `batch-host recover` can tell at once on the same host whether it is gone.
CREATE TABLE BH_EXECUTION_OWNER (
    JOB_EXECUTION_ID BIGINT NOT NULL PRIMARY KEY,
    HOST_NAME VARCHAR(255) NOT NULL,
    PROCESS_ID BIGINT NOT NULL,
    PROCESS_START VARCHAR(100) NOT NULL,
    constraint BH_EXECUTION_OWNER_FK foreign key (JOB_EXECUTION_ID) references BATCH_JOB_EXECUTION(JOB_EXECUTION_ID)
);
