//! The names written into tables for methods and kinds, each an enum owned
//! here once: stages write them, `hx-analyze` and `hx-query` read them, and
//! nobody compares the strings by hand. Stored as Utf8 columns, so tables
//! stay readable from Polars and SQL.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use serde::{Deserialize, Serialize};

use crate::column::Column;

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every name, as written in tables and typed on command lines.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            /// The name written in tables.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    format!("`{s}` is not a {}; expected one of {}", stringify!($name), $name::NAMES.join(", "))
                })
            }
        }

        impl Column for $name {
            const TYPE_NAME: &'static str = concat!("Utf8 (", $($text, " "),+, ")");
            fn to_array(values: Vec<&Self>) -> ArrayRef {
                Arc::new(StringArray::from_iter_values(values.into_iter().map(|v| v.name())))
            }
            fn from_array(array: &dyn Array) -> Option<Vec<Self>> {
                let a = array.as_any().downcast_ref::<StringArray>()?;
                (0..a.len()).map(|i| a.value(i).parse().ok()).collect()
            }
        }
    };
}

vocabulary! {
    /// How eigenpairs were computed.
    EigenMethod {
        /// Lanczos with full reorthogonalisation (`hx-eigen --method lanczos`).
        Lanczos = "lanczos",
        /// PyHessian's power iteration with deflation (`hx-eigen --method power`).
        Power = "power",
        /// Ritz pairs of the first stochastic Lanczos quadrature run (`hx-spectrum --one-pass`).
        OnePass = "one-pass",
    }
}

impl EigenMethod {
    /// Order of trust when several methods computed one checkpoint: the
    /// dedicated solvers before the by-product of a density run.
    pub fn preference(self) -> u8 {
        match self {
            EigenMethod::Lanczos => 0,
            EigenMethod::Power => 1,
            EigenMethod::OnePass => 2,
        }
    }
}

vocabulary! {
    /// Which end(s) of the spectrum `hx-eigen --which` computes (issue 18).
    Which {
        /// The k algebraically largest eigenvalues (the default, and the only end before issue 18).
        Largest = "largest",
        /// The k algebraically smallest: the most negative curvature.
        Smallest = "smallest",
        /// Both ends, k pairs each, from one Lanczos run.
        Both = "both",
        /// The k of largest |lambda| (PyHessian's "top", what power iteration converges to).
        Magnitude = "magnitude",
    }
}

// By hand: `vocabulary!` derives only what every vocabulary needs, and a default is `--which`'s alone.
#[allow(clippy::derivable_impls)]
impl Default for Which {
    fn default() -> Self {
        Which::Largest
    }
}

impl Which {
    /// The ends whose rows this choice writes.
    pub fn ends(self) -> &'static [SpectrumEnd] {
        match self {
            Which::Largest => &[SpectrumEnd::Top],
            Which::Smallest => &[SpectrumEnd::Bottom],
            Which::Both => &[SpectrumEnd::Top, SpectrumEnd::Bottom],
            Which::Magnitude => &[SpectrumEnd::Magnitude],
        }
    }
}

vocabulary! {
    /// The end of the spectrum an eigenvalue row belongs to (`spectrum_end`); its `rank` counts within it.
    SpectrumEnd {
        /// Algebraically largest; rank 0 = largest. Tables written before the column existed read as this.
        Top = "top",
        /// Algebraically smallest; rank 0 = most negative.
        Bottom = "bottom",
        /// Largest |lambda|; rank 0 = largest magnitude.
        Magnitude = "magnitude",
    }
}

vocabulary! {
    /// How a trace was estimated.
    TraceMethod {
        /// From the stochastic Lanczos quadrature runs of the density (no extra products).
        Slq = "slq",
        /// Hutchinson's estimator with Rademacher probes.
        Hutchinson = "hutchinson",
        /// Hutch++ (Meyer et al. 2021).
        Hutchpp = "hutchpp",
        /// Trace of the first SLQ run's Krylov space plus a Hutchinson estimate on its complement, with
        /// a standard error (`hx-spectrum --one-pass`).
        OnePass = "one-pass",
    }
}

vocabulary! {
    /// The weights a spectral density is drawn with (`hx-spectrum --density-weights`).
    DensityWeights {
        /// The probes' Gauss quadrature weights, as PyHessian's `density()`.
        Plain = "plain",
        /// Every eigenvalue a run resolved gets its exact mass `1/n`; the other weights share the rest.
        Deflated = "deflated",
    }
}

/// Settings from before `--density-weights` meant the probes' weights.
impl Default for DensityWeights {
    fn default() -> Self {
        DensityWeights::Plain
    }
}

impl DensityWeights {
    /// Whether these are the probes' weights: settings structs leave the field out of the JSON their
    /// fingerprint hashes then, so settings from before the field keep their fingerprints.
    pub fn is_plain(&self) -> bool {
        *self == DensityWeights::Plain
    }
}

vocabulary! {
    /// The quadrature rule a spectral density is drawn from (`hx-spectrum --density-rule`).
    DensityRule {
        /// The Gauss rule of each Lanczos run, as PyHessian's `density()`.
        Gauss = "gauss",
        /// The Gauss–Radau rule with a node fixed at 0, from the same run (no extra product).
        RadauZero = "radau-zero",
    }
}

/// Settings from before `--density-rule` drew the Gauss rule.
impl Default for DensityRule {
    fn default() -> Self {
        DensityRule::Gauss
    }
}

impl DensityRule {
    /// Whether this is the Gauss rule: settings structs leave the field out of the JSON their
    /// fingerprint hashes then, so settings from before the field keep their fingerprints.
    pub fn is_gauss(&self) -> bool {
        *self == DensityRule::Gauss
    }
}

vocabulary! {
    /// How an eigenpair's residual `||H v - lambda v||` was obtained.
    ResidualKind {
        /// From the Lanczos relation `|beta_m s_{m,i}|`, without an extra product.
        LanczosEstimate = "lanczos-estimate",
        /// One explicit product per pair after the solve.
        Explicit = "explicit",
        /// Not computed (power iteration without verification): the residuals are NaN.
        NotComputed = "not-computed",
    }
}

vocabulary! {
    /// The stage that wrote a row of the settings table.
    Stage {
        /// `hx-eigen`: top eigenpairs.
        Eigen = "eigen",
        /// `hx-spectrum`: trace and spectral density.
        Spectrum = "spectrum",
        /// `hx-robustness`: accuracy and curvature over corruptions and severities.
        Robustness = "robustness",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for m in EigenMethod::ALL {
            assert_eq!(m.name().parse::<EigenMethod>().unwrap(), *m);
        }
        let err = "arnoldi".parse::<EigenMethod>().unwrap_err();
        assert!(err.contains("arnoldi") && err.contains("lanczos, power, one-pass"), "{err}");
        assert_eq!(serde_json::to_string(&TraceMethod::Hutchpp).unwrap(), "\"hutchpp\"");
    }
}
