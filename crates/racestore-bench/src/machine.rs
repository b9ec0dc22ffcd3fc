//! The machine a bench ran on: cores, CPU, memory, and the filesystem holding its stores.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::kilobytes_field;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The machine the bench ran on.
#[derive(Debug)]
pub struct Machine {
    cores: Option<usize>,
    cpu: Option<String>,
    memory: Option<u64>,
    directory: PathBuf,
    filesystem: Option<Mount>,
}

/// The mount holding a path, from `/proc/mounts`.
#[derive(Debug, PartialEq, Eq)]
struct Mount {
    device: String,
    mount_point: PathBuf,
    fs_type: String,
}

impl Machine {
    /// Looks at this machine, with the bench's stores in `directory`.
    pub fn probe(directory: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let directory = directory
            .canonicalize()
            .unwrap_or_else(|_| directory.to_path_buf());
        let filesystem = std::fs::read_to_string("/proc/mounts")
            .ok()
            .and_then(|mounts| mount_of(&mounts, &directory));
        Machine {
            cores: std::thread::available_parallelism().ok().map(usize::from),
            cpu: cpuinfo.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            }),
            memory: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|m| kilobytes_field(&m, "MemTotal")),
            directory,
            filesystem,
        }
    }

    fn build() -> &'static str {
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    }

    /// The machine in one line: `machine: 2 cores (AMD EPYC), 23.5 GiB memory, DIR on ext4
    /// (/dev/vda at /), racestore 0.1.0 (release build)`.
    pub fn line(&self) -> String {
        let mut line = String::from("machine: ");
        match self.cores {
            Some(cores) => write!(line, "{cores} cores"),
            None => write!(line, "? cores"),
        }
        .ok();
        if let Some(cpu) = &self.cpu {
            write!(line, " ({cpu})").ok();
        }
        if let Some(memory) = self.memory {
            write!(line, ", {:.1} GiB memory", memory as f64 / GIB).ok();
        }
        match &self.filesystem {
            Some(m) => write!(
                line,
                ", {} on {} ({} at {})",
                self.directory.display(),
                m.fs_type,
                m.device,
                m.mount_point.display()
            ),
            None => write!(line, ", {} on an unknown filesystem", self.directory.display()),
        }
        .ok();
        write!(
            line,
            ", racestore {} ({})",
            env!("CARGO_PKG_VERSION"),
            Machine::build()
        )
        .ok();
        line
    }

    /// The machine as JSON: cores, cpu, memory, directory, filesystem, version, build.
    pub fn to_json(&self) -> Value {
        json!({
            "cores": self.cores,
            "cpu": self.cpu,
            "memory_bytes": self.memory,
            "directory": self.directory,
            "filesystem": self.filesystem.as_ref().map(|m| json!({
                "type": m.fs_type,
                "device": m.device,
                "mount_point": m.mount_point,
            })),
            "racestore_version": env!("CARGO_PKG_VERSION"),
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        })
    }
}

/// The mount in `/proc/mounts` text holding `path`: the longest mount point it is under (the
/// last one listed when several are mounted on the same point, as the last mount hides the rest).
fn mount_of(mounts: &str, path: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [device, mount_point, fs_type, ..] = fields[..] else {
            continue;
        };
        let mount_point = PathBuf::from(unescape_mount_field(mount_point));
        if !path.starts_with(&mount_point) {
            continue;
        }
        let longer = best
            .as_ref()
            .is_none_or(|b| mount_point.as_os_str().len() >= b.mount_point.as_os_str().len());
        if longer {
            best = Some(Mount {
                device: unescape_mount_field(device),
                mount_point,
                fs_type: fs_type.to_owned(),
            });
        }
    }
    best
}

/// Undoes the octal escapes `/proc/mounts` writes for space, tab, newline and backslash (`\040`).
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/vdb /tmp/my\\040races xfs rw 0 0
overlay /tmp overlay rw 0 0
";

    #[test]
    fn the_longest_mount_point_above_a_path_names_its_filesystem() {
        let fs = |path: &str| mount_of(MOUNTS, Path::new(path)).map(|m| m.fs_type);
        assert_eq!(fs("/work/main").as_deref(), Some("ext4"));
        assert_eq!(fs("/proc/self").as_deref(), Some("proc"));
        // The last mount on /tmp hides the earlier one.
        assert_eq!(fs("/tmp/racestore-bench-x").as_deref(), Some("overlay"));
        assert_eq!(fs("/tmp/my races/racestore-bench-x").as_deref(), Some("xfs"));
        // A path component must match whole: /tmpfoo is not under /tmp.
        assert_eq!(fs("/tmpfoo").as_deref(), Some("ext4"));
        assert_eq!(mount_of("", Path::new("/")), None);
    }

    #[test]
    fn mount_fields_have_their_octal_escapes_undone() {
        assert_eq!(unescape_mount_field(r"/a\040b\011c\134d"), "/a b\tc\\d");
        assert_eq!(unescape_mount_field(r"/plain\9"), r"/plain\9");
    }

    #[test]
    fn the_machine_line_names_cores_filesystem_and_version() {
        let machine = Machine::probe(Path::new("/"));
        let line = machine.line();
        assert!(line.starts_with("machine: "), "{line}");
        assert!(line.contains(" cores"), "{line}");
        assert!(line.contains(env!("CARGO_PKG_VERSION")), "{line}");
    }
}
