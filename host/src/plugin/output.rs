//! Guest stdout and stderr: forwarded line by line to the host's log, within a byte budget per
//! instance. A flood never blocks or kills the guest: past the budget the bytes are counted and
//! dropped, and one warning says how many. The last bytes of stderr are kept for error messages
//! (a Rust panic message lands there just before the trap). The `log` import is held to the
//! same budget ([`Budget`]), and every line is neutralised (control characters escaped) first.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

/// Bytes of each stream an instance may put into the log.
pub(super) const LOG_BUDGET: usize = 1 << 20;
/// Longest line forwarded as one record; longer ones are split.
const MAX_LINE: usize = 8 << 10;
/// Bytes of stderr kept for error messages.
const TAIL: usize = 2000;

/// Which stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    Stdout,
    Stderr,
    /// The `batch:plugin/log` import.
    Log,
}

/// Bytes one plugin instance may still put into the host's log through one stream; past the
/// budget, bytes are counted and dropped, and one warning (when the instance goes) says how many.
pub(super) struct Budget {
    plugin: Arc<str>,
    stream: Stream,
    forwarded: usize,
    dropped: usize,
}

impl Budget {
    pub(super) fn new(plugin: Arc<str>, stream: Stream) -> Self {
        Budget {
            plugin,
            stream,
            forwarded: 0,
            dropped: 0,
        }
    }

    /// True when `bytes` more fit the budget (and charges them); false counts them as dropped.
    pub(super) fn admit(&mut self, bytes: usize) -> bool {
        if self.forwarded + bytes > LOG_BUDGET {
            self.dropped = self.dropped.saturating_add(bytes);
            return false;
        }
        self.forwarded += bytes;
        true
    }

    /// True once nothing more fits.
    fn spent(&self) -> bool {
        self.forwarded >= LOG_BUDGET
    }

    pub(super) fn plugin(&self) -> &str {
        &self.plugin
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        if self.dropped > 0 {
            tracing::warn!(
                target: "batch.plugin",
                plugin = &*self.plugin,
                stream = ?self.stream,
                dropped_bytes = self.dropped,
                "the plugin wrote more than the {LOG_BUDGET}-byte log budget; the rest was dropped"
            );
        }
    }
}

struct State {
    budget: Budget,
    line: Vec<u8>,
    tail: VecDeque<u8>,
}

impl State {
    fn emit(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        if !self.budget.admit(line.len()) {
            return;
        }
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = crate::domain::neutralise_bytes(line, crate::domain::GuestField::LogLine);
        let plugin = self.budget.plugin();
        match self.budget.stream {
            Stream::Stderr => tracing::warn!(target: "batch.plugin.stderr", plugin, "{text}"),
            Stream::Stdout | Stream::Log => {
                tracing::info!(target: "batch.plugin.stdout", plugin, "{text}")
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.budget.stream == Stream::Stderr {
            self.tail.extend(bytes.iter().rev().take(TAIL).rev());
            let excess = self.tail.len().saturating_sub(TAIL);
            self.tail.drain(..excess);
        }
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            // Past the budget, skip the per-line work entirely.
            if self.budget.spent() {
                self.budget.admit(chunk.len());
                continue;
            }
            self.line.extend_from_slice(chunk);
            if chunk.ends_with(b"\n") || self.line.len() >= MAX_LINE {
                self.emit();
            }
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.emit();
    }
}

/// A guest output stream that goes to the log.
#[derive(Clone)]
pub(super) struct GuestOutput(Arc<Mutex<State>>);

impl GuestOutput {
    pub(super) fn new(plugin: Arc<str>, stream: Stream) -> Self {
        GuestOutput(Arc::new(Mutex::new(State {
            budget: Budget::new(plugin, stream),
            line: Vec::new(),
            tail: VecDeque::new(),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last bytes written (stderr only), for error messages.
    pub(super) fn tail(&self) -> String {
        let state = self.state();
        let bytes: Vec<u8> = state.tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.state().write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.state().write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floods_are_counted_not_fatal_and_the_tail_is_kept() {
        let out = GuestOutput::new("p".into(), Stream::Stderr);
        let mut stream: Box<dyn OutputStream> = out.p2_stream();
        let line = Bytes::from(vec![b'x'; 1000]);
        for _ in 0..3000 {
            stream.write(line.clone()).unwrap();
            stream.write(Bytes::from_static(b"\n")).unwrap();
        }
        stream
            .write(Bytes::from_static(b"panicked at the end"))
            .unwrap();
        let state = out.state();
        assert!(state.budget.forwarded <= LOG_BUDGET);
        assert!(state.budget.dropped > 1_000_000, "{}", state.budget.dropped);
        drop(state);
        assert!(out.tail().ends_with("panicked at the end"));
        assert!(out.tail().len() <= TAIL);
    }
}
