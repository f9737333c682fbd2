-- Output of the built-in `sql-table` writer: rows written in the same transaction as the chunk
-- commit that includes them, so they are exactly-once across crashes and restarts.
CREATE TABLE BH_TABLE_ROW (
    TABLE_NAME VARCHAR(100) NOT NULL,
    ROW_NUMBER BIGINT NOT NULL,
    STEP_EXECUTION_ID BIGINT NOT NULL,
    PAYLOAD TEXT NOT NULL,
    constraint BH_TABLE_ROW_PK primary key (TABLE_NAME, ROW_NUMBER)
);
