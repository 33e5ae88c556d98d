//! Reading and writing user paths safely: a read never blocks on a FIFO, a device or a folder
//! (the file type is checked before the file is opened), and a write never replaces what is
//! not a regular file (a device node, a FIFO or a folder is refused; a symbolic link is
//! written through, so the link stays and its target gets the new content).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// What kind of thing a non-regular path is, in words.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

fn not_regular(meta: &std::fs::Metadata) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("is {}, not a regular file", kind(meta)),
    )
}

/// Opens `path` for reading, refusing at once (without opening it) anything that is not a
/// regular file: a FIFO would block forever, `/dev/zero` would never end, a folder has no
/// content. Symbolic links are followed.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let file = File::open(path)?;
    // The path may have been swapped between the check and the open.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    Ok(file)
}

/// Reads a whole regular file (see [`open_regular`]) of at most `max` bytes; a larger file
/// is refused before it is read, with its size and the limit (`what` names the kind of
/// file in the message).
pub fn read_regular_max(path: &Path, max: u64, what: &str) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    crate::limits::read_capped(file, max, what, Some(len))
}

/// Reads a whole regular data or model file (see [`open_regular`]) of at most
/// [`crate::limits::MAX_FILE_BYTES`].
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    read_regular_max(path, crate::limits::MAX_FILE_BYTES, "the file")
}

/// Reads a whole regular file as UTF-8 text (see [`open_regular`]) of at most
/// [`crate::limits::MAX_TEXT_BYTES`] (a spec, an experiment, a lesson, aggregate cases).
pub fn read_regular_to_string(path: &Path) -> io::Result<String> {
    let bytes = read_regular_max(path, crate::limits::MAX_TEXT_BYTES, "the text file")?;
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "is not UTF-8 text (byte {} is not valid UTF-8)",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Where a write to `path` should land: `path` itself when it is absent or a regular file,
/// the final target of a symbolic link (written through, the link stays), and an error for a
/// device, a FIFO, a folder or a link that points at one.
pub fn write_target(path: &Path) -> io::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path.to_owned()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_file() => Ok(path.to_owned()),
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::metadata(path) {
            Ok(target) if target.is_file() => std::fs::canonicalize(path),
            Ok(target) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "is a symbolic link to {}, not to a regular file; not replaced",
                    kind(&target)
                ),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "is a symbolic link to nothing; not replaced",
            )),
            Err(e) => Err(e),
        },
        Ok(meta) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {}, not a regular file; not replaced", kind(&meta)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(clippy::print_stderr, reason = "a skipped case is said")]
    fn mkfifo(path: &Path) -> bool {
        match std::process::Command::new("mkfifo").arg(path).status() {
            Ok(s) if s.success() => true,
            _ => {
                eprintln!("mkfifo not available: FIFO case skipped");
                false
            }
        }
    }

    #[test]
    fn reads_refuse_fifos_folders_and_devices_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pipe.csv");
        if mkfifo(&fifo) {
            let e = read_regular(&fifo).expect_err("fifo refused");
            assert!(e.to_string().contains("FIFO"), "{e}");
        }
        let e = read_regular(dir.path()).expect_err("folder refused");
        assert!(e.to_string().contains("folder"), "{e}");
        #[cfg(unix)]
        {
            let e = read_regular(Path::new("/dev/zero")).expect_err("device refused");
            assert!(e.to_string().contains("device"), "{e}");
        }
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "x").expect("write");
        assert_eq!(read_regular(&file).expect("regular file reads"), b"x");
    }

    #[test]
    fn write_targets_follow_links_and_refuse_special_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("plain.csv");
        assert_eq!(write_target(&plain).expect("absent"), plain);
        std::fs::write(&plain, "x").expect("write");
        assert_eq!(write_target(&plain).expect("regular"), plain);
        #[cfg(unix)]
        {
            let link = dir.path().join("link.csv");
            std::os::unix::fs::symlink(&plain, &link).expect("symlink");
            let target = write_target(&link).expect("link written through");
            assert_eq!(target, std::fs::canonicalize(&plain).expect("canon"));
            let dangling = dir.path().join("dangling.csv");
            std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
            assert!(write_target(&dangling).is_err());
            let e = write_target(Path::new("/dev/null")).expect_err("device refused");
            assert!(e.to_string().contains("device"), "{e}");
        }
        let fifo = dir.path().join("pipe.csv");
        if mkfifo(&fifo) {
            let e = write_target(&fifo).expect_err("fifo refused");
            assert!(e.to_string().contains("FIFO"), "{e}");
        }
        assert!(write_target(dir.path()).is_err(), "folder refused");
    }
}
