//! The semantic variants the model can run.

use std::fmt;
use std::str::FromStr;

/// Which kernel's semantics the model follows.
///
/// `Mainline` is Linux 6.18, checked against the real kernel. The others are
/// the historical designs of the seed patches; see `DIALECTS.md` for every
/// choice made where a seed is silent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Linux 6.18.
    #[default]
    Mainline,
    /// The 2012 `q_copy_cnt` MSG_COPY RFC (seed `001`, first half).
    Rfc2012,
    /// The 2007 flat pid namespaces, two numbers per pid (seed `002`).
    Flat2007,
    /// The 2006 OpenVZ virtual pids, linear and sparse (seed `003`).
    Openvz2006,
}

impl Dialect {
    /// Every dialect, in the order the CLI lists them.
    pub const ALL: &[Dialect] = &[
        Dialect::Mainline,
        Dialect::Rfc2012,
        Dialect::Flat2007,
        Dialect::Openvz2006,
    ];

    /// The name used by `--dialect`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Mainline => "mainline",
            Dialect::Rfc2012 => "rfc2012",
            Dialect::Flat2007 => "flat2007",
            Dialect::Openvz2006 => "openvz2006",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = String;

    fn from_str(s: &str) -> Result<Dialect, String> {
        Dialect::ALL
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Dialect::ALL.iter().map(|d| d.name()).collect();
                format!(
                    "unknown dialect `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}
