//! Helpers for the end-to-end tests: a temporary working directory per test
//! and the stage binaries from the target directory, run with their output
//! captured so that a failure shows the command, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory holding the stage binaries built by `cargo build --workspace --bins`
/// (`just test` does that first).
pub fn bin_dir() -> PathBuf {
    // The test executable lives in <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.parent().and_then(Path::parent).expect("test executables live in <target>/<profile>/deps").to_owned()
}

/// A stage binary, or a panic saying how to build it.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: the end-to-end tests run the stage binaries; build them first with \
         `cargo build --workspace --bins` (or run `just test`)",
        path.display()
    );
    path
}

/// A test's scratch directory; stages run with it as their working directory.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// A new, empty scratch directory.
    pub fn new() -> Self {
        Scratch { dir: tempfile::tempdir().expect("a temporary directory can be created") }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the directory.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Run stage `name` with `args` in the scratch directory.
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        Command::new(bin(name))
            .args(args)
            .current_dir(self.path())
            .env("HESSX_LOG", "info")
            .output()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
    }

    /// Run stage `name` and panic with its output unless it succeeds.
    pub fn ok(&self, name: &str, args: &[&str]) -> Output {
        let out = self.run(name, args);
        assert!(out.status.success(), "{}", describe(name, args, &out));
        out
    }

    /// Run stage `name`, expect it to fail, and return its stderr.
    pub fn fails(&self, name: &str, args: &[&str]) -> String {
        let out = self.run(name, args);
        assert!(!out.status.success(), "expected failure\n{}", describe(name, args, &out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// The command and its output, for failure messages.
pub fn describe(name: &str, args: &[&str], out: &Output) -> String {
    format!(
        "command: {name} {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A one-epoch MLP run on tiny synthetic 8x8 images, checkpoints at steps 0 and 3.
pub fn tiny_mlp_run(s: &Scratch, run: &str) {
    s.ok("hx-fetch", &["synthetic", "--name", "tiny", "--classes", "3", "--channels", "1", "--height", "8", "--width", "8",
        "--train", "96", "--test", "48", "--seed", "3", "--quiet"]);
    s.ok("hx-train", &["--run", run, "--dataset", "tiny", "--model", "mlp", "--hidden", "12", "--batch-size", "32",
        "--epochs", "1", "--lr", "0.1", "--no-augment", "--save-interval", "3"]);
}
