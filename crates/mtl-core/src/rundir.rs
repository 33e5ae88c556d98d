//! A run folder is one run. A run writes into a fresh temporary sibling folder
//! (`.NAME.tmp-…`), and only when it is complete is that folder moved into place as a whole;
//! the previous run stays untouched until then. While a run writes, a lock file
//! (`.NAME.lock`, holding the process id) keeps a second run out; a lock left by a process
//! that no longer exists is taken over (with a note). Temporary folders a crash left behind
//! are removed by the next run into the same folder.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;

/// A run folder being written: the lock is held and the files go to [`RunDir::staging`].
/// Dropping it without [`RunDir::commit`] removes the staging folder and keeps the previous
/// run; the lock is released either way.
#[derive(Debug)]
pub struct RunDir {
    out: PathBuf,
    lock: PathBuf,
    staging: Option<tempfile::TempDir>,
    notes: Vec<String>,
}

fn other(message: String) -> Error {
    Error::Other(message)
}

/// Whether a process with this id is alive; `None` where that cannot be told (no `/proc`).
fn alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.is_dir().then(|| proc.join(pid.to_string()).exists())
}

impl RunDir {
    /// Locks `out` for writing, cleans up what an earlier crash left, and makes the staging
    /// folder. Fails (naming the folder) when another live run holds the lock.
    pub fn begin(out: &Path) -> Result<Self, Error> {
        let name = out
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .ok_or_else(|| {
                other(format!(
                    "the output folder needs a plain name: {}",
                    out.display()
                ))
            })?
            .to_owned();
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| {
            other(format!(
                "cannot create the output folder: {e}: {}",
                parent.display()
            ))
        })?;
        if let Ok(meta) = std::fs::metadata(out)
            && !meta.is_dir()
        {
            return Err(other(format!(
                "the output path exists and is not a folder: {}",
                out.display()
            )));
        }
        let lock = parent.join(format!(".{name}.lock"));
        let mut notes = Vec::new();
        let mut took_over = false;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !took_over => {
                    let pid = std::fs::read_to_string(&lock)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match pid.map(alive) {
                        Some(Some(false)) | None => {
                            // A dead process's lock (or an unreadable one): take it over.
                            let _ = std::fs::remove_file(&lock);
                            notes.push(format!(
                                "took over a stale lock{}: {}",
                                pid.map(|p| format!(" left by process {p}"))
                                    .unwrap_or_default(),
                                lock.display()
                            ));
                            took_over = true;
                        }
                        Some(_) => {
                            return Err(other(format!(
                                "another run (process {}) is writing into this folder; \
                                 wait for it or remove the lock {}: {}",
                                pid.unwrap_or_default(),
                                lock.display(),
                                out.display()
                            )));
                        }
                    }
                }
                Err(e) => {
                    return Err(other(format!(
                        "cannot lock the output folder: {e}: {}",
                        lock.display()
                    )));
                }
            }
        }
        let mut dir = Self {
            out: out.to_owned(),
            lock,
            staging: None,
            notes,
        };
        dir.clean_up(&parent, &name);
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .tempdir_in(&parent)
            .map_err(|e| {
                other(format!(
                    "cannot create a folder beside the output: {e}: {}",
                    parent.display()
                ))
            })?;
        dir.staging = Some(staging);
        Ok(dir)
    }

    /// Removes staging folders of earlier runs into this folder (they crashed: the lock is
    /// ours now), and puts back a previous run a crash left moved aside.
    fn clean_up(&mut self, parent: &Path, name: &str) {
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        let (tmp, old) = (format!(".{name}.tmp-"), format!(".{name}.old-"));
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            let path = entry.path();
            if file.starts_with(&tmp) {
                if std::fs::remove_dir_all(&path).is_ok() {
                    self.notes.push(format!(
                        "removed a temporary folder an interrupted run left: {}",
                        path.display()
                    ));
                }
            } else if file.starts_with(&old) {
                if self.out.exists() {
                    let _ = std::fs::remove_dir_all(&path);
                } else if std::fs::rename(&path, &self.out).is_ok() {
                    self.notes.push(format!(
                        "put back the previous run an interrupted run had moved aside: {}",
                        self.out.display()
                    ));
                }
            }
        }
    }

    /// The folder the run's files are written to.
    pub fn staging(&self) -> &Path {
        self.staging
            .as_ref()
            .map_or(self.out.as_path(), |t| t.path())
    }

    /// What was cleaned up or taken over on the way in, one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Moves the finished run into place as a whole: the previous run (if any) is moved aside,
    /// the new one renamed over, then the previous one removed.
    pub fn commit(mut self) -> Result<(), Error> {
        let Some(staging) = self.staging.take() else {
            return Ok(());
        };
        let staging = staging.keep();
        let parent = staging.parent().map(Path::to_owned).unwrap_or_default();
        let fail = |e: std::io::Error, what: &str| {
            other(format!("cannot {what}: {e}: {}", self.out.display()))
        };
        let aside = if self.out.exists() {
            let name = self
                .out
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("run");
            let aside = parent.join(format!(".{name}.old-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&aside);
            std::fs::rename(&self.out, &aside)
                .map_err(|e| fail(e, "move the previous run aside"))?;
            Some(aside)
        } else {
            None
        };
        if let Err(e) = std::fs::rename(&staging, &self.out) {
            if let Some(aside) = &aside {
                let _ = std::fs::rename(aside, &self.out);
            }
            let _ = std::fs::remove_dir_all(&staging);
            return Err(fail(e, "move the new run into place"));
        }
        if let Some(aside) = aside {
            let _ = std::fs::remove_dir_all(aside);
        }
        Ok(())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // An uncommitted staging folder is removed by TempDir's own drop.
        let _ = std::fs::remove_file(&self.lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_replaces_the_previous_one_only_when_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("run");
        std::fs::create_dir(&out).expect("mkdir");
        std::fs::write(out.join("model.safetensors"), "old").expect("write");
        {
            let run = RunDir::begin(&out).expect("begin");
            std::fs::write(run.staging().join("report.md"), "new").expect("write");
            // Dropped without commit: the old run stays, alone.
        }
        assert!(out.join("model.safetensors").exists());
        assert!(!out.join("report.md").exists());
        let run = RunDir::begin(&out).expect("begin");
        std::fs::write(run.staging().join("report.md"), "new").expect("write");
        run.commit().expect("commit");
        assert!(!out.join("model.safetensors").exists(), "no old file stays");
        assert!(out.join("report.md").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("run")],
            "nothing else left"
        );
    }

    #[test]
    fn a_live_lock_refuses_and_a_dead_one_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("run");
        let first = RunDir::begin(&out).expect("begin");
        let e = RunDir::begin(&out).expect_err("second run refused");
        assert!(e.to_string().contains("another run"), "{e}");
        drop(first);
        if alive(std::process::id()) == Some(true) {
            // A crashed run: its lock names a process that is gone, its staging folder stays.
            std::fs::write(dir.path().join(".run.lock"), "4000000000").expect("write");
            std::fs::create_dir(dir.path().join(".run.tmp-crashed")).expect("mkdir");
            let run = RunDir::begin(&out).expect("stale lock taken over");
            assert!(
                run.notes().iter().any(|n| n.contains("stale lock")),
                "{:?}",
                run.notes()
            );
            assert!(
                !dir.path().join(".run.tmp-crashed").exists(),
                "crash leftovers removed"
            );
        }
    }
}
