//! What the settings panel and the Dataset tab know about the current data.

use super::*;

impl MtlApp {
    pub(super) fn summary_key(spec: &ExperimentSpec) -> String {
        // Everything the summary depends on, the split's label balance included.
        format!(
            "{}|{}|{:?}|{}|{:?}",
            serde_json::to_string(&spec.dataset).unwrap_or_default(),
            spec.seed,
            spec.tasks
                .iter()
                .map(|t| (&t.name, &t.target, t.kind))
                .collect::<Vec<_>>(),
            spec.training.validation_fraction,
            spec.training.keep_labels
        )
    }

    /// Brings the data summary up to date with the edited spec. Generated data are
    /// summarised at once (a bounded preview); data read from a file (CSV, IDX, the shipped
    /// files) are read on a background thread, so the window never waits on a file: until
    /// they arrive the old summary stays, marked as loading.
    pub(super) fn refresh_summary(&mut self) {
        self.poll_summary();
        let key = Self::summary_key(&self.state.spec);
        if key == self.summary_key {
            return;
        }
        self.summary_key.clone_from(&key);
        if self.state.spec.dataset.source().input_size().is_some() {
            self.summary_job = None;
            self.summary = summarise(&self.state.spec, None);
            return;
        }
        let spec = self.state.spec.clone();
        let slot: Arc<std::sync::Mutex<Option<DataSummary>>> = Arc::default();
        let (out, waker) = (Arc::clone(&slot), Arc::clone(&self.waker));
        let started = std::thread::Builder::new()
            .name("data-summary".to_owned())
            .spawn(move || {
                let summary = summarise(&spec, None);
                if let Ok(mut s) = out.lock() {
                    *s = Some(summary);
                }
                waker();
            });
        match started {
            Ok(_) => {
                self.summary.loading = true;
                self.summary_job = Some(SummaryJob { key, slot });
            }
            Err(e) => {
                log::warn!("could not read the data in the background: {e}");
                self.summary = summarise(&self.state.spec, None);
            }
        }
    }

    /// Takes the background summary when it has arrived (and is still the one wanted).
    fn poll_summary(&mut self) {
        let Some(job) = &self.summary_job else {
            return;
        };
        let done = job.slot.lock().ok().and_then(|mut s| s.take());
        if let Some(summary) = done {
            if job.key == self.summary_key {
                self.summary = summary;
            }
            self.summary_job = None;
        }
    }

    /// Whether the data summary is still being read.
    pub fn summary_loading(&self) -> bool {
        self.summary_job.is_some()
    }
}

/// A data summary being made on a background thread.
pub(super) struct SummaryJob {
    /// The spec's summary key it was started for.
    key: String,
    /// Where the thread puts it.
    slot: Arc<std::sync::Mutex<Option<DataSummary>>>,
}

pub(super) fn read_header(path: &Path) -> Result<Vec<String>, String> {
    let file =
        crate::fsguard::open_regular(path).map_err(|e| format!("{e}: {}", path.display()))?;
    // A header line is short; a file without line breaks is not read past the text limit.
    let mut reader =
        csv::Reader::from_reader(std::io::Read::take(file, crate::limits::MAX_TEXT_BYTES));
    let header = reader
        .headers()
        .map_err(|e| format!("{e}: {}", path.display()))?;
    Ok(header.iter().map(|h| h.trim().to_owned()).collect())
}

/// The spec's tasks split as training would split them (None when the tasks do not fit).
pub(super) fn split_balance(
    spec: &ExperimentSpec,
    d: &data::Dataset,
) -> Option<Vec<data::TaskBalance>> {
    let mut prepared = spec.clone();
    prepared.model.input = d.features();
    data::PreparedData::new(&prepared, d)
        .ok()
        .map(|p| p.balance())
}

/// Label columns, class counts and measured label correlations of the spec's data (`loaded`
/// when it was just read, otherwise loaded here).
pub(super) fn summarise(spec: &ExperimentSpec, loaded: Option<data::Dataset>) -> DataSummary {
    // Correlations need only a prefix of the rows: the generators draw rows in order.
    let mut preview = spec.clone();
    preview.dataset = spec.dataset.source().preview();
    let full_rows = spec.dataset.source().rows();
    let result = match loaded {
        Some(d) => Ok(d),
        None => data::load(&preview),
    };
    match result {
        Ok(d) => {
            let mut targets: Vec<(String, crate::experiment::TaskKind)> =
                d.targets.iter().map(|t| (t.name.clone(), t.kind)).collect();
            // The header, read once (a second open of the file could block, e.g. on a FIFO).
            let header = match &spec.dataset {
                DatasetSpec::Csv(c) if d.encoding.is_some() => read_header(&c.path).ok(),
                _ => None,
            };
            if let Some(header) = header
                && !header.iter().any(|h| h.starts_with("task:"))
            {
                // A plain CSV: any column can become a target; offer them all.
                targets = header
                    .into_iter()
                    .map(|n| {
                        let kind = spec
                            .tasks
                            .iter()
                            .find(|t| t.target == n)
                            .map_or(crate::experiment::TaskKind::Regression, |t| t.kind);
                        (n, kind)
                    })
                    .collect();
            }
            let index = |name: &str| d.targets.iter().position(|t| t.name == name);
            let correlations = spec
                .tasks
                .chunks(2)
                .filter(|pair| pair.len() == 2)
                .filter_map(|pair| {
                    Some((
                        pair[0].target.clone(),
                        pair[1].target.clone(),
                        d.label_correlation(index(&pair[0].target)?, index(&pair[1].target)?),
                    ))
                })
                .collect();
            DataSummary {
                targets,
                classes: d
                    .targets
                    .iter()
                    .map(|t| {
                        let width = match t.kind {
                            crate::experiment::TaskKind::Segmentation => t.width,
                            crate::experiment::TaskKind::SemanticSegmentation => {
                                t.classes.len() * t.width
                            }
                            _ => t.classes.len(),
                        };
                        (t.name.clone(), width)
                    })
                    .collect(),
                correlations,
                rows: full_rows.unwrap_or(d.rows),
                features: d.features(),
                error: None,
                loading: false,
                balance: split_balance(spec, &d),
                data: Some(Arc::new(d)),
            }
        }
        Err(e) => {
            let targets = match &spec.dataset {
                DatasetSpec::Csv(c) => read_header(&c.path)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| (n, crate::experiment::TaskKind::Regression))
                    .collect(),
                _ => Vec::new(),
            };
            DataSummary {
                targets,
                error: Some(e.to_string()),
                ..DataSummary::default()
            }
        }
    }
}
