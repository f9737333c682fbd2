//! Call guards: every call into a guest ends within its wall-clock limit
//! (`limits.wall-per-call`), or at once when the process is interrupted (the second Ctrl-C or
//! SIGTERM) — whatever the guest is doing: computing, sleeping, or blocked in a WASI call.
//!
//! Epoch interruption only reaches a guest while it executes WebAssembly; a guest suspended in a
//! host call (a sleep, a blocking poll) is reached by dropping the call's future, which wasmtime
//! turns into a trap inside the guest. The store is unusable afterwards, exactly as after any
//! other trap, so the engine treats a cut call like one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Interrupts every running plugin call of the process, and every later one (cheap to clone).
#[derive(Debug, Clone)]
pub struct Interrupt(Arc<watch::Sender<bool>>);

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt(Arc::new(watch::channel(false).0))
    }
}

impl Interrupt {
    /// Cuts every running call and refuses new ones.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// True once [`trigger`](Self::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    async fn triggered(&self) {
        let mut rx = self.0.subscribe();
        if rx.wait_for(|v| *v).await.is_err() {
            // The sender lives as long as `self`; never reached, but never a false alarm.
            std::future::pending::<()>().await;
        }
    }
}

/// Why a guarded call was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// It ran past its wall-clock limit.
    Wall,
    /// The process was interrupted.
    Interrupted,
}

/// Runs `call` unless `interrupt` fires or `wall` passes first.
pub(super) async fn guard<F: Future>(
    wall: Duration,
    interrupt: &Interrupt,
    call: F,
) -> Result<F::Output, Cut> {
    tokio::select! {
        biased;
        () = interrupt.triggered() => Err(Cut::Interrupted),
        r = tokio::time::timeout(wall, call) => r.map_err(|_| Cut::Wall),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sleeping_call_is_cut_by_the_wall_limit_or_the_interrupt() {
        let i = Interrupt::default();
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        assert_eq!(
            guard(Duration::from_millis(20), &i, sleep).await,
            Err(Cut::Wall)
        );
        let fast = async { 7 };
        assert_eq!(guard(Duration::from_secs(1), &i, fast).await, Ok(7));

        let trigger = i.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            trigger.trigger();
        });
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        assert_eq!(
            guard(Duration::from_secs(3600), &i, sleep).await,
            Err(Cut::Interrupted)
        );
        assert!(i.is_triggered());
        // Once triggered, no call starts.
        assert_eq!(
            guard(Duration::from_secs(1), &i, async { 1 }).await,
            Err(Cut::Interrupted)
        );
    }
}
