-- batch-host's own tables and indexes (kept apart from the pristine Spring schema in 0001).

-- Lookups Spring Batch does on every launch and restart.
CREATE INDEX BH_STEP_EXEC_JOB_IDX ON BATCH_STEP_EXECUTION (JOB_EXECUTION_ID);
CREATE INDEX BH_JOB_EXEC_INST_IDX ON BATCH_JOB_EXECUTION (JOB_INSTANCE_ID);
CREATE INDEX BH_JOB_EXEC_PARAMS_IDX ON BATCH_JOB_EXECUTION_PARAMS (JOB_EXECUTION_ID);

-- Component bytes, content-addressed by sha256, so any host sharing this repository can run them.
CREATE TABLE BH_PLUGIN_BLOB (
    DIGEST VARCHAR(64) NOT NULL PRIMARY KEY,
    WASM BLOB NOT NULL,
    SIZE_BYTES BIGINT NOT NULL
);

-- The plugin registry: a name and version point at a component digest of one world (role).
CREATE TABLE BH_PLUGIN (
    NAME VARCHAR(100) NOT NULL,
    VERSION VARCHAR(100) NOT NULL,
    DIGEST VARCHAR(64) NOT NULL,
    WORLD VARCHAR(20) NOT NULL,
    REGISTERED_AT TIMESTAMP NOT NULL,
    constraint BH_PLUGIN_PK primary key (NAME, VERSION),
    constraint BH_PLUGIN_BLOB_FK foreign key (DIGEST) references BH_PLUGIN_BLOB(DIGEST)
);

-- Precompiled native code the host produced itself, per component digest and engine
-- configuration; never accepted from users. A changed engine simply compiles again.
CREATE TABLE BH_PLUGIN_ARTIFACT (
    DIGEST VARCHAR(64) NOT NULL,
    ENGINE VARCHAR(64) NOT NULL,
    WORLD VARCHAR(20) NOT NULL,
    ARTIFACT BLOB NOT NULL,
    CREATED_AT TIMESTAMP NOT NULL,
    constraint BH_PLUGIN_ARTIFACT_PK primary key (DIGEST, ENGINE)
);
