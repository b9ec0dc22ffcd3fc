//! Temporary files a killed process left behind: each names the process that wrote it, and
//! once that process is gone, nobody will finish or remove it.

use std::path::{Path, PathBuf};

/// Removes the files in `dir` whose name `writer` reads a process id from, when that process
/// no longer runs; returns those removed. Best effort: a file that cannot be removed stays.
/// Where the system cannot tell whether a process runs (no `/proc`), nothing is removed.
pub(crate) fn remove_files_of_gone_processes(
    dir: &Path,
    writer: impl Fn(&str) -> Option<u32>,
) -> Vec<PathBuf> {
    let Ok(files) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    files
        .flatten()
        .filter(|file| {
            let name = file.file_name();
            name.to_str()
                .and_then(&writer)
                .is_some_and(|pid| !process_runs(pid))
        })
        .map(|file| file.path())
        .filter(|path| std::fs::remove_file(path).is_ok())
        .collect()
}

/// Whether process `pid` runs, as far as this system can tell (Linux: `/proc/PID`); where it
/// cannot tell, every process is taken as running.
fn process_runs(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    pid == std::process::id() || proc.join(pid.to_string()).exists()
}
