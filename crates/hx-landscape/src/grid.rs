//! The grid of a surface: loss-landscape's `min:max:num` axis syntax, the
//! points in a fixed order, and how `--shard i/n` splits them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One axis, `min:max:num`: `num` evenly spaced coordinates from `min` to
/// `max` inclusive (`num = 1` is the single coordinate `min`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// First coordinate.
    pub min: f64,
    /// Last coordinate.
    pub max: f64,
    /// Number of coordinates.
    pub num: usize,
}

impl Axis {
    /// Parse `min:max:num` for the flag `flag` (named in the error).
    pub fn parse(flag: &str, text: &str) -> Result<Self> {
        let bad = |why: String| Error::Input(format!("{flag}={text}: {why}; expected min:max:num, e.g. {flag}=-1:1:51"));
        let parts: Vec<&str> = text.split(':').collect();
        let [min, max, num] = parts.as_slice() else {
            return Err(bad(format!("{} fields instead of 3", parts.len())));
        };
        let number = |s: &str, what: &str| s.trim().parse::<f64>().map_err(|_| bad(format!("{what} `{s}` is not a number")));
        let (min, max) = (number(min, "min")?, number(max, "max")?);
        let num: usize = num.trim().parse().map_err(|_| bad(format!("num `{num}` is not a whole number")))?;
        if !min.is_finite() || !max.is_finite() {
            return Err(bad("min and max must be finite".into()));
        }
        if num == 0 {
            return Err(bad("num must be at least 1".into()));
        }
        if num > 1 && max <= min {
            return Err(bad(format!("max ({max}) must be greater than min ({min})")));
        }
        Ok(Axis { min, max, num })
    }

    /// The coordinates, `min + i (max - min) / (num - 1)`.
    pub fn values(&self) -> Vec<f64> {
        if self.num == 1 {
            return vec![self.min];
        }
        let step = (self.max - self.min) / (self.num - 1) as f64;
        (0..self.num).map(|i| if i + 1 == self.num { self.max } else { self.min + i as f64 * step }).collect()
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.min, self.max, self.num)
    }
}

/// A 1D (`y` absent) or 2D grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// The x axis.
    pub x: Axis,
    /// The y axis of a 2D surface.
    pub y: Option<Axis>,
}

/// One grid point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Index in the grid, row-major with x fastest.
    pub index: usize,
    /// x coordinate.
    pub x: f64,
    /// y coordinate (0 on a 1D grid).
    pub y: f64,
}

impl Grid {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.x.num * self.y.map_or(1, |y| y.num)
    }

    /// Whether the grid is empty (never, for parsed axes).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every point, x fastest.
    pub fn points(&self) -> Vec<Point> {
        let xs = self.x.values();
        let ys = self.y.map_or_else(|| vec![0.0], |y| y.values());
        let mut out = Vec::with_capacity(xs.len() * ys.len());
        for &y in &ys {
            for &x in &xs {
                out.push(Point { index: out.len(), x, y });
            }
        }
        out
    }
}

pub use hessx_pipeline::shard::Shard;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_values_follow_the_seed_syntax() {
        let a = Axis::parse("--x", "-1:1:5").unwrap();
        assert_eq!(a.values(), [-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(Axis::parse("--x", "-0.5:1.5:401").unwrap().values().len(), 401);
        assert_eq!(Axis::parse("--x", "2:2:1").unwrap().values(), [2.0]);
        assert_eq!(a.to_string(), "-1:1:5");
    }

    #[test]
    fn bad_axes_name_the_flag_and_the_rule() {
        for (text, want) in [
            ("1:0:5", "must be greater than min"),
            ("0:1", "2 fields"),
            ("0:1:0", "at least 1"),
            ("a:1:3", "min `a`"),
            ("0:1:2.5", "whole number"),
            ("0:inf:3", "finite"),
        ] {
            let err = Axis::parse("--y", text).unwrap_err().to_string();
            assert!(err.contains(&format!("--y={text}")) && err.contains(want) && err.contains("min:max:num"), "{err}");
        }
    }

    #[test]
    fn points_are_row_major_with_x_fastest() {
        let g = Grid { x: Axis::parse("--x", "0:1:2").unwrap(), y: Some(Axis::parse("--y", "0:2:3").unwrap()) };
        let p = g.points();
        assert_eq!(p.len(), 6);
        assert_eq!((p[1].x, p[1].y, p[1].index), (1.0, 0.0, 1));
        assert_eq!((p[2].x, p[2].y), (0.0, 1.0));
        let line = Grid { x: Axis::parse("--x", "0:1:3").unwrap(), y: None };
        assert!(line.points().iter().all(|p| p.y == 0.0));
    }
}
