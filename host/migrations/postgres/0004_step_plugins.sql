-- The component each step execution ran, per role, so a restart can tell when code changed.
CREATE TABLE BH_STEP_PLUGIN (
    STEP_EXECUTION_ID BIGINT NOT NULL,
    ROLE VARCHAR(20) NOT NULL,
    LABEL VARCHAR(300) NOT NULL,
    DIGEST VARCHAR(64) NOT NULL,
    constraint BH_STEP_PLUGIN_PK primary key (STEP_EXECUTION_ID, ROLE),
    constraint BH_STEP_PLUGIN_STEP_FK foreign key (STEP_EXECUTION_ID) references BATCH_STEP_EXECUTION(STEP_EXECUTION_ID)
);
