//! The runtime in force, swapped whole on reload.
//!
//! Holds the `Arc` only; compiling is `runtime/mod.rs`'s job, deciding
//! when to swap is the relay's.

use std::sync::Arc;

use super::Runtime;

/// The runtime in force, swapped whole on reload. Readers clone the `Arc`
/// under a short read lock and never hold the lock across an `.await`.
#[derive(Debug)]
pub struct Snapshot(std::sync::RwLock<Arc<Runtime>>);

impl Snapshot {
    /// Starts with `runtime` in force.
    pub fn new(runtime: Runtime) -> Snapshot {
        Snapshot(std::sync::RwLock::new(Arc::new(runtime)))
    }

    /// The runtime in force now.
    pub fn load(&self) -> Arc<Runtime> {
        // A poisoned lock only means a writer panicked between two plain
        // assignments; the value inside is still a whole `Arc`.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `runtime` in force for every later `load`.
    pub fn store(&self, runtime: Arc<Runtime>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = runtime;
    }
}
