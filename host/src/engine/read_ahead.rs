//! `engine` → chunk loop → reader: read-ahead for the built-in file readers. While the loop
//! processes, writes and commits one chunk, a thread of the reader's own reads and parses the
//! next batch, so a step keeps both cores busy without changing what it does.
//!
//! What the loop sees is exactly what the reader alone would give it: the same batches in the
//! same order, and `update` returns the reader's state after the last batch the loop *took*,
//! not after the one read ahead — so a commit checkpoints only what it holds. When the loop asks
//! for fewer items than were read ahead (a chunk completing after read skips), the batch read
//! ahead is dropped, the reader is opened again at the state the loop last took (ItemStream's
//! contract: `open(update())` resumes there) and the smaller batch is read.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use super::items::ItemReader;
use crate::domain::{ExecutionContext, ItemError};
use crate::plugin::{PluginError, ReadBatch};

/// A reader in the host, run on a thread that reads one batch ahead.
pub(crate) struct ReadAhead {
    commands: Option<Sender<Command>>,
    replies: Receiver<Reply>,
    worker: Option<JoinHandle<()>>,
    /// The thread could not be started (resource exhaustion): the first call reports it.
    not_started: Option<String>,
    /// The `max` of the batch being read ahead, if one is.
    ahead: Option<u32>,
    /// The reader's state after the last batch the loop took.
    taken: Result<ExecutionContext, PluginError>,
    /// What the reader says of its items ([`ItemReader::yields_host_json`]).
    host_json: bool,
}

enum Command {
    Open(ExecutionContext),
    Read(u32),
    Close,
}

/// A batch (or its error) and the reader's state right after it.
type Read = (
    Result<ReadBatch, PluginError>,
    Result<ExecutionContext, PluginError>,
);

enum Reply {
    /// `open` then `update`: the state the reader starts from.
    Opened(Result<ExecutionContext, PluginError>),
    Read(Read),
    Closed(Result<(), PluginError>),
}

impl ReadAhead {
    /// Moves `reader` onto a read-ahead thread.
    pub(crate) fn new(mut reader: Box<dyn ItemReader>) -> Self {
        let host_json = reader.yields_host_json();
        let (commands, inbox) = mpsc::channel::<Command>();
        let (outbox, replies) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("batch-host-read-ahead".into())
            .spawn(move || {
                for command in inbox {
                    let reply = match command {
                        Command::Open(ctx) => {
                            Reply::Opened(reader.open(&ctx).and_then(|()| reader.update()))
                        }
                        Command::Read(max) => {
                            let batch = reader.read_batch(max);
                            let state = match &batch {
                                Ok(_) => reader.update(),
                                Err(e) => Err(e.clone()),
                            };
                            Reply::Read((batch, state))
                        }
                        Command::Close => Reply::Closed(reader.close()),
                    };
                    if outbox.send(reply).is_err() {
                        break;
                    }
                }
            });
        let (worker, not_started) = match worker {
            Ok(handle) => (Some(handle), None),
            Err(e) => (None, Some(e.to_string())),
        };
        ReadAhead {
            commands: Some(commands),
            replies,
            worker,
            not_started,
            ahead: None,
            taken: Ok(ExecutionContext::new()),
            host_json,
        }
    }

    fn send(&self, command: Command) -> Result<(), PluginError> {
        if let Some(why) = &self.not_started {
            return Err(stopped(&format!("could not be started: {why}")));
        }
        match &self.commands {
            Some(tx) if tx.send(command).is_ok() => Ok(()),
            _ => Err(stopped("stopped")),
        }
    }

    fn receive(&self) -> Result<Reply, PluginError> {
        self.replies
            .recv()
            .map_err(|_| stopped("stopped while reading"))
    }

    fn receive_read(&self) -> Result<Read, PluginError> {
        match self.receive()? {
            Reply::Read(read) => Ok(read),
            _ => Err(stopped("answered out of turn")),
        }
    }

    /// Waits for the batch read ahead, if any, and drops it.
    fn settle(&mut self) -> Result<(), PluginError> {
        if self.ahead.take().is_some() {
            // Nothing of it reached the loop: its outcome does not matter.
            drop(self.receive_read()?);
        }
        Ok(())
    }

    /// Opens the reader at `ctx`; its state from there is what the loop has taken.
    fn open_at(&mut self, ctx: ExecutionContext) -> Result<(), PluginError> {
        self.send(Command::Open(ctx))?;
        match self.receive()? {
            Reply::Opened(state) => {
                self.taken = Ok(state?);
                Ok(())
            }
            _ => Err(stopped("answered out of turn")),
        }
    }

    fn read_now(&mut self, max: u32) -> Result<Read, PluginError> {
        self.send(Command::Read(max))?;
        self.receive_read()
    }
}

impl ItemReader for ReadAhead {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        self.settle()?;
        self.open_at(ctx.clone())
    }

    fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        let (batch, state) = match self.ahead.take() {
            Some(_) => {
                let read = self.receive_read()?;
                match &read.0 {
                    Ok(batch) if batch.outcomes.len() > max as usize => {
                        // Fewer wanted than read ahead: back to what the loop holds, read again.
                        let taken = self.taken.clone()?;
                        self.open_at(taken)?;
                        self.read_now(max)?
                    }
                    _ => read,
                }
            }
            None => self.read_now(max)?,
        };
        let batch = batch?;
        self.taken = state;
        if !batch.end && !batch.outcomes.is_empty() && self.taken.is_ok() {
            self.send(Command::Read(max))?;
            self.ahead = Some(max);
        }
        Ok(batch)
    }

    fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        self.taken.clone()
    }

    fn yields_host_json(&self) -> bool {
        self.host_json
    }

    fn close(&mut self) -> Result<(), PluginError> {
        self.settle()?;
        self.send(Command::Close)?;
        let closed = match self.receive()? {
            Reply::Closed(result) => result,
            _ => Err(stopped("answered out of turn")),
        };
        self.commands = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        closed
    }
}

fn stopped(what: &str) -> PluginError {
    PluginError::Failed(ItemError::new(
        "host.read-ahead",
        format!(
            "the reader's read-ahead thread {what}; run the step again (restart resumes at its last commit)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers `0..n`, one item each; state: the next number.
    struct Counter {
        next: u64,
        n: u64,
        opens: Vec<u64>,
    }

    impl ItemReader for Counter {
        fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
            self.next = ctx.get("next").and_then(|v| v.as_u64()).unwrap_or(0);
            self.opens.push(self.next);
            Ok(())
        }
        fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
            let end = (self.next + u64::from(max)).min(self.n);
            let outcomes = (self.next..end)
                .map(|i| Ok(i.to_string().into_bytes()))
                .collect();
            self.next = end;
            Ok(ReadBatch {
                outcomes,
                end: end == self.n,
            })
        }
        fn update(&mut self) -> Result<ExecutionContext, PluginError> {
            let mut ctx = ExecutionContext::new();
            ctx.put("next", serde_json::json!(self.next));
            Ok(ctx)
        }
    }

    fn counter(n: u64) -> Box<dyn ItemReader> {
        Box::new(Counter {
            next: 0,
            n,
            opens: Vec::new(),
        })
    }

    fn items(b: &ReadBatch) -> Vec<String> {
        (b.outcomes.iter())
            .map(|o| String::from_utf8(o.clone().unwrap()).unwrap())
            .collect()
    }

    fn next(ctx: ExecutionContext) -> u64 {
        ctx.get("next").and_then(|v| v.as_u64()).unwrap()
    }

    /// Same batches, and the state is that of the batches taken, not of the one read ahead.
    #[test]
    fn gives_what_the_reader_gives_and_checkpoints_what_was_taken() {
        let mut r = ReadAhead::new(counter(25));
        r.open(&ExecutionContext::new()).unwrap();
        assert_eq!(next(r.update().unwrap()), 0);
        let first = r.read_batch(10).unwrap();
        assert_eq!(
            items(&first),
            (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
        );
        // The next batch is being read ahead; the state is still the first batch's end.
        assert_eq!(next(r.update().unwrap()), 10);
        let second = r.read_batch(10).unwrap();
        assert_eq!(items(&second)[0], "10");
        assert_eq!(next(r.update().unwrap()), 20);
        let third = r.read_batch(10).unwrap();
        assert_eq!(items(&third).len(), 5);
        assert!(third.end);
        assert_eq!(next(r.update().unwrap()), 25);
        r.close().unwrap();
    }

    /// Asking for fewer than were read ahead re-reads from the taken state: nothing is lost
    /// or given twice.
    #[test]
    fn a_smaller_batch_than_read_ahead_resumes_at_the_taken_state() {
        let mut r = ReadAhead::new(counter(30));
        r.open(&ExecutionContext::new()).unwrap();
        r.read_batch(10).unwrap();
        let small = r.read_batch(3).unwrap();
        assert_eq!(items(&small), ["10", "11", "12"]);
        assert_eq!(next(r.update().unwrap()), 13);
        // What was read ahead for the small batch may come first; then the rest, in order.
        let mut rest = Vec::new();
        loop {
            let b = r.read_batch(100).unwrap();
            rest.extend(items(&b));
            if b.end {
                break;
            }
        }
        assert_eq!(rest, (13..30).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(next(r.update().unwrap()), 30);
        r.close().unwrap();
    }

    /// Opening again (a restart inside the same process) drops what was read ahead.
    #[test]
    fn open_again_drops_the_batch_read_ahead() {
        let mut r = ReadAhead::new(counter(30));
        r.open(&ExecutionContext::new()).unwrap();
        r.read_batch(10).unwrap();
        let mut ctx = ExecutionContext::new();
        ctx.put("next", serde_json::json!(4));
        r.open(&ctx).unwrap();
        assert_eq!(items(&r.read_batch(2).unwrap()), ["4", "5"]);
        r.close().unwrap();
    }
}
