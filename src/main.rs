//! `mtl-studio`: opens the desktop app, or runs a headless subcommand.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use mtl_studio::cli::{Cli, Command};
use mtl_studio::experiment::ExperimentSpec;

fn main() -> ExitCode {
    take_kernel_threads();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        None => mtl_studio::app::run_native(None, None)
            .map_err(|e| anyhow::anyhow!("cannot open the window: {e}")),
        Some(Command::Gui { spec }) => {
            let is_data = spec.as_ref().is_some_and(|p| {
                let name = p.to_string_lossy().to_ascii_lowercase();
                name.ends_with(".csv")
                    || name.ends_with(".csv.gz")
                    || mtl_studio::data::idx::is_idx_images(p)
            });
            let (spec, dataset) = if is_data { (None, spec) } else { (spec, None) };
            match spec.map(|p| ExperimentSpec::load(p.as_path())).transpose() {
                Ok(spec) => mtl_studio::app::run_native(spec, dataset)
                    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}")),
                Err(e) => Err(e.into()),
            }
        }
        Some(command) => mtl_studio::cli::run(command).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            writeln!(std::io::stderr().lock(), "error: {e:#}").ok();
            ExitCode::FAILURE
        }
    }
}

/// Makes candle's kernels single-threaded and gives the cores to training's data-parallel
/// shards instead ([`mtl_studio::trainer::parallel`]). The thread count is
/// `RAYON_NUM_THREADS` when set (as for candle), else the machine's physical cores.
fn take_kernel_threads() {
    let threads = candle_core::utils::get_num_threads();
    // SAFETY: this runs first in `main`, before any other thread exists, so nothing can
    // read the environment while it changes. candle reads both variables when it runs a
    // kernel.
    #[expect(unsafe_code, reason = "set_var before any thread starts")]
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", "1");
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    mtl_studio::trainer::parallel::set_threads(threads);
}
