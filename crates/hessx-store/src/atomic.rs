//! Atomic file writes: fill a temporary file beside the target, flush it to
//! disk, then rename it over the target. A stage killed half-way leaves at
//! most a `*.tmp` file behind, never a half-written table that a later stage
//! would trust. The temporaries of a process that died are removed by the
//! next atomic write into the same directory.
//!
//! A user-named output (`hx-query --csv FILE`) may be something else than a
//! regular file: [`write_output`] writes `-` to stdout, writes through to a
//! FIFO or device, and follows a symbolic link to the file it names, so that
//! the link stays a link.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The temporary name used while `path` is being written (same directory, so
/// the rename stays on one file system): `.<name>.<pid>@<host>.tmp`. The host
/// lets [`remove_stale_temps`] leave alone the temporaries of processes on
/// other machines writing to a shared file system (MPI ranks, cluster jobs).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}@{}.tmp", std::process::id(), host()))
}

/// This machine's host name (Linux's `/proc/sys/kernel/hostname`), with
/// characters unfit for a file name replaced; `unknown` elsewhere.
fn host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String =
        name.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if name.is_empty() { "unknown".into() } else { name }
}

/// Write `path` atomically: `write` fills a buffered temporary file, which is
/// synced and renamed over `path` only if `write` succeeds. Parent
/// directories are created.
pub fn write_atomic<E>(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>) -> Result<(), E>
where
    E: From<Error>,
{
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        remove_stale_temps(dir);
    }
    let tmp = temp_path(path);
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut out = BufWriter::new(file);
    let written = write(&mut out).and_then(|()| {
        let file = out.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        Ok(())
    });
    match written {
        Ok(()) => fs::rename(&tmp, path).map_err(|e| Error::io(path, e).into()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Write `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |out| out.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// Remove the temporaries (`.<name>.<pid>@<host>.tmp`, or the older
/// `.<name>.<pid>.tmp`) that a killed process of this machine left in `dir`.
/// A process still running keeps its own, and another host's temporaries
/// are never touched; on a system without `/proc` nothing is removed, since
/// liveness cannot be told. Best effort: a file that cannot be removed is left.
pub fn remove_stale_temps(dir: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    let here = host();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((pid, owner_host)) = temp_owner(&name) else { continue };
        let local = owner_host.is_none_or(|h| h == here);
        if local && pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The process id and host (absent in the older form) in a name made by
/// [`temp_path`], if it is one.
fn temp_owner(name: &str) -> Option<(u32, Option<&str>)> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (target, owner) = rest.rsplit_once('.')?;
    if target.is_empty() {
        return None;
    }
    match owner.split_once('@') {
        Some((pid, host)) => Some((pid.parse().ok()?, Some(host))),
        None => Some((owner.parse().ok()?, None)),
    }
}

/// Where a user-named output goes, decided by what the path is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// `-`: standard output.
    Stdout,
    /// A FIFO, character or block device, or socket: opened and written in
    /// place, since renaming a file over it would destroy it.
    WriteThrough(PathBuf),
    /// A regular file, new or existing, written atomically. A symbolic link
    /// (dangling or not) is resolved to the file it names.
    Regular(PathBuf),
}

impl OutputTarget {
    /// Classify `path`. A directory is refused, naming it.
    pub fn resolve(path: &Path) -> Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(OutputTarget::Stdout);
        }
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                Err(Error::schema(path, "is a directory; give the name of a file to write (or `-` for stdout)"))
            }
            Ok(meta) if meta.is_file() => {
                Ok(OutputTarget::Regular(fs::canonicalize(path).map_err(|e| Error::io(path, e))?))
            }
            Ok(_) => Ok(OutputTarget::WriteThrough(path.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OutputTarget::Regular(link_target(path)?)),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// Where a not-yet-existing `path` will be created: itself, or for a
/// dangling symbolic link (chains included) the path it points to.
fn link_target(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let next = fs::read_link(&current).map_err(|e| Error::io(&current, e))?;
                current = match current.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(Error::schema(path, "too many levels of symbolic links"))
}

/// Write a user-named output: `-` to stdout, through to a FIFO or device,
/// atomically to a regular file (following a symbolic link). Errors name the
/// path as given.
pub fn write_output<E>(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<(), E>) -> Result<(), E>
where
    E: From<Error>,
{
    match OutputTarget::resolve(path)? {
        OutputTarget::Stdout => {
            let mut out = std::io::stdout().lock();
            write(&mut out)?;
            out.flush().map_err(|e| Error::io(path, e))?;
            Ok(())
        }
        OutputTarget::WriteThrough(device) => {
            let file = fs::OpenOptions::new().write(true).open(&device).map_err(|e| Error::io(path, e))?;
            let mut out = BufWriter::new(file);
            write(&mut out)?;
            out.flush().map_err(|e| Error::io(path, e))?;
            Ok(())
        }
        OutputTarget::Regular(file) => write_atomic(&file, |out| write(out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_the_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.parquet");
        write_bytes_atomic(&path, b"old").unwrap();
        let failed: Result<()> = write_atomic(&path, |out| {
            out.write_all(b"half").unwrap();
            Err(Error::schema(&path, "simulated failure"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "only the target should remain, found {left:?}");
    }

    #[test]
    fn creates_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.txt");
        write_bytes_atomic(&path, b"x").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"x");
    }

    #[test]
    fn stale_temps_of_dead_processes_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // pid 4999999 is above Linux's pid_max (4194304), so no process has it.
        let dead = dir.path().join(format!(".overlap.parquet.4999999@{}.tmp", host()));
        let dead_old_form = dir.path().join(".trace.parquet.4999999.tmp");
        let other_host = dir.path().join(".density.parquet.4999999@another-node.tmp");
        let live = temp_path(&dir.path().join("other.parquet"));
        let unrelated = dir.path().join(".notes.tmp");
        for p in [&dead, &dead_old_form, &other_host, &live, &unrelated] {
            fs::write(p, b"x").unwrap();
        }
        write_bytes_atomic(&dir.path().join("table.parquet"), b"new").unwrap();
        assert!(!dead.exists() && !dead_old_form.exists(), "a dead local process's temp must be removed");
        assert!(other_host.exists(), "another host's temp may belong to a live writer there");
        assert!(live.exists(), "this process's own temp must stay");
        assert!(unrelated.exists(), "a name without a pid is not ours");
        assert_eq!(temp_owner(".a.parquet.12.tmp"), Some((12, None)));
        assert_eq!(temp_owner(".a.parquet.12@node-3.tmp"), Some((12, Some("node-3"))));
        assert_eq!(temp_owner(".12.tmp"), None);
        assert_eq!(temp_owner("a.parquet.12.tmp"), None);
    }

    #[test]
    fn output_through_a_symlink_keeps_the_link_and_fills_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.csv");
        let link = dir.path().join("link.csv");
        fs::write(&target, b"old").unwrap();
        std::os::unix::fs::symlink("real.csv", &link).unwrap();
        write_output(&link, |out| out.write_all(b"rows").map_err(|e| Error::io(&link, e))).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"rows");

        let dangling = dir.path().join("dangling.csv");
        std::os::unix::fs::symlink("sub/made.csv", &dangling).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        write_output(&dangling, |out| out.write_all(b"new").map_err(|e| Error::io(&dangling, e))).unwrap();
        assert!(fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(dir.path().join("sub/made.csv")).unwrap(), b"new");
    }

    #[test]
    fn output_targets_are_classified_by_what_the_path_is() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(OutputTarget::resolve(Path::new("-")).unwrap(), OutputTarget::Stdout);
        assert_eq!(
            OutputTarget::resolve(Path::new("/dev/null")).unwrap(),
            OutputTarget::WriteThrough("/dev/null".into())
        );
        let err = OutputTarget::resolve(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a directory") && err.contains(&*dir.path().to_string_lossy()), "{err}");
        let fresh = dir.path().join("fresh.csv");
        assert_eq!(OutputTarget::resolve(&fresh).unwrap(), OutputTarget::Regular(fresh.clone()));
        // Writing through /dev/null leaves the device a device.
        write_output(Path::new("/dev/null"), |out| out.write_all(b"x").map_err(|e| Error::io("/dev/null", e)))
            .unwrap();
        assert!(!fs::metadata("/dev/null").unwrap().is_file());
    }

    #[test]
    fn a_fifo_is_written_through_to_its_reader() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(&fifo).unwrap())
        };
        write_output(&fifo, |out| out.write_all(b"step,rank\n0,1\n").map_err(|e| Error::io("f", e))).unwrap();
        assert_eq!(reader.join().unwrap(), b"step,rank\n0,1\n");
        assert!(!fs::metadata(&fifo).unwrap().is_file(), "the FIFO must still be a FIFO");
    }
}
