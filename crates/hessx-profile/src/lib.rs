//! What every stage binary shares around its work: [`main_wrapper`] (allocator
//! thresholds, logging, error chains, exit codes, broken pipes) and experiment profiles.
//!
//! Experiment profiles: a TOML file under `pipelines/` whose tables hold the
//! flags of each stage, so one file describes a whole experiment.
//!
//! A stage run as `hx-eigen --profile pipelines/offline.toml` reads the table
//! `[eigen]` (or the one named by `--section`) and turns each key into a flag
//! placed *before* the user's own arguments; clap is told that later flags
//! override earlier ones, so anything typed on the command line wins.
//!
//! ```toml
//! [eigen]
//! run = "runs/digits-finetune"
//! top-k = 5
//! full-dataset = true      # a boolean true becomes the bare flag `--full-dataset`
//! steps = [0, 10, 20]      # an array repeats the flag
//! ```
//!
//! A table may name a subcommand with the key `subcommand`; it is placed first
//! (`[fetch] subcommand = "digits"` runs `hx-fetch digits ...`).
#![deny(missing_docs)]

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result, bail};

pub mod allocator;
mod main_wrapper;
pub use main_wrapper::{LOG_VAR, is_broken_pipe, main_wrapper, quiet};

/// The process arguments with the profile's flags spliced in front of the
/// user's: `[program, profile flags.., user flags..]`. `--profile FILE` and
/// `--section NAME` are consumed; without `--section` the table named
/// `default_section` is used.
pub fn args_with_profile(default_section: &str) -> Result<Vec<OsString>> {
    expand(std::env::args_os().collect(), default_section)
}

fn expand(args: Vec<OsString>, default_section: &str) -> Result<Vec<OsString>> {
    let mut rest = Vec::with_capacity(args.len());
    let mut profile = None;
    let mut section = default_section.to_owned();
    let mut it = args.into_iter();
    let program = it.next().unwrap_or_default();
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (text.clone(), None),
        };
        if flag == "--profile" || flag == "--section" {
            let value = match inline {
                Some(v) => v,
                None => it.next().with_context(|| format!("{flag} needs a value"))?.to_string_lossy().into_owned(),
            };
            if flag == "--profile" { profile = Some(value) } else { section = value }
        } else {
            rest.push(arg);
        }
    }
    let mut out = vec![program];
    if let Some(path) = profile {
        out.extend(section_args(Path::new(&path), &section)?);
    }
    out.extend(rest);
    Ok(out)
}

/// The flags that table `section` of the profile at `path` stands for.
pub fn section_args(path: &Path, section: &str) -> Result<Vec<OsString>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read profile {}", path.display()))?;
    let doc: toml::Table = toml::from_str(&text).with_context(|| format!("profile {} is not valid TOML", path.display()))?;
    let Some(table) = doc.get(section) else {
        let have: Vec<_> = doc.keys().cloned().collect();
        bail!("profile {} has no [{section}] table (it has: {})", path.display(), have.join(", "));
    };
    let table = table
        .as_table()
        .with_context(|| format!("profile {}: `{section}` must be a table of flags", path.display()))?;
    let mut args = Vec::new();
    if let Some(sub) = table.get("subcommand") {
        let sub = sub.as_str().with_context(|| format!("profile {}: [{section}] subcommand must be a string", path.display()))?;
        args.push(sub.into());
    }
    for (key, value) in table.iter().filter(|(k, _)| k.as_str() != "subcommand") {
        let flag = format!("--{key}");
        push_value(&mut args, &flag, value)
            .with_context(|| format!("profile {}: [{section}] {key}", path.display()))?;
    }
    Ok(args)
}

fn push_value(args: &mut Vec<OsString>, flag: &str, value: &toml::Value) -> Result<()> {
    use toml::Value;
    match value {
        Value::Boolean(true) => args.push(flag.into()),
        Value::Boolean(false) => {}
        Value::String(s) => args.extend([flag.into(), s.into()]),
        Value::Integer(i) => args.extend([flag.into(), i.to_string().into()]),
        Value::Float(f) => args.extend([flag.into(), f.to_string().into()]),
        Value::Array(items) => {
            for item in items {
                if item.is_array() || item.is_table() {
                    bail!("nested arrays and tables cannot become flags");
                }
                push_value(args, flag, item)?;
            }
        }
        other => bail!("a {} cannot become a flag", other.type_str()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn profile_flags_come_before_the_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[eigen]\nrun = \"runs/a\"\ntop-k = 5\nfull-dataset = true\nquiet = false\nsteps = [0, 10]\n[spectrum]\niter = 90\nsubcommand = \"go\"\n").unwrap();
        let args = vec!["hx-eigen".into(), "--top-k".into(), "3".into(), "--profile".into(), path.clone().into_os_string()];
        let got = strings(expand(args, "eigen").unwrap());
        assert_eq!(got, ["hx-eigen", "--full-dataset", "--run", "runs/a", "--steps", "0", "--steps", "10", "--top-k", "5", "--top-k", "3"]);
        let args = vec!["hx-spectrum".into(), format!("--profile={}", path.display()).into(), "--section".into(), "spectrum".into()];
        assert_eq!(strings(expand(args, "eigen").unwrap()), ["hx-spectrum", "go", "--iter", "90"]);
    }

    #[test]
    fn missing_section_names_the_file_and_the_tables_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[train]\nlr = 0.1\n").unwrap();
        let err = format!("{:#}", section_args(&path, "eigen").unwrap_err());
        assert!(err.contains("p.toml") && err.contains("[eigen]") && err.contains("train"), "{err}");
    }
}
