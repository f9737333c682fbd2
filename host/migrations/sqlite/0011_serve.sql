-- Bearer tokens of `batch-host serve`: one row per token, holding only the SHA-256 of its secret.
-- TENANT is the one tenant the token acts for; NULL marks an admin token (metrics, every tenant).
-- Kept in the `shared` tenant's repository; the table exists (empty) in every other one.
CREATE TABLE BH_API_TOKEN (
    TOKEN_ID VARCHAR(32) NOT NULL PRIMARY KEY,
    TENANT VARCHAR(40),
    NAME VARCHAR(100) NOT NULL,
    SECRET_SHA256 VARCHAR(64) NOT NULL,
    CREATED_AT TIMESTAMP NOT NULL,
    REVOKED_AT TIMESTAMP
);

-- A step's progress over time, for throughput charts: the counters at a chunk commit, kept for the
-- first commit and then at most about once a second (when a commit crosses a second boundary).
CREATE TABLE BH_STEP_PROGRESS (
    STEP_EXECUTION_ID BIGINT NOT NULL,
    COMMIT_COUNT BIGINT NOT NULL,
    SAMPLED_AT TIMESTAMP NOT NULL,
    READ_COUNT BIGINT NOT NULL,
    WRITE_COUNT BIGINT NOT NULL,
    SKIP_COUNT BIGINT NOT NULL,
    PRIMARY KEY (STEP_EXECUTION_ID, COMMIT_COUNT),
    constraint BH_STEP_PROGRESS_FK foreign key (STEP_EXECUTION_ID) references BATCH_STEP_EXECUTION(STEP_EXECUTION_ID)
);
