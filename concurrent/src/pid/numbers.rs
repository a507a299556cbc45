//! The numbers of one `struct pid` (its `upid`s), kept inside the pid for
//! up to two levels (a tree's first namespace and one child below it, the
//! common depths) and on the heap beyond, so that allocating a pid of
//! those depths allocates nothing but the pid itself.

use crate::pid::struct_pid::Upid;

/// A short list of [`Upid`]s.
#[derive(Debug, Default)]
pub(crate) enum Numbers {
    /// No number yet: a list being built level by level.
    #[default]
    Empty,
    /// One level.
    One([Upid; 1]),
    /// Two levels.
    Two([Upid; 2]),
    /// Three levels or more.
    Many(Vec<Upid>),
}

impl Numbers {
    /// The numbers, in the order they were pushed.
    pub(crate) fn as_slice(&self) -> &[Upid] {
        match self {
            Numbers::Empty => &[],
            Numbers::One(a) => a,
            Numbers::Two(a) => a,
            Numbers::Many(v) => v,
        }
    }

    /// Appends `u`.
    pub(crate) fn push(&mut self, u: Upid) {
        *self = match std::mem::take(self) {
            Numbers::Empty => Numbers::One([u]),
            Numbers::One([a]) => Numbers::Two([a, u]),
            Numbers::Two([a, b]) => Numbers::Many(vec![a, b, u]),
            Numbers::Many(mut v) => {
                v.push(u);
                Numbers::Many(v)
            }
        }
    }

    /// Reverses the order.
    pub(crate) fn reverse(&mut self) {
        match self {
            Numbers::Empty | Numbers::One(_) => {}
            Numbers::Two(a) => a.reverse(),
            Numbers::Many(v) => v.reverse(),
        }
    }
}

impl From<Vec<Upid>> for Numbers {
    fn from(v: Vec<Upid>) -> Numbers {
        let mut numbers = Numbers::Empty;
        for u in v {
            numbers.push(u);
        }
        numbers
    }
}
