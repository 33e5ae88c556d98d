//! `sweep`: the trade-off sweep of a spec, with a progress bar.

use super::*;

/// `mtl-studio sweep`: loads the spec, applies the overrides, runs the sweep.
pub(super) fn sweep(args: SweepArgs) -> Result<String, CliError> {
    let mut spec = ExperimentSpec::load(&args.spec)?;
    if let Some(e) = args.epochs {
        spec.training.epochs = e;
    }
    let seeds = if args.seeds.is_empty() {
        vec![spec.seed]
    } else {
        args.seeds
    };
    let options = crate::sweep::SweepOptions {
        grid: args.grid,
        strategies: args.strategies,
        seeds,
        preferences: args.preferences,
        baselines: args.baselines,
        threads: args.threads.unwrap_or_else(crate::sweep::default_threads),
    };
    let bar = bar(
        !args.quiet,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs (eta {eta}) {msg}",
    );
    crate::sweep::sweep_to_dir(&spec, &options, &args.out, &|p| match p {
        crate::sweep::SweepProgress::Start { runs } => bar.set_length(runs as u64),
        crate::sweep::SweepProgress::Done { label, result } => {
            bar.inc(1);
            match &result.error {
                Some(e) => bar.println(format!("{label}: failed: {e}")),
                None => bar.set_message(format!("{label} done")),
            }
        }
        crate::sweep::SweepProgress::Finish => bar.finish_and_clear(),
    })
}
