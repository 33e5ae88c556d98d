//! Experiments you can hand out.
//!
//! An **experiment file** is a spec file (TOML) with one more table, `[window]`: what the
//! window showed (the centre tab, the pace, the chart settings and presentation mode with the
//! controls hidden from students). `mtl-studio train` and `validate` read its spec and skip
//! the window; the app restores both.
//!
//! A **share code** carries the same as one short line of text to paste into a chat or a
//! slide: `mtl1.` (the code's format version) and then, base64url without padding, a CRC-32 of
//! the experiment's TOML followed by that TOML, raw-deflated against a preset dictionary that
//! is frozen with the format version ([`DICTIONARY_V1`]). [`Experiment::from_share_code`]
//! refuses codes of a newer format, damaged or cut-short codes and codes that would unpack to
//! more than [`MAX_TEXT_BYTES`], each with a sentence saying so; spaces and line breaks pasted
//! into a code are ignored.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::app::presentation::Presentation;
use crate::app::state::AppState;
use crate::experiment::{DatasetSpec, ExperimentSpec, SpecError, SpecProblem, WINDOW_TABLE};
use crate::trainer::Pace;
use crate::ui::plots::ViewPrefs;

/// The version of the `[window]` table this app writes and reads. Raise it when a field is
/// added that an older app must not silently drop; older files (and codes) keep opening, since
/// every field has a default.
pub const WINDOW_VERSION: u32 = 1;

/// What the window showed: the `[window]` table of an experiment file. Carries the chart and
/// presentation settings whole, so fields added to them travel too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Window {
    /// The table's format version ([`WINDOW_VERSION`]).
    pub version: u32,
    /// The key of the centre tab shown (see `app::tabs::TABS`).
    pub tab: String,
    /// How fast runs train.
    pub pace: Pace,
    /// Chart settings.
    pub view: ViewPrefs,
    /// Presentation mode and the controls hidden from students.
    pub presentation: Presentation,
}

impl Default for Window {
    fn default() -> Self {
        Self::of(&AppState::default())
    }
}

impl Window {
    /// What `state`'s window shows.
    pub fn of(state: &AppState) -> Self {
        Self {
            version: WINDOW_VERSION,
            tab: state.tab.clone(),
            pace: state.pace,
            view: state.view.clone(),
            presentation: state.presentation.clone(),
        }
    }

    /// Makes `state`'s window show this (the spec and the last folder stay).
    pub fn apply(&self, state: &mut AppState) {
        state.tab.clone_from(&self.tab);
        state.pace = self.pace;
        state.view.clone_from(&self.view);
        state.presentation.clone_from(&self.presentation);
    }

    /// What is wrong with these settings, each with its place under `window.`.
    pub fn problems(&self) -> Vec<SpecProblem> {
        let problem = |path: &str, message: String| SpecProblem {
            path: format!("{WINDOW_TABLE}.{path}"),
            message,
        };
        let mut out = Vec::new();
        let keys = crate::app::tabs::keys::TAB_KEYS;
        if !keys.contains(&self.tab.as_str()) {
            out.push(problem(
                "tab",
                format!("'{}' is not a tab; one of: {}", self.tab, keys.join(", ")),
            ));
        }
        if let Pace::StepsPerSec(rate) = self.pace
            && !(Pace::SLOWEST..=Pace::FASTEST).contains(&rate)
        {
            out.push(problem(
                "pace",
                format!(
                    "{rate} steps/s is outside {}–{}",
                    Pace::SLOWEST,
                    Pace::FASTEST
                ),
            ));
        }
        if !(0.0..=0.99).contains(&self.view.smoothing) {
            out.push(problem(
                "view.smoothing",
                format!("{} is outside 0–0.99", self.view.smoothing),
            ));
        }
        out.extend(
            self.presentation
                .problems()
                .into_iter()
                .map(|m| problem("presentation", m)),
        );
        out
    }
}

/// An experiment to hand out: the spec, and what the window showed when there is (a plain
/// spec file has no `[window]`; opening it changes only the experiment).
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    /// The experiment itself.
    pub spec: ExperimentSpec,
    /// The window's settings, if the file or code has them.
    pub window: Option<Window>,
}

/// The `[window]` table alone (the rest of the document is the spec's).
#[derive(Serialize, Deserialize)]
struct WindowPart<T> {
    window: Option<T>,
}

/// Only the window's version, read before the window itself so a newer one gets a clear
/// message rather than "unknown field".
#[derive(Deserialize)]
struct VersionOnly {
    #[serde(default)]
    version: Option<i64>,
}

/// The first line of an experiment file.
const FILE_HEADER: &str = "# MTL Studio experiment: the spec, then in [window] what the window showed (tab, pace,\n\
# charts, presentation). `mtl-studio train` and `validate` read the spec and skip [window].\n";

impl Experiment {
    /// The experiment `state` shows: its spec and its window.
    pub fn of(state: &AppState) -> Self {
        Self {
            spec: state.spec.clone(),
            window: Some(Window::of(state)),
        }
    }

    /// Makes `state` show this experiment (and its window, when it has one).
    pub fn apply(&self, state: &mut AppState) {
        state.spec.clone_from(&self.spec);
        if let Some(window) = &self.window {
            window.apply(state);
        }
    }

    /// Parses an experiment file's (or a spec file's) TOML; not validated.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let spec = ExperimentSpec::from_toml(text)?;
        let one_line = |e: toml::de::Error| e.to_string().trim_end().replace('\n', " ");
        let version: WindowPart<VersionOnly> = toml::from_str(text).map_err(one_line)?;
        if let Some(v) = version.window.and_then(|w| w.version)
            && v > i64::from(WINDOW_VERSION)
        {
            return Err(format!(
                "{WINDOW_TABLE}.version = {v}: this experiment was saved by a newer MTL Studio (window format {v}; this one reads format {WINDOW_VERSION}); update MTL Studio to open it"
            ));
        }
        let window: WindowPart<Window> = toml::from_str(text).map_err(one_line)?;
        Ok(Self {
            spec,
            window: window.window,
        })
    }

    /// The experiment file's text: a comment saying what it is, the spec's TOML, then the
    /// `[window]` table (without a window, the spec's TOML alone).
    pub fn to_toml(&self) -> Result<String, String> {
        let Some(window) = &self.window else {
            return self.spec.to_toml();
        };
        let mut text = String::from(FILE_HEADER);
        text.push_str(&self.spec.to_toml()?);
        {
            text.push('\n');
            text.push_str(
                &toml::to_string_pretty(&WindowPart {
                    window: Some(window),
                })
                .map_err(|e| e.to_string())?,
            );
        }
        Ok(text)
    }

    /// The same TOML without comments or layout, as a share code carries it.
    fn to_compact_toml(&self) -> Result<String, String> {
        let mut text = toml::to_string(&self.spec).map_err(|e| e.to_string())?;
        if let Some(window) = &self.window {
            text.push_str(
                &toml::to_string(&WindowPart {
                    window: Some(window),
                })
                .map_err(|e| e.to_string())?,
            );
        }
        Ok(text)
    }

    /// Reads a spec or experiment file (TOML, or a spec as JSON), resolving relative data
    /// paths against its folder, and validates both parts.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        Self::load_with_outside(path).map(|(experiment, _)| experiment)
    }

    /// [`Self::load`], and the data files it reads outside its own folder (an absolute
    /// path, or `..` that climbs out), in full: the app asks before it reads them.
    pub fn load_with_outside(path: &Path) -> Result<(Self, Vec<PathBuf>), SpecError> {
        let text =
            crate::fsguard::read_regular_to_string(path).map_err(|source| SpecError::Io {
                path: path.to_owned(),
                source,
            })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if is_json {
            ExperimentSpec::from_json(&text).map(|spec| Self { spec, window: None })
        } else {
            Self::from_toml(&text)
        };
        let mut experiment = parsed.map_err(|message| SpecError::Parse {
            path: path.to_owned(),
            message,
        })?;
        let outside = experiment.spec.dataset.paths_outside();
        if let Some(dir) = path.parent() {
            experiment.spec.dataset.source_mut().resolve_paths(dir);
        }
        experiment.check()?;
        let outside = match path.parent() {
            Some(dir) => outside.iter().map(|p| full_path(&dir.join(p))).collect(),
            None => outside,
        };
        Ok((experiment, outside))
    }

    /// The data files a share code's experiment reads that need the user's word: absolute
    /// paths, or `..` that climbs out of the working folder. In full.
    pub fn outside_paths(&self) -> Vec<PathBuf> {
        self.spec
            .dataset
            .paths_outside()
            .iter()
            .map(|p| full_path(p))
            .collect()
    }

    /// Every problem of the spec and of the window, each with its place.
    pub fn problems(&self) -> Vec<SpecProblem> {
        let mut problems = self.spec.validate();
        if let Some(window) = &self.window {
            problems.extend(window.problems());
        }
        problems
    }

    /// Validates, turning problems into an error.
    pub fn check(&self) -> Result<(), SpecError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Invalid(problems))
        }
    }

    /// Files on this machine the experiment reads its data from: whoever opens its share code
    /// needs them at the same place.
    pub fn local_files(&self) -> Vec<PathBuf> {
        match &self.spec.dataset {
            DatasetSpec::Csv(csv) => vec![csv.path.clone()],
            DatasetSpec::Idx(idx) => std::iter::once(idx.images.clone())
                .chain(idx.labels.clone())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The experiment's share code.
    pub fn share_code(&self) -> Result<String, ShareError> {
        let text = self.to_compact_toml().map_err(ShareError::Encode)?;
        let code = encode_text(&text)?;
        if code.len() > MAX_CODE_CHARS {
            return Err(ShareError::TooLong(code.len()));
        }
        Ok(code)
    }

    /// The experiment a share code carries (not validated: see [`Self::problems`]).
    pub fn from_share_code(code: &str) -> Result<Self, ShareError> {
        let text = decode_text(code)?;
        Self::from_toml(&text).map_err(ShareError::Parse)
    }
}

/// `path` as the user should see it before it is read: where it really leads (links and
/// `..` followed) when it exists, otherwise absolute with `..` taken out.
pub fn full_path(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The format version of the share codes this app writes and reads.
pub const CODE_VERSION: u32 = 1;

/// What every share code starts with, before its format version and a dot: `mtl1.`.
pub const CODE_PREFIX: &str = "mtl";

/// The longest share code made or read; a longer experiment goes in an experiment file.
pub const MAX_CODE_CHARS: usize = 4000;

/// The most TOML a share code may unpack to (a larger one is refused, not unpacked).
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// The preset deflate dictionary of format 1: TOML that experiments share (the default
/// experiment and window, the common tables and values), so a code needs to hold only what
/// differs. Frozen: codes of format 1 unpack against exactly this text; a changed dictionary
/// needs a new [`CODE_VERSION`] (a test checks its checksum).
pub const DICTIONARY_V1: &str = include_str!("handout/dictionary-v1.toml");

/// Why a share code could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// The experiment could not be written as TOML.
    #[error("cannot write the experiment as TOML: {0}")]
    Encode(String),
    /// The code would be longer than [`MAX_CODE_CHARS`].
    #[error(
        "the share code would be {0} characters, more than the {MAX_CODE_CHARS} a code may have: save an experiment file instead (File › Save experiment…)"
    )]
    TooLong(usize),
    /// The text is empty.
    #[error("no share code given: paste one (it starts with `{CODE_PREFIX}{CODE_VERSION}.`)")]
    Empty,
    /// The text is not a share code at all.
    #[error("not an MTL Studio share code: those start with `{CODE_PREFIX}{CODE_VERSION}.`")]
    NotACode,
    /// The code is of a newer format than this app reads.
    #[error(
        "this share code is of format {0}, made by a newer MTL Studio; this one reads format {CODE_VERSION}: update MTL Studio to open it"
    )]
    Newer(u32),
    /// The code is damaged: a wrong character, a part missing, a check that fails.
    #[error("the share code is damaged ({0}): copy it again in full")]
    Damaged(&'static str),
    /// The code would unpack to more than [`MAX_TEXT_BYTES`].
    #[error("the share code unpacks to more than {} KiB, more than any experiment: refused", MAX_TEXT_BYTES / 1024)]
    TooLarge,
    /// The code unpacked, but its experiment does not parse.
    #[error("the share code's experiment does not read: {0}")]
    Parse(String),
}

/// The code of `text`: prefix, version, dot, base64url of the CRC-32 and the raw deflate.
fn encode_text(text: &str) -> Result<String, ShareError> {
    encode_with(text, DICTIONARY_V1.as_bytes())
}

/// [`encode_text`] against `dictionary`.
fn encode_with(text: &str, dictionary: &[u8]) -> Result<String, ShareError> {
    use miniz_oxide::deflate::core::{CompressorOxide, TDEFLFlush, TDEFLStatus, compress};
    use miniz_oxide::{DataFormat, deflate::CompressionLevel};
    let mut compressor =
        CompressorOxide::with_format_and_level(DataFormat::Raw, CompressionLevel::UberCompression);
    // Room for the dictionary's own (discarded) output and the text stored uncompressed.
    let mut out = vec![0u8; dictionary.len() + text.len() + 1024];
    // The dictionary goes in first and is flushed to a byte boundary; its output is dropped, so
    // what follows refers back to it as an unpacker with the same dictionary preloaded sees it.
    let (status, used, prefix) = compress(&mut compressor, dictionary, &mut out, TDEFLFlush::Sync);
    if status != TDEFLStatus::Okay || used != dictionary.len() {
        return Err(ShareError::Encode(format!(
            "the compressor stopped: {status:?}"
        )));
    }
    let (status, used, written) = compress(
        &mut compressor,
        text.as_bytes(),
        &mut out[prefix..],
        TDEFLFlush::Finish,
    );
    if status != TDEFLStatus::Done || used != text.len() {
        return Err(ShareError::Encode(format!(
            "the compressor stopped: {status:?}"
        )));
    }
    let mut bytes = crc32fast::hash(text.as_bytes()).to_be_bytes().to_vec();
    bytes.extend_from_slice(&out[prefix..prefix + written]);
    Ok(format!(
        "{CODE_PREFIX}{CODE_VERSION}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The TOML a share code carries.
fn decode_text(code: &str) -> Result<String, ShareError> {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::{
        DecompressorOxide, decompress, inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    };
    // Spaces and line breaks from a chat or a slide, and quotes around the code, are not part
    // of it.
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let code = code.trim_matches(|c| matches!(c, '"' | '\'' | '`' | '<' | '>'));
    if code.is_empty() {
        return Err(ShareError::Empty);
    }
    let rest = code.strip_prefix(CODE_PREFIX).ok_or(ShareError::NotACode)?;
    let (version, payload) = rest.split_once('.').ok_or(ShareError::NotACode)?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ShareError::NotACode);
    }
    let version: u32 = version.parse().map_err(|_| ShareError::Newer(u32::MAX))?;
    if version > CODE_VERSION {
        return Err(ShareError::Newer(version));
    }
    if version < CODE_VERSION {
        // There is no format 0.
        return Err(ShareError::NotACode);
    }
    if code.len() > MAX_CODE_CHARS {
        return Err(ShareError::Damaged("longer than any share code"));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(..) => {
                ShareError::Damaged("it holds characters other than letters, digits, - and _")
            }
            _ => ShareError::Damaged("cut short or changed"),
        })?;
    let Some((check, packed)) = bytes.split_first_chunk::<4>() else {
        return Err(ShareError::Damaged("too short"));
    };
    let dictionary = DICTIONARY_V1.as_bytes();
    let mut out = vec![0u8; dictionary.len() + MAX_TEXT_BYTES];
    out[..dictionary.len()].copy_from_slice(dictionary);
    let mut decompressor = DecompressorOxide::new();
    let (status, _, written) = decompress(
        &mut decompressor,
        packed,
        &mut out,
        dictionary.len(),
        TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    );
    match status {
        TINFLStatus::Done => {}
        TINFLStatus::HasMoreOutput => return Err(ShareError::TooLarge),
        TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
            return Err(ShareError::Damaged("cut short"));
        }
        _ => return Err(ShareError::Damaged("it does not unpack")),
    }
    let text = &out[dictionary.len()..dictionary.len() + written];
    if crc32fast::hash(text).to_be_bytes() != *check {
        return Err(ShareError::Damaged("its check does not match"));
    }
    String::from_utf8(text.to_vec()).map_err(|_| ShareError::Damaged("it is not text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_experiment() -> Experiment {
        let mut state = AppState {
            tab: "Network".to_owned(),
            pace: Pace::StepsPerSec(12.5),
            ..AppState::default()
        };
        state.view.log_scale = false;
        state.presentation.on = true;
        state.presentation.scale = 2.0;
        state.presentation.hidden.insert("model".to_owned());
        Experiment::of(&state)
    }

    #[test]
    fn an_experiment_file_round_trips_and_its_spec_reads_alone() {
        let experiment = example_experiment();
        let text = experiment.to_toml().expect("toml");
        assert!(text.contains("[window]"), "has the window table:\n{text}");
        assert_eq!(
            Experiment::from_toml(&text).expect("reads"),
            experiment,
            "the same experiment back"
        );
        assert_eq!(
            ExperimentSpec::from_toml(&text).expect("the spec part reads"),
            experiment.spec,
            "a spec reader gets the spec"
        );
        assert!(
            experiment.problems().is_empty(),
            "{:?}",
            experiment.problems()
        );
    }

    #[test]
    fn a_spec_without_a_window_reads_with_none_and_a_partial_window_with_defaults() {
        let spec = ExperimentSpec::default();
        let text = spec.to_toml().expect("toml");
        let plain = Experiment::from_toml(&text).expect("reads");
        assert_eq!(plain.window, None, "no window in a plain spec");
        let partial = format!("{text}\n[window]\ntab = \"Boundaries\"\n");
        let window = Experiment::from_toml(&partial)
            .expect("reads")
            .window
            .expect("a window");
        assert_eq!(window.tab, "Boundaries", "the field given");
        assert_eq!(
            window.presentation,
            Presentation::default(),
            "the rest from defaults"
        );
    }

    #[test]
    fn a_newer_window_and_bad_window_fields_are_refused_with_their_place() {
        let text = ExperimentSpec::default().to_toml().expect("toml");
        let newer = format!("{text}\n[window]\nversion = 7\nnew_thing = 1\n");
        let err = Experiment::from_toml(&newer).expect_err("newer");
        assert!(
            err.contains("newer") && err.contains('7') && err.contains("format 1"),
            "names both versions: {err}"
        );
        let typo = format!("{text}\n[window]\ntabb = \"Charts\"\n");
        let err = Experiment::from_toml(&typo).expect_err("typo");
        assert!(err.contains("tabb") && err.contains("line"), "{err}");
        let bad = format!(
            "{text}\n[window]\ntab = \"Nope\"\n[window.presentation]\nscale = 9.0\nhidden = [\"modle\"]\n"
        );
        let problems: Vec<String> = Experiment::from_toml(&bad)
            .expect("parses")
            .problems()
            .iter()
            .map(|p| p.path.clone())
            .collect();
        assert_eq!(
            problems,
            ["window.tab", "window.presentation", "window.presentation"],
            "each problem with its place"
        );
    }

    #[test]
    fn a_share_code_round_trips_exactly() {
        let experiment = example_experiment();
        let code = experiment.share_code().expect("code");
        assert!(code.starts_with("mtl1."), "{code}");
        assert!(code.len() < 400, "short: {} characters", code.len());
        assert_eq!(
            Experiment::from_share_code(&code).expect("decodes"),
            experiment,
            "the same experiment back"
        );
        // Broken over lines, indented, quoted: still the same code.
        let (a, b) = code.split_at(code.len() / 2);
        let pasted = format!("  \"{a}\n   {b}\" \n");
        assert_eq!(
            Experiment::from_share_code(&pasted).expect("decodes"),
            experiment,
            "whitespace and quotes are ignored"
        );
    }

    #[test]
    fn newer_garbage_truncated_and_tampered_codes_are_refused() {
        let code = example_experiment().share_code().expect("code");
        let payload = code.strip_prefix("mtl1.").expect("prefix");
        let newer = Experiment::from_share_code(&format!("mtl2.{payload}"));
        assert_eq!(newer, Err(ShareError::Newer(2)), "newer format");
        let message = ShareError::Newer(2).to_string();
        assert!(
            message.contains("format 2") && message.contains("format 1"),
            "names both: {message}"
        );
        for garbage in ["hello", "https://example.org", "mtl", "mtl1", "mtlx.abc"] {
            assert_eq!(
                Experiment::from_share_code(garbage),
                Err(ShareError::NotACode),
                "{garbage}"
            );
        }
        assert_eq!(
            Experiment::from_share_code("  \n"),
            Err(ShareError::Empty),
            "empty"
        );
        assert!(
            matches!(
                Experiment::from_share_code("mtl1.abc$%def"),
                Err(ShareError::Damaged(_))
            ),
            "bad characters"
        );
        // Every cut of the code is refused, never unpacked into something else.
        for cut in (5..code.len()).step_by(7) {
            assert!(
                matches!(
                    Experiment::from_share_code(&code[..cut]),
                    Err(ShareError::Damaged(_))
                ),
                "cut at {cut}"
            );
        }
        // Every one-character change is refused (the check), or, rarely, does not unpack.
        let bytes = code.as_bytes();
        for i in (5..bytes.len()).step_by(5) {
            let mut changed = bytes.to_vec();
            changed[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(changed).expect("ascii");
            assert!(
                Experiment::from_share_code(&changed).is_err(),
                "a change at {i} is refused"
            );
        }
    }

    #[test]
    fn random_codes_never_panic_and_never_decode() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut x: u64 = 7;
        let mut next = move || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as usize
        };
        for _ in 0..3000 {
            let len = next() % 300;
            let payload: String = (0..len)
                .map(|_| char::from(ALPHABET[next() % ALPHABET.len()]))
                .collect();
            assert!(
                Experiment::from_share_code(&format!("mtl1.{payload}")).is_err(),
                "random text is not an experiment: {payload}"
            );
        }
    }

    #[test]
    fn a_decompression_bomb_is_refused() {
        // A megabyte of spaces deflates to about a kilobyte: a valid code that unpacks to far
        // more than any experiment.
        let bomb = " ".repeat(1 << 20);
        let code = encode_text(&bomb).expect("encodes");
        assert!(code.len() < MAX_CODE_CHARS, "a short code: {}", code.len());
        assert_eq!(
            decode_text(&code),
            Err(ShareError::TooLarge),
            "refused, not unpacked"
        );
    }

    #[test]
    fn a_too_long_code_is_refused_with_the_way_out() {
        let mut spec = ExperimentSpec::default();
        // Names a dictionary cannot guess, so the code grows with them.
        let mut x: u64 = 1;
        spec.name = (0..8000)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                char::from(b'a' + ((x >> 33) % 26) as u8)
            })
            .collect();
        let experiment = Experiment { spec, window: None };
        let err = experiment.share_code().expect_err("too long");
        assert!(
            matches!(err, ShareError::TooLong(n) if n > MAX_CODE_CHARS),
            "{err}"
        );
        assert!(err.to_string().contains("Save experiment"), "{err}");
    }

    #[test]
    fn the_format_1_dictionary_is_frozen() {
        assert_eq!(
            (
                DICTIONARY_V1.len(),
                crc32fast::hash(DICTIONARY_V1.as_bytes())
            ),
            (21812, 0x0c177603),
            "codes of format 1 unpack against this exact text: a new dictionary needs a new CODE_VERSION"
        );
    }
}
