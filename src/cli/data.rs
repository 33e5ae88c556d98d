//! `init --data`, `inspect` and `export data`: a ready spec for a data file, what an IDX
//! file holds, and an experiment's data as MTL-CSV.

use super::*;

/// A ready spec (TOML) for a CSV file: its tasks, a default model, the file's absolute path.
pub(super) fn spec_for_file(file: &Path) -> Result<String, CliError> {
    if crate::data::idx::is_idx_images(file) {
        let mut idx = idx_spec(file);
        let d = crate::data::idx::load(&idx, 0)?;
        idx.images = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
        let targets = crate::data::idx::targets(&idx);
        let mut spec =
            ExperimentSpec::for_tasks(&d.name, crate::experiment::DatasetSpec::Idx(idx), &targets);
        spec.model.shared = vec![
            crate::experiment::LayerSpec::Linear { out: 128 },
            crate::experiment::LayerSpec::Relu,
            crate::experiment::LayerSpec::Linear { out: 64 },
            crate::experiment::LayerSpec::Relu,
        ];
        spec.training.epochs = 10;
        spec.training.batch_size = 64;
        let toml = spec
            .to_toml()
            .map_err(|e| CliError::Other(format!("cannot write the spec: {e}")))?;
        return Ok(format!(
            "# Made by `mtl-studio init --data {}` ({} images).\n# Set pairs = true under [dataset] for MultiMNIST (tasks left, right).\n\n{toml}",
            file.display(),
            d.rows
        ));
    }
    let inspection = crate::data::inspect::inspect_file(file, &std::collections::BTreeMap::new())?;
    let mut spec = inspection.spec();
    if let crate::experiment::DatasetSpec::Csv(c) = &mut spec.dataset {
        c.path = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    }
    let toml = spec
        .to_toml()
        .map_err(|e| CliError::Other(format!("cannot write the spec: {e}")))?;
    let mut head = format!(
        "# Made by `mtl-studio init --data {}`.\n# Train it: mtl-studio train THIS.toml --out run\n",
        file.display()
    );
    for note in &inspection.notes {
        head.push_str(&format!("# note: {note}\n"));
    }
    head.push_str("# model.input = 0 takes the input size from the file.\n\n");
    Ok(head + &toml)
}

/// `inspect` for an IDX images file: its size and each task's class counts.
pub(super) fn inspect_idx(file: &Path) -> Result<(), CliError> {
    let d = crate::data::idx::load(&idx_spec(file), 0)?;
    stdout_line(&format!(
        "{}: {} images of {} pixels (IDX)",
        file.display(),
        d.rows,
        d.features()
    ))?;
    for t in &d.targets {
        let counts: Vec<String> = t
            .classes
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let n = t.values.iter().filter(|v| **v as usize == c).count();
                format!("{name}: {n}")
            })
            .collect();
        stdout_line(&format!("  {} ({}): {}", t.name, t.kind, counts.join(", ")))?;
    }
    Ok(())
}

/// An IDX images file with its labels found by name.
pub(super) fn idx_spec(file: &Path) -> crate::experiment::IdxSpec {
    crate::experiment::IdxSpec {
        images: file.to_owned(),
        labels: None,
        pairs: false,
        limit: 0,
    }
}

/// `export data`: the experiment's dataset as MTL-CSV v1 with its split column; says on
/// standard error what was written.
pub(super) fn export_data(spec: &Path, output: &Path) -> Result<(), CliError> {
    let spec = ExperimentSpec::load(spec)?;
    let summary = crate::export::data::write_mtl_csv(&spec, output)?;
    writeln!(
        std::io::stderr().lock(),
        "wrote {} rows ({} train, {} val) × {} columns to {}",
        summary.rows,
        summary.train,
        summary.val,
        summary.columns,
        output.display()
    )
    .ok();
    Ok(())
}

/// `export torch`: `model.py`, `train.py` and `data.csv` for a run, in `dir`.
pub(super) fn export_torch(run: &Path, dir: &Path) -> Result<(), CliError> {
    let file = export::load_model(run)?;
    let data = crate::export::data::mtl_csv(&file.spec).map(|(csv, _)| csv);
    let written = crate::export::torch::write_torch(&file, dir, data)?;
    let mut err = std::io::stderr().lock();
    for path in &written.files {
        writeln!(err, "wrote {}", path.display()).ok();
    }
    if let Some(why) = &written.data_note {
        writeln!(
            err,
            "note: data.csv not written ({why}); train.py needs the data as MTL-CSV v1: \
             `mtl-studio export data SPEC -o {}`",
            dir.join("data.csv").display()
        )
        .ok();
    }
    writeln!(
        err,
        "train it: python {} (or torchrun --nproc_per_node N {})",
        dir.join("train.py").display(),
        dir.join("train.py").display()
    )
    .ok();
    Ok(())
}

/// `mtl-studio init`: the commented default spec, or with `data` a ready spec for that CSV
/// file, to `output` or standard output.
pub(super) fn init(
    output: Option<&std::path::Path>,
    data: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let text = match data {
        Some(file) => spec_for_file(file)?,
        None => crate::experiment::DEFAULT_SPEC_TOML.to_owned(),
    };
    match output {
        Some(path) => Ok(export::write_atomic(path, text.as_bytes())?),
        None => stdout_line(text.trim_end()),
    }
}
