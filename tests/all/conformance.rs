//! Spring Batch 5.x fault-tolerance conformance: each scenario mirrors a Spring Batch test (or a
//! rule of docs/fault-tolerance.md derived from one), runs the real testkit
//! components through `batch-host run`, and checks the step status, the committed output, the
//! processor/writer call logs where Spring asserts calls, and all eight counters read back from
//! `BATCH_STEP_EXECUTION`.

use crate::support::*;

/// Expected `BATCH_STEP_EXECUTION` counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    read: i64,
    write: i64,
    filter: i64,
    read_skip: i64,
    process_skip: i64,
    write_skip: i64,
    commit: i64,
    rollback: i64,
}

#[allow(
    clippy::too_many_arguments,
    reason = "one conformance case per row of the table"
)]
const fn n(
    read: i64,
    write: i64,
    filter: i64,
    read_skip: i64,
    process_skip: i64,
    write_skip: i64,
    commit: i64,
    rollback: i64,
) -> Counts {
    Counts {
        read,
        write,
        filter,
        read_skip,
        process_skip,
        write_skip,
        commit,
        rollback,
    }
}

struct Scenario {
    name: &'static str,
    /// The Spring Batch test (class#method) or reference-doc example it mirrors.
    spring: &'static str,
    chunk: usize,
    items: usize,
    /// Extra reader config (YAML flow-map entries), e.g. `fail: { "2": { kind: validation } }`.
    reader: &'static str,
    /// Processor config entries; `None` for a step without processor.
    processor: Option<&'static str>,
    writer: &'static str,
    /// The `fault-tolerance` section as a YAML flow map; `None` for a non-fault-tolerant step.
    ft: Option<&'static str>,
    status: &'static str,
    exit_message: &'static str,
    output: &'static [u32],
    process_log: Option<&'static [u32]>,
    write_log: Option<&'static [u32]>,
    counts: Counts,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "read-skip-basic",
        spring: "FaultTolerantStepFactoryBeanTests#testReadSkip (semantics §1.4 read-skip-basic)",
        chunk: 2,
        items: 5,
        reader: r#"fail: { "2": { kind: validation } }"#,
        processor: None,
        writer: "",
        ft: Some("{ skip: { kinds: [validation], limit: 10 } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3, 4, 5],
        process_log: None,
        write_log: Some(&[1, 3, 4, 5]),
        counts: n(4, 4, 0, 1, 0, 0, 3, 0),
    },
    Scenario {
        name: "read-non-skippable",
        spring: "FaultTolerantStepFactoryBeanTests#testNonSkippableException (read-non-skippable)",
        chunk: 2,
        items: 5,
        reader: r#"fail: { "2": { kind: io.broken } }"#,
        processor: None,
        writer: "",
        ft: Some("{ skip: { kinds: [validation], limit: 10 } }"),
        status: "FAILED",
        exit_message: "non-skippable error during read",
        output: &[],
        process_log: None,
        write_log: Some(&[]),
        counts: n(1, 0, 0, 0, 0, 0, 0, 1),
    },
    Scenario {
        name: "read-nonskippable-norollback-ignored",
        spring: "FaultTolerantExceptionClassesTests (semantics §3 read-nonskippable-norollback-ignored)",
        chunk: 2,
        items: 5,
        reader: r#"fail: { "2": { kind: warn } }"#,
        processor: None,
        writer: "",
        ft: Some("{ skip: { kinds: [validation] }, no-rollback: { kinds: [warn] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3, 4, 5],
        process_log: None,
        write_log: None,
        counts: n(4, 4, 0, 0, 0, 0, 3, 0),
    },
    Scenario {
        name: "read-failure-not-retried",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testSuccessfulRetryWithReadFailure",
        chunk: 2,
        items: 5,
        reader: r#"fail: { "2": { kind: io.timeout, times: 1 } }"#,
        processor: None,
        writer: "",
        ft: Some("{ retry: { kinds: [io.timeout], limit: 10 } }"),
        status: "FAILED",
        exit_message: "reader testkit-reader@0.1.0 failed reading item 2: io.timeout",
        output: &[],
        process_log: None,
        write_log: None,
        counts: n(1, 0, 0, 0, 0, 0, 0, 1),
    },
    Scenario {
        name: "read-skip-limit-exceeded",
        spring: "FaultTolerantStepFactoryBeanTests#testSkipOverLimitOnRead",
        chunk: 3,
        items: 6,
        reader: r#"fail: { "2": { kind: validation }, "3": { kind: validation }, "5": { kind: validation } }"#,
        processor: None,
        writer: "",
        ft: Some("{ skip: { kinds: [validation], limit: 2 } }"),
        status: "FAILED",
        exit_message: "skip limit 2 exceeded",
        output: &[],
        process_log: None,
        write_log: Some(&[]),
        counts: n(2, 0, 0, 2, 0, 0, 0, 1),
    },
    Scenario {
        name: "skip-include-exclude-precedence",
        spring: "FaultTolerantStepFactoryBeanNonBufferingTests / LimitCheckingItemSkipPolicyTests (nearest ancestor wins)",
        chunk: 10,
        items: 5,
        reader: r#"fail: { "2": { kind: validation.email }, "4": { kind: validation.fatal.schema } }"#,
        processor: None,
        writer: "",
        ft: Some("{ skip: { kinds: [validation], exclude: [validation.fatal], limit: 10 } }"),
        status: "FAILED",
        exit_message: "validation.fatal.schema",
        output: &[],
        process_log: None,
        write_log: None,
        counts: n(2, 0, 0, 1, 0, 0, 0, 1),
    },
    Scenario {
        name: "process-skip-large-chunk",
        spring: "FaultTolerantStepFactoryBeanTests#testProcessSkipWithLargeChunk (process-skip-large-chunk)",
        chunk: 5,
        items: 5,
        reader: "",
        processor: Some(r#"fail: { "4": { kind: validation } }"#),
        writer: "",
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 5],
        process_log: Some(&[1, 2, 3, 4, 1, 2, 3, 5]),
        write_log: Some(&[1, 2, 3, 5]),
        counts: n(5, 4, 0, 0, 1, 0, 2, 1),
    },
    Scenario {
        name: "process-multiple-skips",
        spring: "FaultTolerantStepFactoryBeanTests#testMultipleSkipsInProcess (process-multiple-skips)",
        chunk: 5,
        items: 5,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: validation }, "4": { kind: validation } }"#),
        writer: "",
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3, 5],
        process_log: Some(&[1, 2, 1, 3, 4, 1, 3, 5]),
        write_log: Some(&[1, 3, 5]),
        counts: n(5, 3, 0, 0, 2, 0, 2, 2),
    },
    Scenario {
        name: "process-multiple-skips-non-transactional",
        spring: "FaultTolerantStepFactoryBeanTests#testMultipleSkipsInNonTransactionalProcessor",
        chunk: 5,
        items: 5,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: validation }, "4": { kind: validation } }"#),
        writer: "",
        ft: Some("{ skip: { kinds: [validation] }, processor-non-transactional: true }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3, 5],
        process_log: Some(&[1, 2, 3, 4, 5]),
        write_log: Some(&[1, 3, 5]),
        counts: n(5, 3, 0, 0, 2, 0, 2, 2),
    },
    Scenario {
        name: "process-retry-succeeds",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testRetryInProcess (semantics §4.1, derived)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: io.timeout, times: 2 } }"#),
        writer: "",
        ft: Some("{ retry: { kinds: [io.timeout], limit: 3 } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 4],
        process_log: Some(&[1, 2, 1, 2, 1, 2, 3, 4]),
        write_log: None,
        counts: n(4, 4, 0, 0, 0, 0, 3, 2),
    },
    Scenario {
        name: "process-retry-exhausted-then-skip",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testRetryWithNoSkip variant (semantics §4.1, derived)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: io.timeout } }"#),
        writer: "",
        ft: Some("{ retry: { kinds: [io.timeout], limit: 3 }, skip: { kinds: [io.timeout] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3, 4],
        process_log: Some(&[1, 2, 1, 2, 1, 2, 1, 3, 4]),
        write_log: None,
        counts: n(4, 3, 0, 0, 1, 0, 3, 3),
    },
    Scenario {
        name: "process-retry-exhausted-not-skippable",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testRetryWithNoSkip (semantics §4.1, derived)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: io.timeout } }"#),
        writer: "",
        ft: Some("{ retry: { kinds: [io.timeout], limit: 3 } }"),
        status: "FAILED",
        exit_message: "after 3 attempt(s) and the error is not skippable: io.timeout",
        output: &[],
        process_log: Some(&[1, 2, 1, 2, 1, 2, 1]),
        write_log: None,
        counts: n(2, 0, 0, 0, 0, 0, 0, 4),
    },
    Scenario {
        name: "process-error-non-fault-tolerant",
        spring: "xml-simple-step (SimpleStepFactoryBeanTests): any error fails after one rollback",
        chunk: 2,
        items: 4,
        reader: "",
        processor: Some(r#"fail: { "3": { kind: validation } }"#),
        writer: "",
        ft: None,
        status: "FAILED",
        exit_message: "processor testkit-processor@0.1.0 failed on item 3: validation",
        output: &[1, 2],
        process_log: Some(&[1, 2, 3, 4]),
        write_log: None,
        counts: n(4, 2, 0, 0, 0, 0, 1, 1),
    },
    Scenario {
        name: "process-error-fault-tolerant-no-rules",
        spring: "SimpleRetryExceptionHandler: non-retryable, non-skippable costs two rollbacks (semantics §1.3)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: Some(r#"fail: { "3": { kind: validation } }"#),
        writer: "",
        ft: Some("{}"),
        status: "FAILED",
        exit_message: "not skippable: validation",
        output: &[1, 2],
        process_log: Some(&[1, 2, 3]),
        write_log: None,
        counts: n(4, 2, 0, 0, 0, 0, 1, 2),
    },
    Scenario {
        name: "process-norollback-skippable",
        spring: "FaultTolerantExceptionClassesTests#testNoRollbackSkippableInProcess (semantics §4.1)",
        chunk: 3,
        items: 3,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: warn } }"#),
        writer: "",
        ft: Some("{ skip: { kinds: [warn] }, no-rollback: { kinds: [warn] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3],
        process_log: Some(&[1, 2, 3]),
        write_log: None,
        counts: n(3, 2, 0, 0, 1, 0, 2, 0),
    },
    Scenario {
        name: "process-norollback-not-skippable",
        spring: "FaultTolerantExceptionClassesTests (NonSkippableProcessException, semantics §4.1)",
        chunk: 3,
        items: 3,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: warn } }"#),
        writer: "",
        ft: Some("{ no-rollback: { kinds: [warn] } }"),
        status: "FAILED",
        exit_message: "not skippable",
        output: &[],
        process_log: Some(&[1, 2, 1]),
        write_log: None,
        counts: n(3, 0, 0, 0, 0, 0, 0, 2),
    },
    Scenario {
        name: "filter-is-not-skip",
        spring: "FaultTolerantStepFactoryBeanTests#testFilterCountWithTransactionalProcessor",
        chunk: 5,
        items: 5,
        reader: "",
        processor: Some(r#"filter: ["2", "4"]"#),
        writer: "",
        ft: Some("{ skip: { kinds: [validation], limit: 0 } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3, 5],
        process_log: Some(&[1, 2, 3, 4, 5]),
        write_log: Some(&[1, 3, 5]),
        counts: n(5, 3, 2, 0, 0, 0, 2, 0),
    },
    Scenario {
        name: "filter-count-on-retry",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testFilterCountOnRetryWithTransactionalProcessorWhenSkipInWrite (filter-count-on-retry)",
        chunk: 4,
        items: 4,
        reader: "",
        processor: Some(r#"filter: ["1", "2"]"#),
        writer: r#"fail: { "3": { kind: io.timeout, times: 1 } }"#,
        ft: Some("{ retry: { kinds: [io.timeout], limit: 2 } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[3, 4],
        process_log: Some(&[1, 2, 3, 4, 3, 4]),
        write_log: Some(&[3, 3, 4]),
        counts: n(4, 2, 4, 0, 0, 0, 2, 1),
    },
    Scenario {
        name: "write-skip-scan-basic",
        spring: "FaultTolerantStepFactoryBeanTests#testWriteSkip (semantics §4.3 write-skip-scan-basic)",
        chunk: 2,
        items: 5,
        reader: "",
        processor: Some(""),
        writer: r#"fail: { "4": { kind: validation } }"#,
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 5],
        process_log: Some(&[1, 2, 3, 4, 3, 4, 5]),
        write_log: Some(&[1, 2, 3, 4, 3, 4, 5]),
        counts: n(5, 4, 0, 0, 0, 1, 4, 2),
    },
    Scenario {
        name: "write-retry-succeeds",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testSuccessfulRetryWithWriteFailure (write-retry-succeeds)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: Some(""),
        writer: r#"fail: { "3": { kind: io.timeout, times: 2 } }"#,
        ft: Some("{ retry: { kinds: [io.timeout], limit: 3 } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 4],
        process_log: Some(&[1, 2, 3, 4, 3, 4, 3, 4]),
        write_log: Some(&[1, 2, 3, 3, 3, 4]),
        counts: n(4, 4, 0, 0, 0, 0, 3, 2),
    },
    Scenario {
        name: "write-nonskippable-nonretryable",
        spring: "FaultTolerantStepFactoryBeanTests (write-nonskippable-nonretryable: ExhaustedRetryException)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: None,
        writer: r#"fail: { "3": { kind: io.broken } }"#,
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "FAILED",
        exit_message: "the error is not skippable: io.broken",
        output: &[1, 2],
        process_log: None,
        write_log: Some(&[1, 2, 3]),
        counts: n(4, 2, 0, 0, 0, 0, 1, 2),
    },
    Scenario {
        name: "write-norollback-not-skippable",
        spring: "xml-norollback-not-skippable (BATCH-1334): partial write committed, no skip counted",
        chunk: 2,
        items: 4,
        reader: "",
        processor: None,
        writer: r#"fail: { "3": { kind: warn } }"#,
        ft: Some("{ no-rollback: { kinds: [warn] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 4],
        process_log: None,
        write_log: Some(&[1, 2, 3, 3, 4]),
        counts: n(4, 3, 0, 0, 0, 0, 4, 1),
    },
    Scenario {
        name: "write-skip-limit-exceeded-in-scan",
        spring: "FaultTolerantStepFactoryBeanTests#testSkipOverLimitOnWrite variant (semantics §5.3)",
        chunk: 4,
        items: 4,
        reader: "",
        processor: None,
        writer: r#"fail: { "2": { kind: validation }, "3": { kind: validation } }"#,
        ft: Some("{ skip: { kinds: [validation], limit: 1 } }"),
        status: "FAILED",
        exit_message: "skip limit 1 exceeded",
        output: &[1],
        process_log: None,
        write_log: Some(&[1, 2, 1, 2, 3]),
        counts: n(4, 1, 0, 0, 0, 1, 1, 3),
    },
    Scenario {
        name: "empty-input-commits-once",
        spring: "semantics §1.5: an empty input still gives 1 commit",
        chunk: 3,
        items: 0,
        reader: "",
        processor: None,
        writer: "",
        ft: None,
        status: "COMPLETED",
        exit_message: "",
        output: &[],
        process_log: None,
        write_log: Some(&[]),
        counts: n(0, 0, 0, 0, 0, 0, 1, 0),
    },
    Scenario {
        name: "chunk-of-one-final-empty-commit",
        spring: "FaultTolerantStepFactoryBeanRetryTests (write-retry-succeeds-sample: 10 items, chunk 1 -> 11 commits)",
        chunk: 1,
        items: 10,
        reader: "",
        processor: None,
        writer: "",
        ft: Some("{}"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        process_log: None,
        write_log: None,
        counts: n(10, 10, 0, 0, 0, 0, 11, 0),
    },
    Scenario {
        name: "five-items-chunk-two",
        spring: "FootballJobSkipIntegrationTests#testLaunchJob (extra empty commit; semantics §1.5)",
        chunk: 2,
        items: 5,
        reader: "",
        processor: None,
        writer: "",
        ft: None,
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 4, 5],
        process_log: None,
        write_log: Some(&[1, 2, 3, 4, 5]),
        counts: n(5, 5, 0, 0, 0, 0, 3, 0),
    },
    Scenario {
        name: "read-skips-chunk-fills-with-good-items",
        spring: "FaultTolerantChunkProvider#read (semantics §1.4: the chunk still collects chunkSize good items)",
        chunk: 2,
        items: 6,
        reader: r#"fail: { "2": { kind: validation }, "3": { kind: validation } }"#,
        processor: None,
        writer: "",
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 4, 5, 6],
        process_log: None,
        write_log: Some(&[1, 4, 5, 6]),
        counts: n(4, 4, 0, 2, 0, 0, 3, 0),
    },
    Scenario {
        name: "skip-policy-always",
        spring: "AlwaysSkipItemSkipPolicy (FaultTolerantStepBuilder#skipPolicy)",
        chunk: 3,
        items: 5,
        reader: r#"fail: { "2": { kind: validation }, "3": { kind: validation }, "4": { kind: validation } }"#,
        processor: None,
        writer: "",
        ft: Some("{ skip: { kinds: [validation], limit: 0, policy: always } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 5],
        process_log: None,
        write_log: None,
        counts: n(2, 2, 0, 3, 0, 0, 1, 0),
    },
    Scenario {
        name: "skip-policy-never",
        spring: "NeverSkipItemSkipPolicy (FaultTolerantStepBuilder#skipPolicy)",
        chunk: 3,
        items: 5,
        reader: r#"fail: { "2": { kind: validation } }"#,
        processor: None,
        writer: "",
        ft: Some("{ skip: { kinds: [validation], policy: never } }"),
        status: "FAILED",
        exit_message: "non-skippable error during read",
        output: &[],
        process_log: None,
        write_log: None,
        counts: n(1, 0, 0, 0, 0, 0, 0, 1),
    },
    Scenario {
        name: "process-skip-limit-zero",
        spring: "LimitCheckingItemSkipPolicy#shouldSkip with limit 0 (semantics §5.3)",
        chunk: 3,
        items: 3,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: validation } }"#),
        writer: "",
        ft: Some("{ skip: { kinds: [validation], limit: 0 } }"),
        status: "FAILED",
        exit_message: "skip limit 0 exceeded",
        output: &[],
        process_log: Some(&[1, 2, 1]),
        write_log: None,
        counts: n(3, 0, 0, 0, 0, 0, 0, 2),
    },
    Scenario {
        name: "every-write-fails-retry-formula",
        spring: "FootballJobSkipIntegrationTests (every-write-fails-retry-formula: rollbacks = chunks + reads)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: None,
        writer: "mode: always-throw, fail-kind: validation",
        ft: Some("{ skip: { kinds: [validation], limit: 100 } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[],
        process_log: None,
        write_log: Some(&[]),
        counts: n(4, 0, 0, 0, 0, 4, 3, 6),
    },
    Scenario {
        name: "write-retry-then-skip",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testRetryWithWriteSkip (write-retry-then-skip-commit3)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: Some(""),
        writer: r#"fail: { "3": { kind: io.timeout } }"#,
        ft: Some("{ retry: { kinds: [io.timeout], limit: 2 }, skip: { kinds: [io.timeout] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 4],
        process_log: Some(&[1, 2, 3, 4, 3, 4, 3, 4]),
        write_log: Some(&[1, 2, 3, 3, 3, 4]),
        counts: n(4, 3, 0, 0, 0, 1, 3, 3),
    },
    Scenario {
        name: "write-skip-throw-before-append",
        spring: "FaultTolerantStepFactoryBeanTests#testWriteSkip with a writer that fails before writing",
        chunk: 3,
        items: 3,
        reader: "",
        processor: None,
        writer: r#"mode: throw-before-append, fail: { "2": { kind: validation } }"#,
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3],
        process_log: None,
        write_log: Some(&[1, 1, 3]),
        counts: n(3, 2, 0, 0, 0, 1, 3, 2),
    },
    Scenario {
        name: "write-chunk-failure-gone-in-scan",
        spring: "FaultTolerantChunkProcessor#scan: a chunk-level failure that no single item reproduces",
        chunk: 3,
        items: 3,
        reader: "",
        processor: None,
        writer: "mode: position, position: 1, fail-kind: validation",
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3],
        process_log: None,
        write_log: Some(&[1, 1, 2, 3]),
        counts: n(3, 3, 0, 0, 0, 0, 4, 1),
    },
    Scenario {
        name: "write-nth-call-retried",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testSuccessfulRetryWithWriteFailure (n-th call)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: None,
        writer: "mode: nth-call, fail-on-call: 2, fail-kind: io.timeout",
        ft: Some("{ retry: { kinds: [io.timeout], limit: 2 } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 4],
        process_log: None,
        write_log: Some(&[1, 2, 3, 4]),
        counts: n(4, 4, 0, 0, 0, 0, 3, 1),
    },
    Scenario {
        name: "write-error-non-fault-tolerant",
        spring: "xml-simple-step-write-failure: one rollback, FAILED",
        chunk: 2,
        items: 4,
        reader: "",
        processor: None,
        writer: r#"fail: { "3": { kind: validation } }"#,
        ft: None,
        status: "FAILED",
        exit_message: "writer testkit-writer@0.1.0 failed writing a chunk of 2 items (from item 3): validation",
        output: &[1, 2],
        process_log: None,
        write_log: Some(&[1, 2, 3]),
        counts: n(4, 2, 0, 0, 0, 0, 1, 1),
    },
    Scenario {
        name: "process-fail-on-call-retried",
        spring: "FaultTolerantStepFactoryBeanRetryTests#testRetryInProcess (n-th call)",
        chunk: 2,
        items: 4,
        reader: "",
        processor: Some("fail-on-call: 3, fail-kind: io.timeout"),
        writer: "",
        ft: Some("{ retry: { kinds: [io.timeout], limit: 2 } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 4],
        process_log: Some(&[1, 2, 3, 3, 4]),
        write_log: None,
        counts: n(4, 4, 0, 0, 0, 0, 3, 1),
    },
    Scenario {
        name: "filter-and-skip-counted-separately",
        spring: "FaultTolerantStepFactoryBeanTests#testFilterAndSkipInProcess (semantics §4.1 filter vs skip)",
        chunk: 4,
        items: 4,
        reader: "",
        processor: Some(r#"filter: ["1"], fail: { "3": { kind: validation } }"#),
        writer: "",
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[2, 4],
        process_log: Some(&[1, 2, 3, 2, 4]),
        write_log: None,
        counts: n(4, 2, 1, 0, 1, 0, 2, 1),
    },
    Scenario {
        name: "skip-limit-mixed-read-write",
        spring: "FaultTolerantStepFactoryBeanTests#testSkipOverLimitOnReadAndWrite (skip-limit-mixed-read-write)",
        chunk: 3,
        items: 8,
        reader: r#"fail: { "2": { kind: validation }, "3": { kind: validation }, "6": { kind: validation } }"#,
        processor: None,
        writer: r#"fail: { "4": { kind: validation } }"#,
        ft: Some("{ skip: { kinds: [validation], limit: 3 } }"),
        status: "FAILED",
        exit_message: "skip limit 3 exceeded",
        output: &[1, 5],
        process_log: None,
        write_log: Some(&[1, 4, 1, 4, 5]),
        counts: n(3, 2, 0, 2, 0, 1, 2, 3),
    },
    Scenario {
        name: "write-skip-norollback",
        spring: "FaultTolerantExceptionClassesTests (write-skip-norollback-runtime: partial writes committed, 2 write skips)",
        chunk: 5,
        items: 5,
        reader: "",
        processor: None,
        writer: r#"fail: { "2": { kind: warn }, "4": { kind: warn } }"#,
        ft: Some("{ skip: { kinds: [warn] }, no-rollback: { kinds: [warn] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 2, 3, 4, 5],
        process_log: None,
        write_log: Some(&[1, 2, 1, 2, 3, 4, 5]),
        counts: n(5, 3, 0, 0, 0, 2, 6, 1),
    },
    Scenario {
        name: "process-skip-and-write-skip",
        spring: "FaultTolerantStepFactoryBeanTests#testProcessSkipAndWriteSkip (semantics §4.1 + §4.3, derived)",
        chunk: 5,
        items: 5,
        reader: "",
        processor: Some(r#"fail: { "2": { kind: validation } }"#),
        writer: r#"fail: { "4": { kind: validation } }"#,
        ft: Some("{ skip: { kinds: [validation] } }"),
        status: "COMPLETED",
        exit_message: "",
        output: &[1, 3, 5],
        process_log: Some(&[1, 2, 1, 3, 4, 5, 1, 3, 4, 5]),
        write_log: None,
        counts: n(5, 3, 0, 0, 1, 1, 4, 3),
    },
];

fn join(items: &[u32]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

fn lines(env: &Env, file: &str) -> Vec<String> {
    env.read(file)
        .lines()
        .map(|l| l.trim_matches('"').to_owned())
        .collect()
}

fn yaml(s: &Scenario) -> String {
    let items: Vec<String> = (1..=s.items).map(|i| format!("\"{i}\"")).collect();
    let reader = format!(
        "{{ plugin: testkit-reader, config: {{ items: [{}]{}{} }} }}",
        items.join(", "),
        if s.reader.is_empty() { "" } else { ", " },
        s.reader
    );
    let sep = |x: &str| {
        if x.is_empty() {
            String::new()
        } else {
            format!(", {x}")
        }
    };
    let processor = match s.processor {
        Some(cfg) => format!(
            "      processor: {{ plugin: testkit-processor, config: {{ log: {}.plog{} }} }}\n",
            s.name,
            sep(cfg)
        ),
        None => String::new(),
    };
    let writer = format!(
        "{{ plugin: testkit-writer, config: {{ log: {0}.wlog, output: {0}.out{1} }} }}",
        s.name,
        sep(s.writer)
    );
    let ft =
        s.ft.map(|f| format!("      fault-tolerance: {f}\n"))
            .unwrap_or_default();
    format!(
        "name: {}\nsteps:\n  - name: step\n    chunk:\n      size: {}\n      reader: {reader}\n{processor}      writer: {writer}\n{ft}",
        s.name, s.chunk
    )
}

#[tokio::test]
async fn spring_batch_fault_tolerance_scenarios() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["testkit-reader", "testkit-processor", "testkit-writer"]);
    let mut failures = Vec::new();
    for s in SCENARIOS {
        env.write(&format!("{}.yaml", s.name), &yaml(s));
        let out = env.run(&["run", &format!("{}.yaml", s.name)]);
        let mut problems = Vec::new();
        let expected_code = if s.status == "COMPLETED" { 0 } else { 1 };
        if out.status.code() != Some(expected_code) {
            problems.push(format!(
                "exit code {:?}, expected {expected_code}",
                out.status.code()
            ));
        }
        let row = env
            .rows("SELECT I.JOB_NAME, S.STATUS, S.EXIT_MESSAGE, S.EXIT_CODE, S.READ_COUNT, S.WRITE_COUNT, S.FILTER_COUNT, S.READ_SKIP_COUNT, S.PROCESS_SKIP_COUNT, S.WRITE_SKIP_COUNT, S.COMMIT_COUNT, S.ROLLBACK_COUNT FROM BATCH_STEP_EXECUTION S JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = S.JOB_EXECUTION_ID JOIN BATCH_JOB_INSTANCE I ON I.JOB_INSTANCE_ID = E.JOB_INSTANCE_ID")
            .await
            .into_iter()
            .find(|r| r[0] == s.name);
        match row {
            None => problems.push("no step execution recorded".into()),
            Some(r) => {
                if r[1] != s.status {
                    problems.push(format!("status {}, expected {}", r[1], s.status));
                }
                if !r[2].contains(s.exit_message) {
                    problems.push(format!(
                        "exit message `{}` lacks `{}`",
                        r[2], s.exit_message
                    ));
                }
                if r[3] != s.status {
                    problems.push(format!("exit code {}, expected {}", r[3], s.status));
                }
                let v: Vec<i64> = r[4..].iter().map(|x| x.parse().unwrap_or(-1)).collect();
                let got = n(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
                if got != s.counts {
                    problems.push(format!("counters {got:?}, expected {:?}", s.counts));
                }
            }
        }
        let output = lines(&env, &format!("{}.out", s.name));
        if output != join(s.output) {
            problems.push(format!(
                "committed output {output:?}, expected {:?}",
                join(s.output)
            ));
        }
        if let Some(log) = s.process_log {
            let got = lines(&env, &format!("{}.plog", s.name));
            if got != join(log) {
                problems.push(format!("processor calls {got:?}, expected {:?}", join(log)));
            }
        }
        if let Some(log) = s.write_log {
            let got = lines(&env, &format!("{}.wlog", s.name));
            if got != join(log) {
                problems.push(format!("writer saw {got:?}, expected {:?}", join(log)));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}):\n  {}\n  stdout: {}",
                s.name,
                s.spring,
                problems.join("\n  "),
                stdout(&out).trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ from Spring Batch:\n\n{}",
        failures.len(),
        SCENARIOS.len(),
        failures.join("\n\n")
    );
}
