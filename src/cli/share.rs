//! `share`: the share code of a spec or experiment file, and back.

use std::io::Read as _;

use super::*;
use crate::handout::Experiment;

/// `mtl-studio share FILE`: prints the file's share code (a file that does not load, or an
/// experiment too big for a code, is an error). Data files named by the experiment are noted
/// on standard error: whoever opens the code needs them at the same place.
pub(super) fn encode(file: &Path) -> Result<(), CliError> {
    let experiment = Experiment::load(file)?;
    let code = experiment
        .share_code()
        .map_err(|e| CliError::Other(e.to_string()))?;
    for path in experiment.local_files() {
        writeln!(
            std::io::stderr().lock(),
            "note: the experiment reads {} on this machine; whoever opens the code needs that file there",
            path.display()
        )
        .ok();
    }
    stdout_line(&code)
}

/// `mtl-studio share --decode CODE`: prints the experiment the code carries as an experiment
/// file; one with problems is printed too (to be fixed), then its problems are the error.
pub(super) fn decode(code: &str) -> Result<(), CliError> {
    let code = if code == "-" {
        let mut text = String::new();
        std::io::stdin()
            .lock()
            .take(1 << 20)
            .read_to_string(&mut text)
            .map_err(|e| {
                CliError::Other(format!("cannot read the code from standard input: {e}"))
            })?;
        text
    } else {
        code.to_owned()
    };
    let experiment =
        Experiment::from_share_code(&code).map_err(|e| CliError::Other(e.to_string()))?;
    let text = experiment.to_toml().map_err(CliError::Other)?;
    stdout_line(text.trim_end())?;
    Ok(experiment.check()?)
}
