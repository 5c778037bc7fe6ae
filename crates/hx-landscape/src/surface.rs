//! Evaluating a surface's grid: every point is independent, so a killed run
//! resumes from the rows already written (the table is rewritten atomically
//! every few seconds), `--shard i/n` computes one interleaved share of the
//! points into its own file, and [`merge_shards`] joins the shares after
//! checking they are exactly the grid, once, made with the same settings and
//! directions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hessx_store::RunIdentity;
use hessx_store::landscape::{LandscapeDir, SurfaceRow};
use hessx_store::tables::{read_rows, write_rows};

use crate::error::{Error, Result};
use crate::eval::{Objective, Split};
use crate::grid::{Grid, Shard};

/// The plane a surface lies in and where its rows go: what the loss pass
/// ([`SurfaceJob`]) and the curvature pass over the same grid share.
#[derive(Clone, Copy)]
pub struct Plane<'a> {
    /// Where its tables go.
    pub dir: &'a LandscapeDir,
    /// Identity columns.
    pub identity: &'a RunIdentity,
    /// Step of the origin checkpoint.
    pub step: i64,
    /// Fingerprint of settings and directions.
    pub fingerprint: &'a str,
    /// The grid.
    pub grid: Grid,
    /// The origin state.
    pub origin: &'a [f32],
    /// The x direction.
    pub dx: &'a [f32],
    /// The y direction (2D surfaces).
    pub dy: Option<&'a [f32]>,
}

impl Plane<'_> {
    /// The state at grid coordinates `(x, y)`.
    pub fn state(&self, x: f64, y: f64) -> Vec<f32> {
        state_at(self.origin, self.dx, self.dy, x, y)
    }

    /// Refuse to resume `table` when a row of it (`fingerprints`) was made
    /// with other settings or directions than this surface.
    pub fn check_resumable<'r>(&self, table: &std::path::Path, mut fingerprints: impl Iterator<Item = &'r str>) -> Result<()> {
        match fingerprints.find(|f| *f != self.fingerprint) {
            Some(bad) => Err(Error::mismatch(
                table,
                format!(
                    "has rows with fingerprint {bad} but this surface's is {}: the table was made with other settings or directions; delete it to recompute",
                    self.fingerprint
                ),
            )),
            None => Ok(()),
        }
    }
}

/// A surface ready to be evaluated.
pub struct SurfaceJob<'a> {
    /// The plane, its grid and its folder.
    pub plane: Plane<'a>,
    /// Splits every point is evaluated on (the objective returns them in this order).
    pub splits: &'a [Split],
    /// The share of the grid this process computes.
    pub shard: Shard,
    /// Rewrite the table at least this often while computing (zero: after every point).
    pub save_every: Duration,
    /// Stop after this many new points (a time-limited job slot); `None`: all.
    pub max_points: Option<usize>,
}

/// What a call to [`compute`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The table written.
    pub table: PathBuf,
    /// Points of this shard done before the call.
    pub already_done: usize,
    /// Points computed by this call.
    pub computed: usize,
    /// Points this shard owns.
    pub owned: usize,
    /// Seconds spent evaluating.
    pub seconds: f64,
}

impl Progress {
    /// Whether every point of the shard is done.
    pub fn complete(&self) -> bool {
        self.already_done + self.computed == self.owned
    }
}

/// The state at `(x, y)`: `origin + x dx + y dy`.
pub fn state_at(origin: &[f32], dx: &[f32], dy: Option<&[f32]>, x: f64, y: f64) -> Vec<f32> {
    let (x, y) = (x as f32, y as f32);
    match dy {
        Some(dy) => origin.iter().zip(dx).zip(dy).map(|((w, a), b)| w + x * a + y * b).collect(),
        None => origin.iter().zip(dx).map(|(w, a)| w + x * a).collect(),
    }
}

/// The table a shard writes: the surface itself when there is one shard.
pub fn shard_table(dir: &LandscapeDir, shard: Shard) -> PathBuf {
    if shard.count == 1 { dir.surface() } else { dir.shard(shard.index, shard.count) }
}

/// Evaluate the points of `job.shard` not yet in its table, saving as it goes.
pub fn compute(job: &SurfaceJob, objective: &mut dyn Objective, bar: &indicatif::ProgressBar) -> Result<Progress> {
    let plane = &job.plane;
    let table = shard_table(plane.dir, job.shard);
    let mut rows: Vec<SurfaceRow> = if table.exists() { read_rows(&table)? } else { Vec::new() };
    plane.check_resumable(&table, rows.iter().map(|r| r.fingerprint.as_str()))?;
    let done = complete_points(&rows, job.splits);
    // Rows of a point interrupted between splits are dropped and redone.
    rows.retain(|r| done.contains(&(r.point as usize)));
    let owned: Vec<_> = plane.grid.points().into_iter().filter(|p| job.shard.owns(p.index)).collect();
    let todo: Vec<_> = owned.iter().filter(|p| !done.contains(&p.index)).take(job.max_points.unwrap_or(usize::MAX)).collect();
    let already_done = owned.len() - owned.iter().filter(|p| !done.contains(&p.index)).count();
    bar.set_length(owned.len() as u64);
    bar.set_position(already_done as u64);
    if todo.is_empty() && !table.exists() {
        // A shard that owns no point still leaves its (empty) table, so the merge sees it done.
        save(&table, plane.identity, &mut rows)?;
    }
    let started = Instant::now();
    let mut last_save = Instant::now();
    for (i, p) in todo.iter().enumerate() {
        let state = plane.state(p.x, p.y);
        let evals = objective.evaluate(&state)?;
        for e in evals {
            rows.push(SurfaceRow {
                step: plane.step,
                point: p.index as i64,
                x: p.x,
                y: p.y,
                split: e.split.name().into(),
                loss: e.loss,
                accuracy: e.accuracy,
                examples: e.examples as i64,
                fingerprint: plane.fingerprint.to_owned(),
            });
        }
        bar.inc(1);
        if last_save.elapsed() >= job.save_every || i + 1 == todo.len() {
            save(&table, plane.identity, &mut rows)?;
            last_save = Instant::now();
        }
    }
    Ok(Progress { table, already_done, computed: todo.len(), owned: owned.len(), seconds: started.elapsed().as_secs_f64() })
}

/// Points whose rows cover every split.
fn complete_points(rows: &[SurfaceRow], splits: &[Split]) -> BTreeSet<usize> {
    let mut seen: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for r in rows {
        seen.entry(r.point as usize).or_default().insert(r.split.as_str());
    }
    seen.into_iter().filter(|(_, s)| splits.iter().all(|sp| s.contains(sp.name()))).map(|(p, _)| p).collect()
}

fn save(table: &std::path::Path, id: &RunIdentity, rows: &mut [SurfaceRow]) -> Result<()> {
    rows.sort_by(|a, b| (a.point, &a.split).cmp(&(b.point, &b.split)));
    write_rows(table, id, rows)?;
    Ok(())
}

/// Join the shard tables in `dir/shards/` into the surface table, refusing
/// shards of different counts, missing or duplicated shards, incomplete
/// shards, points in the wrong shard or in two shards, and rows made with
/// another fingerprint. Returns the number of rows written.
pub fn merge_shards(dir: &LandscapeDir, identity: &RunIdentity, fingerprint: &str, grid: Grid, splits: &[Split]) -> Result<usize> {
    let shards_dir = dir.shards_dir();
    let entries = std::fs::read_dir(&shards_dir)
        .map_err(|e| Error::mismatch(&shards_dir, format!("cannot list the shard tables ({e}): compute them with --shard i/n first")))?;
    let mut files: BTreeMap<usize, (usize, PathBuf)> = BTreeMap::new();
    let mut count = None;
    for entry in entries {
        let path = entry.map_err(|e| Error::mismatch(&shards_dir, e.to_string()))?.path();
        let Some((index, n)) = LandscapeDir::parse_shard_name(&path) else { continue };
        match count {
            None => count = Some(n),
            Some(c) if c != n => {
                return Err(Error::mismatch(&path, format!("is a shard of {n}, but other shards here split the grid in {c}: remove the shards of the other split")));
            }
            _ => {}
        }
        files.insert(index, (n, path));
    }
    let Some(count) = count else {
        return Err(Error::mismatch(&shards_dir, "holds no shard tables: compute them with --shard i/n first"));
    };
    let missing: Vec<String> = (0..count).filter(|i| !files.contains_key(i)).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        return Err(Error::mismatch(&shards_dir, format!("shards {} are missing: run them with --shard before merging", missing.join(", "))));
    }
    let mut all: Vec<SurfaceRow> = Vec::new();
    let mut owner: BTreeMap<(i64, String), usize> = BTreeMap::new();
    for (&index, (_, path)) in &files {
        let rows: Vec<SurfaceRow> = read_rows(path)?;
        let shard = Shard { index, count };
        for r in &rows {
            if r.fingerprint != fingerprint {
                return Err(Error::mismatch(
                    path,
                    format!("was made with other settings or directions (fingerprint {}, this surface's is {fingerprint}): it cannot be merged", r.fingerprint),
                ));
            }
            if !shard.owns(r.point as usize) || r.point as usize >= grid.len() {
                return Err(Error::mismatch(path, format!("holds point {} which is not one of shard {shard}'s", r.point)));
            }
            if let Some(other) = owner.insert((r.point, r.split.clone()), index) {
                return Err(Error::mismatch(path, format!("point {} ({}) is also in shard {other}/{count}: shards overlap", r.point, r.split)));
            }
        }
        let done = complete_points(&rows, splits);
        let owned = (0..grid.len()).filter(|&p| shard.owns(p)).count();
        if done.len() != owned {
            return Err(Error::mismatch(path, format!("shard {shard} is incomplete ({} of {owned} points): resume it with --shard {shard}", done.len())));
        }
        all.extend(rows);
    }
    save(&dir.surface(), identity, &mut all)?;
    Ok(all.len())
}

/// Whether the table of `shard` holds every point that shard owns, on every split.
pub fn is_complete_shard(dir: &LandscapeDir, grid: Grid, splits: &[Split], shard: Shard) -> Result<bool> {
    let table = shard_table(dir, shard);
    if !table.exists() {
        return Ok(false);
    }
    let rows: Vec<SurfaceRow> = read_rows(&table)?;
    let done = complete_points(&rows, splits);
    Ok((0..grid.len()).filter(|&p| shard.owns(p)).all(|p| done.contains(&p)))
}

/// Points done on every split, over all shard tables of `dir` (for a job's progress bar).
pub fn done_points(dir: &LandscapeDir, splits: &[Split]) -> Result<usize> {
    let shards = dir.shards_dir();
    let mut done = 0;
    for entry in std::fs::read_dir(&shards).map_err(|e| Error::mismatch(&shards, e.to_string()))? {
        let path = entry.map_err(|e| Error::mismatch(&shards, e.to_string()))?.path();
        if LandscapeDir::parse_shard_name(&path).is_some() {
            done += complete_points(&read_rows(&path)?, splits).len();
        }
    }
    Ok(done)
}

/// Whether the surface table holds every point of `grid` on every split.
pub fn is_complete(dir: &LandscapeDir, grid: Grid, splits: &[Split]) -> Result<bool> {
    let table = dir.surface();
    if !table.exists() {
        return Ok(false);
    }
    let rows: Vec<SurfaceRow> = read_rows(&table)?;
    Ok(complete_points(&rows, splits).len() == grid.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Evaluation;
    use crate::grid::Axis;

    /// f(s) = 1/2 sum_i a_i s_i^2 + sum_i b_i s_i on the train split; accuracy = s_0 (any number will do).
    struct Quadratic {
        a: Vec<f64>,
        b: Vec<f64>,
    }

    impl Quadratic {
        fn value(&self, s: &[f64]) -> f64 {
            s.iter().zip(&self.a).zip(&self.b).map(|((s, a), b)| 0.5 * a * s * s + b * s).sum()
        }
    }

    impl Objective for Quadratic {
        fn state_len(&self) -> usize {
            self.a.len()
        }
        fn evaluate(&mut self, state: &[f32]) -> Result<Vec<Evaluation>> {
            let s: Vec<f64> = state.iter().map(|&v| v as f64).collect();
            Ok(vec![Evaluation { split: Split::Train, loss: self.value(&s), accuracy: s[0], examples: 1 }])
        }
    }

    struct Case {
        _tmp: tempfile::TempDir,
        dir: LandscapeDir,
        id: RunIdentity,
        origin: Vec<f32>,
        dx: Vec<f32>,
        dy: Vec<f32>,
        grid: Grid,
    }

    fn case() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let dir = hessx_store::RunDir::new(tmp.path().join("run")).landscape("q");
        let n = 6;
        Case {
            _tmp: tmp,
            dir,
            id: RunIdentity::new("run", "quadratic", "none", "none", 0),
            origin: (0..n).map(|i| 0.25 * i as f32 - 0.5).collect(),
            dx: (0..n).map(|i| if i % 2 == 0 { 1.0 } else { -0.5 }).collect(),
            dy: (0..n).map(|i| 0.125 * i as f32).collect(),
            grid: Grid { x: Axis::parse("--x", "-1:1:7").unwrap(), y: Some(Axis::parse("--y", "-0.5:1:4").unwrap()) },
        }
    }

    fn quadratic() -> Quadratic {
        Quadratic { a: vec![1.0, 2.0, 0.5, 3.0, 1.5, 0.25], b: vec![0.5, -1.0, 0.0, 0.25, 1.0, -0.5] }
    }

    fn job<'a>(c: &'a Case, shard: Shard, max_points: Option<usize>) -> SurfaceJob<'a> {
        SurfaceJob {
            plane: Plane {
                dir: &c.dir,
                identity: &c.id,
                step: 7,
                fingerprint: "f00d",
                grid: c.grid,
                origin: &c.origin,
                dx: &c.dx,
                dy: Some(&c.dy),
            },
            splits: &[Split::Train],
            shard,
            save_every: Duration::ZERO,
            max_points,
        }
    }

    fn run(c: &Case, shard: Shard, max_points: Option<usize>) -> Progress {
        compute(&job(c, shard, max_points), &mut quadratic(), &indicatif::ProgressBar::hidden()).unwrap()
    }

    #[test]
    fn a_quadratic_surface_matches_its_closed_form() {
        let c = case();
        let p = run(&c, Shard::WHOLE, None);
        assert!(p.complete() && p.computed == 28);
        let rows: Vec<SurfaceRow> = read_rows(&c.dir.surface()).unwrap();
        assert_eq!(rows.len(), 28);
        // f(w + x u + y v) = f(w) + x g.u + y g.v + 1/2 (x^2 u'Au + 2 x y u'Av + y^2 v'Av), g = A w + b.
        let q = quadratic();
        let f64v = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
        let (w, u, v) = (f64v(&c.origin), f64v(&c.dx), f64v(&c.dy));
        let g: Vec<f64> = (0..6).map(|i| q.a[i] * w[i] + q.b[i]).collect();
        let dot = |p: &[f64], r: &[f64]| p.iter().zip(r).map(|(a, b)| a * b).sum::<f64>();
        let quad = |p: &[f64], r: &[f64]| (0..6).map(|i| q.a[i] * p[i] * r[i]).sum::<f64>();
        let (f0, gu, gv, uau, uav, vav) = (q.value(&w), dot(&g, &u), dot(&g, &v), quad(&u, &u), quad(&u, &v), quad(&v, &v));
        for r in &rows {
            let want = f0 + r.x * gu + r.y * gv + 0.5 * (r.x * r.x * uau + 2.0 * r.x * r.y * uav + r.y * r.y * vav);
            assert!((r.loss - want).abs() <= 1e-5 * (1.0 + want.abs()), "({}, {}): {} vs {want}", r.x, r.y, r.loss);
            assert_eq!((r.step, r.split.as_str(), r.fingerprint.as_str()), (7, "train", "f00d"));
        }
        let at_origin = rows.iter().find(|r| r.x == 0.0 && r.y == 0.0).unwrap();
        assert_eq!(at_origin.loss, q.value(&w), "the origin is the model itself, exactly");
    }

    #[test]
    fn an_interrupted_surface_resumes_to_the_same_rows() {
        let whole = case();
        run(&whole, Shard::WHOLE, None);
        let expected: Vec<SurfaceRow> = read_rows(&whole.dir.surface()).unwrap();

        let c = case();
        let first = run(&c, Shard::WHOLE, Some(10));
        assert_eq!((first.computed, first.complete()), (10, false));
        assert_eq!(read_rows::<SurfaceRow>(&c.dir.surface()).unwrap().len(), 10, "rows are saved as they come");
        let second = run(&c, Shard::WHOLE, None);
        assert_eq!((second.already_done, second.computed), (10, 18), "done points are not recomputed");
        assert_eq!(read_rows::<SurfaceRow>(&c.dir.surface()).unwrap(), expected);
        let third = run(&c, Shard::WHOLE, None);
        assert_eq!(third.computed, 0);
        assert!(is_complete(&c.dir, c.grid, &[Split::Train]).unwrap());
    }

    #[test]
    fn shards_merge_into_the_same_surface_and_bad_shards_are_refused() {
        let whole = case();
        run(&whole, Shard::WHOLE, None);
        let expected: Vec<SurfaceRow> = read_rows(&whole.dir.surface()).unwrap();

        let c = case();
        let merge = |c: &Case| merge_shards(&c.dir, &c.id, "f00d", c.grid, &[Split::Train]);
        run(&c, Shard { index: 0, count: 3 }, None);
        run(&c, Shard { index: 2, count: 3 }, None);
        let err = merge(&c).unwrap_err().to_string();
        assert!(err.contains("shards 1/3 are missing"), "{err}");
        run(&c, Shard { index: 1, count: 3 }, Some(2));
        let err = merge(&c).unwrap_err().to_string();
        assert!(err.contains("shard-0001-of-0003") && err.contains("incomplete"), "{err}");
        run(&c, Shard { index: 1, count: 3 }, None);
        assert_eq!(merge(&c).unwrap(), 28);
        assert_eq!(read_rows::<SurfaceRow>(&c.dir.surface()).unwrap(), expected);

        // A shard made with other directions (another fingerprint).
        let shard1 = c.dir.shard(1, 3);
        let mut rows: Vec<SurfaceRow> = read_rows(&shard1).unwrap();
        let good = rows.clone();
        rows[0].fingerprint = "beef".into();
        write_rows(&shard1, &c.id, &rows).unwrap();
        let err = merge(&c).unwrap_err().to_string();
        assert!(err.contains("shard-0001-of-0003") && err.contains("other settings or directions"), "{err}");
        // A point in the wrong shard, duplicating shard 0's.
        let mut rows = good.clone();
        rows.push(SurfaceRow { point: 0, ..good[0].clone() });
        write_rows(&shard1, &c.id, &rows).unwrap();
        let err = merge(&c).unwrap_err().to_string();
        assert!(err.contains("point 0") && err.contains("not one of shard 1/3"), "{err}");
        write_rows(&shard1, &c.id, &good).unwrap();
        // Shards of another split of the grid.
        write_rows(&c.dir.shard(0, 2), &c.id, &good).unwrap();
        let err = merge(&c).unwrap_err().to_string();
        assert!(err.contains("shard of 3") || err.contains("shard of 2"), "{err}");
    }

    #[test]
    fn a_table_with_another_fingerprint_is_not_resumed() {
        let c = case();
        run(&c, Shard::WHOLE, Some(3));
        let mut other = job(&c, Shard::WHOLE, None);
        other.plane.fingerprint = "cafe";
        let err = compute(&other, &mut quadratic(), &indicatif::ProgressBar::hidden()).unwrap_err().to_string();
        assert!(err.contains("surface.parquet") && err.contains("fingerprint f00d"), "{err}");
    }
}
