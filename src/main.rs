//! `mtl-studio`: opens the desktop app, or runs a headless subcommand.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use mtl_studio::cli::{Cli, Command};
use mtl_studio::handout::Experiment;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let windowed = matches!(cli.command, None | Some(Command::Gui { .. }));
    // SAFETY: parsing the arguments starts no thread, so none exists yet.
    #[expect(unsafe_code, reason = "see take_kernel_threads")]
    unsafe {
        mtl_studio::trainer::parallel::take_kernel_threads(windowed);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let result: anyhow::Result<()> = match cli.command {
        None => mtl_studio::app::run_native(None, None, None)
            .map_err(|e| anyhow::anyhow!("cannot open the window: {e}")),
        Some(Command::Gui {
            code: Some(code), ..
        }) => {
            // A code that does not open shows why in the window, over the last session's
            // experiment.
            let (experiment, problem) = match Experiment::from_share_code(&code) {
                Ok(e) if e.problems().is_empty() => {
                    let outside = e.outside_paths();
                    (Some((e, outside)), None)
                }
                Ok(e) => (
                    None,
                    Some((
                        "Cannot open the share code".to_owned(),
                        e.problems().iter().map(ToString::to_string).collect(),
                    )),
                ),
                Err(e) => (
                    None,
                    Some(("Cannot open the share code".to_owned(), vec![e.to_string()])),
                ),
            };
            mtl_studio::app::run_native(experiment, None, problem)
                .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
        }
        Some(Command::Gui { spec, code: None }) => {
            let is_data = spec.as_ref().is_some_and(|p| {
                let name = p.to_string_lossy().to_ascii_lowercase();
                name.ends_with(".csv")
                    || name.ends_with(".csv.gz")
                    || mtl_studio::data::idx::is_idx_images(p)
            });
            let (spec, dataset) = if is_data { (None, spec) } else { (spec, None) };
            // A spec or experiment file that does not load opens the window anyway, with its
            // problems shown over the last session's experiment.
            let (spec, problem) = match spec {
                None => (None, None),
                Some(path) => match Experiment::load_with_outside(&path) {
                    Ok(loaded) => (Some(loaded), None),
                    Err(e) => (None, Some(mtl_studio::app::spec_problem(&path, &e))),
                },
            };
            mtl_studio::app::run_native(spec, dataset, problem)
                .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
        }
        Some(command) => mtl_studio::cli::run(command).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors that already say their cause are not followed by it again.
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            writeln!(std::io::stderr().lock(), "error: {message}").ok();
            ExitCode::FAILURE
        }
    }
}
