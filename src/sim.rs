//! Seeds for the simulation tests (`quorum::sim_tests`, `replication::sim_tests`): each
//! run covers `SHOAL_SIM_RUNS` seeds (a default otherwise) from a random base it
//! prints, and a failure names its seed; `SHOAL_SIM_SEED=<seed>` replays that one alone.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Whether one seed is being replayed: the simulations then print what they did.
pub fn replaying() -> bool {
    std::env::var_os("SHOAL_SIM_SEED").is_some()
}

/// Runs `run` once per seed; a panic in it fails the test naming the seed to replay.
pub fn for_each_seed(name: &str, default_runs: u64, run: impl Fn(u64)) {
    let seeds: Vec<u64> = match std::env::var("SHOAL_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SHOAL_SIM_SEED is a number")],
        Err(_) => {
            let runs = std::env::var("SHOAL_SIM_RUNS")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(default_runs);
            let base = fastrand::u64(..);
            eprintln!(
                "{name} simulation: seeds {base} and the {} after it",
                runs.saturating_sub(1)
            );
            (0..runs).map(|i| base.wrapping_add(i)).collect()
        }
    };
    for seed in seeds {
        if catch_unwind(AssertUnwindSafe(|| run(seed))).is_err() {
            panic!("{name} simulation failed with seed {seed}; replay: SHOAL_SIM_SEED={seed}");
        }
    }
}
