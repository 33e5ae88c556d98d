//! `train`: a headless run into a folder, with a progress bar.

use super::*;

/// `mtl-studio train`: [`crate::headless::train_to_dir_until`] with a progress bar; Ctrl-C or
/// SIGTERM interrupts it (see there).
pub fn train_with_bar(
    spec: &ExperimentSpec,
    out: &Path,
    start: &crate::headless::TrainStart,
    shown: bool,
) -> Result<TrainReport, CliError> {
    let bar = bar(
        shown,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps ({per_sec}, eta {eta}) {msg}",
    );
    let mut progress = |session: &Session, event: &RunEvent<'_>| match event {
        RunEvent::Started => {
            let epochs = if start.no_epochs {
                0
            } else {
                session.spec().training.epochs as u64
            };
            bar.set_length(session.steps_per_epoch() * epochs);
            // A resumed run starts where its checkpoint was.
            bar.set_position(session.step_count());
        }
        RunEvent::Stepped { .. } => bar.inc(1),
        RunEvent::EpochEnd { monitored } => {
            let split = if session.data().val.rows > 0 {
                "val"
            } else {
                "train"
            };
            let losses: Vec<String> = session
                .data()
                .tasks
                .iter()
                .zip(monitored.iter())
                .map(|(t, l)| format!("{} {l:.4}", t.name))
                .collect();
            bar.set_message(format!(
                "epoch {} {split}: {}",
                session.epochs_done(),
                losses.join(", ")
            ));
        }
        _ => {}
    };
    // Ctrl-C or SIGTERM ends the run after the current step, and what it produced is written.
    let interrupt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&interrupt);
    // Only one handler per process; a second `train` in the same process (tests) reuses none,
    // and then an interrupt simply ends the process as before.
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    let report = crate::headless::train_to_dir_from(spec, out, start, &mut progress, &interrupt);
    bar.finish_and_clear();
    report
}
