//! Sandbox limits of one plugin instance, and the memory limiter that enforces `memory`.

/// Resource limits of one plugin instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Compute budget of one call into the guest, enforced with epoch interruption (time the
    /// guest spends suspended in a host call is not charged).
    pub cpu_per_call: std::time::Duration,
    /// Wall-clock budget of one call, whatever the guest does (computes, sleeps, blocks).
    pub wall_per_call: std::time::Duration,
    /// Largest linear memory the guest may grow to, in bytes.
    pub memory: usize,
    /// Largest item a plugin may hand to the host, in bytes.
    pub max_item_size: usize,
    /// Largest ExecutionContext a plugin may hand to the host (keys plus JSON values), in bytes.
    pub max_context_size: usize,
    /// Deterministic budget: WebAssembly fuel per item of a call (calls without items count as
    /// one item). `None`: unlimited.
    pub fuel_per_item: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_per_call: std::time::Duration::from_secs(60),
            wall_per_call: std::time::Duration::from_secs(300),
            memory: 256 << 20,
            max_item_size: 16 << 20,
            max_context_size: 1 << 20,
            fuel_per_item: None,
        }
    }
}

impl Limits {
    /// The built-in ceilings no job may exceed (a host configuration may lower them).
    pub fn ceilings() -> Self {
        Limits {
            cpu_per_call: std::time::Duration::from_secs(600),
            wall_per_call: std::time::Duration::from_secs(3600),
            memory: 4 << 30,
            max_item_size: 1 << 30,
            max_context_size: 64 << 20,
            fuel_per_item: None,
        }
    }

    /// Each limit the tighter of the two (`None` fuel is unlimited).
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            cpu_per_call: self.cpu_per_call.min(other.cpu_per_call),
            wall_per_call: self.wall_per_call.min(other.wall_per_call),
            memory: self.memory.min(other.memory),
            max_item_size: self.max_item_size.min(other.max_item_size),
            max_context_size: self.max_context_size.min(other.max_context_size),
            fuel_per_item: match (self.fuel_per_item, other.fuel_per_item) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// Denies memory growth past the limit and remembers that it did.
pub(super) struct MemoryLimiter {
    pub(super) max: usize,
    pub(super) hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
