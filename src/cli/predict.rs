//! `predict`: an exported model on the inputs of a CSV file; `export onnx`: the model as an
//! ONNX graph.

use super::*;

/// `mtl-studio predict`: the predictions of `model` for the rows of `input`, after its
/// `id:` columns. A categorical level the model was not trained on is a warning on standard
/// error per (column, level), with its count, and encodes as all zeros; with `strict` it is
/// an error.
pub(super) fn predict(
    model: &Path,
    input: &Path,
    output: Option<&Path>,
    strict: bool,
) -> Result<(), CliError> {
    let file = export::load_model(model)?;
    let session = Session::from_model_file(&file)?;
    let encoding = file
        .input_encoding
        .clone()
        .unwrap_or_else(|| crate::data::csv::InputEncoding::numeric(&file.feature_names));
    let read = crate::data::csv::read_for_prediction(input, &encoding, strict)?;
    let mut stderr = std::io::stderr().lock();
    for unseen in &read.unseen {
        // A warning that cannot be written is no reason to withhold the predictions.
        let _ = writeln!(stderr, "warning: {}: {}", input.display(), unseen.message());
    }
    drop(stderr);
    let preds = session.predict(&read.x)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = read.id_header.clone();
    for task in &file.tasks {
        match task.kind {
            TaskKind::Regression => header.push(task.name.clone()),
            TaskKind::Binary => {
                header.push(task.name.clone());
                header.push(format!("{}_p", task.name));
            }
            TaskKind::Multiclass => {
                header.push(task.name.clone());
                header.extend(task.classes.iter().map(|c| format!("{}_p_{c}", task.name)));
            }
            TaskKind::Segmentation => {
                header.extend((0..task.out_dim).map(|i| format!("{}_p_{i}", task.name)));
            }
            TaskKind::SemanticSegmentation => {
                let pixels = task.out_dim / task.classes.len().max(1);
                header.extend((0..pixels).map(|i| format!("{}_{i}", task.name)));
            }
        }
    }
    let csv_err = |e: csv::Error| CliError::Other(format!("cannot write predictions: {e}"));
    w.write_record(&header).map_err(csv_err)?;
    for (r, ids) in read.id_rows.iter().enumerate() {
        let mut record = ids.clone();
        for (task, p) in file.tasks.iter().zip(&preds) {
            let row = &p[r * task.out_dim..(r + 1) * task.out_dim];
            match task.kind {
                TaskKind::Regression => record.push(row[0].to_string()),
                TaskKind::Binary => {
                    let class = usize::from(row[0] >= 0.5);
                    record.push(
                        task.classes
                            .get(class)
                            .cloned()
                            .unwrap_or_else(|| class.to_string()),
                    );
                    record.push(row[0].to_string());
                }
                TaskKind::Multiclass => {
                    let class = crate::metrics::argmax(row);
                    record.push(
                        task.classes
                            .get(class)
                            .cloned()
                            .unwrap_or_else(|| class.to_string()),
                    );
                    record.extend(row.iter().map(ToString::to_string));
                }
                TaskKind::Segmentation => record.extend(row.iter().map(ToString::to_string)),
                TaskKind::SemanticSegmentation => {
                    // The most probable class of each pixel.
                    let classes = task.classes.len().max(1);
                    let pixels = task.out_dim / classes;
                    record.extend((0..pixels).map(|p| {
                        let best = (0..classes)
                            .max_by(|a, b| row[a * pixels + p].total_cmp(&row[b * pixels + p]))
                            .unwrap_or(0);
                        task.classes.get(best).cloned().unwrap_or_default()
                    }));
                }
            }
        }
        w.write_record(&record).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| CliError::Other(format!("cannot write predictions: {e}")))?;
    match output {
        Some(path) => Ok(export::write_atomic(path, &bytes)?),
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .map_err(|e| CliError::Other(format!("cannot write to standard output: {e}"))),
    }
}

pub(super) fn export_onnx(model: &Path, output: &Path) -> Result<(), CliError> {
    let file = export::load_model(model)?;
    export::onnx::write_onnx(output, &file)?;
    let outputs: Vec<String> = file
        .tasks
        .iter()
        .map(|t| format!("{} [N, {}]", t.name, t.out_dim))
        .collect();
    writeln!(
        std::io::stderr().lock(),
        "wrote {} (opset {}): input {} [N, {}], outputs {}",
        output.display(),
        export::onnx::OPSET,
        export::onnx::INPUT,
        file.feature_names.len(),
        outputs.join(", ")
    )
    .ok();
    Ok(())
}
