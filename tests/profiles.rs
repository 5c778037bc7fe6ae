//! Every experiment profile in `pipelines/` is one `just all PROFILE` away
//! from running: each of its sections names flags its stage binary knows.
//! (A misspelt key would otherwise surface only hours into a pipeline.)

use std::path::Path;
use std::process::Command;

use crate::util::bin;

/// The binary `just all` runs for a profile section.
fn stage_of(section: &str) -> Option<&'static str> {
    Some(match section {
        "fetch" | "fetch-corrupted" => "hx-fetch",
        "pretrain" | "finetune" => "hx-train",
        "eigen" => "hx-eigen",
        "spectrum" => "hx-spectrum",
        "analyze" => "hx-analyze",
        s if s.starts_with("landscape") => "hx-landscape",
        s if s.starts_with("robustness") => "hx-robustness",
        _ => return None,
    })
}

#[test]
fn every_profile_section_parses_with_its_stage() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for section in table.keys() {
            let stage = stage_of(section).unwrap_or_else(|| panic!("{}: [{section}] is run by no stage of `just all`", path.display()));
            // The profile's flags come before --help, so an unknown or malformed flag fails the parse first.
            let out = Command::new(bin(stage)).arg("--profile").arg(&path).arg("--section").arg(section).arg("--help").output().unwrap();
            assert!(
                out.status.success(),
                "{} [{section}] with {stage}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} sections found in {}", dir.display());
}
