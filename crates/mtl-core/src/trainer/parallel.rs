//! Training threads. Training parallelises over data, not inside kernels: a step's batch is
//! cut into shards that run forward and backward side by side, one per thread, with
//! single-threaded kernels (see [`super::run`]). At the reference model's sizes candle's
//! multi-threaded kernels spend more time handing work out than they save, while shards keep
//! every core busy for a whole pass.
//!
//! The program's `main` makes candle's kernels single-threaded before any thread starts and
//! hands the cores to [`set_threads`]; sessions then default to that many threads. A library
//! user that never calls it trains on one thread, as before.

use std::sync::{Mutex, OnceLock};

static THREADS: OnceLock<usize> = OnceLock::new();

/// Makes candle's kernels single-threaded for the whole process and gives the cores to
/// training's shards instead: sets `RAYON_NUM_THREADS` and `CANDLE_NUM_THREADS` to 1 and
/// [`set_threads`] to what `RAYON_NUM_THREADS` said before, else to the physical cores this
/// process may use, less one with `leave_one_for_ui` (at least 1). Returns that thread
/// count. A `CANDLE_NUM_THREADS` the user set is overridden too.
///
/// The desktop app leaves a core to its window: shards wait for each other at every step,
/// so a window that takes a core for a frame would stall all of them. On two cores one
/// training thread beside the window trains as fast as two that share their cores with it.
///
/// # Safety
///
/// It changes environment variables, so no other thread may exist yet (call it first thing
/// in `main`): candle reads both whenever it runs a kernel.
#[expect(
    unsafe_code,
    reason = "set_var before any thread starts, as documented"
)]
pub unsafe fn take_kernel_threads(leave_one_for_ui: bool) -> usize {
    let chosen = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > 0);
    // candle's count (the physical cores, or the performance cores), within what this
    // process may use (CPU affinity, container limits).
    let usable = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let cores = candle_core::utils::get_num_threads().min(usable).max(1);
    let threads = if leave_one_for_ui && !chosen {
        cores.saturating_sub(1).max(1)
    } else {
        cores
    };
    // SAFETY: the caller guarantees that no other thread exists.
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", "1");
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    set_threads(threads);
    threads
}

/// Sets the default thread count of new training sessions (once per process; later calls
/// are ignored). `main` calls it with the cores it took from candle's kernels.
pub fn set_threads(threads: usize) {
    THREADS.get_or_init(|| threads.max(1));
}

/// The default thread count of new training sessions (1 unless [`set_threads`] ran).
pub fn threads() -> usize {
    THREADS.get().copied().unwrap_or(1)
}

/// A pool of `threads` named worker threads, built once per size and kept for the process
/// (`None` for one thread, or when the threads cannot be started: the caller then runs the
/// work on its own thread).
pub fn pool(threads: usize) -> Option<&'static rayon::ThreadPool> {
    static POOLS: Mutex<Vec<(usize, &'static rayon::ThreadPool)>> = Mutex::new(Vec::new());
    if threads < 2 {
        return None;
    }
    let mut pools = POOLS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, pool)) = pools.iter().find(|(n, _)| *n == threads) {
        return Some(pool);
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("train-{i}"))
        .build()
    {
        Ok(pool) => {
            let pool: &'static rayon::ThreadPool = Box::leak(Box::new(pool));
            pools.push((threads, pool));
            Some(pool)
        }
        Err(e) => {
            log::warn!("could not start {threads} training threads, training on one: {e}");
            None
        }
    }
}

/// `f(i, item)` for every item, side by side on `pool` when there is one and more than one
/// item, else one after the other here. Results keep the items' order.
pub fn map<T: Send, R: Send>(
    pool: Option<&rayon::ThreadPool>,
    items: Vec<T>,
    f: impl Fn(usize, T) -> R + Sync,
) -> Vec<R> {
    use rayon::prelude::*;
    match pool {
        Some(pool) if items.len() > 1 => pool.install(|| {
            items
                .into_par_iter()
                .enumerate()
                .map(|(i, t)| f(i, t))
                .collect()
        }),
        _ => items
            .into_iter()
            .enumerate()
            .map(|(i, t)| f(i, t))
            .collect(),
    }
}
