//! The taken numbers of one mainline namespace level (the keys of Linux's
//! idr, whatever they point to), as a bitmap: taking and giving back a
//! number are a bit each, and the cyclic allocator's "first free number at
//! or after the cursor" reads one word in the common case.

/// A set of pid numbers (all positive), one bit each, in words that grow
/// up to the highest number ever taken.
#[derive(Clone, Debug, Default)]
pub(crate) struct NrSet {
    /// Bit `nr % 64` of word `nr / 64` is set when `nr` is taken.
    words: Vec<u64>,
    /// How many bits are set.
    len: usize,
}

/// The word index and bit of `nr`.
fn at(nr: i64) -> (usize, u64) {
    let nr = usize::try_from(nr).expect("a pid number is not negative");
    (nr / 64, 1 << (nr % 64))
}

impl NrSet {
    /// Takes `nr`; `false` if it was already taken.
    pub(crate) fn insert(&mut self, nr: i64) -> bool {
        let (w, bit) = at(nr);
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let was = self.words[w] & bit != 0;
        self.words[w] |= bit;
        self.len += usize::from(!was);
        !was
    }

    /// Gives `nr` back; `false` if it was not taken.
    pub(crate) fn remove(&mut self, nr: i64) -> bool {
        let (w, bit) = at(nr);
        let Some(word) = self.words.get_mut(w) else {
            return false;
        };
        let was = *word & bit != 0;
        *word &= !bit;
        self.len -= usize::from(was);
        was
    }

    /// Whether no number is taken.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The smallest number of `[from, end)` that is not taken (`from` is
    /// positive).
    pub(crate) fn first_free(&self, from: i64, end: i64) -> Option<i64> {
        if from >= end {
            return None;
        }
        let (mut w, bit) = at(from);
        // The bits below `from` in its word count as taken.
        let mut word = self.words.get(w).copied().unwrap_or(0) | (bit - 1);
        while word == u64::MAX {
            w += 1;
            word = self.words.get(w).copied().unwrap_or(0);
        }
        let nr = (w * 64) as i64 + i64::from((!word).trailing_zeros());
        (nr < end).then_some(nr)
    }

    /// The taken numbers, in increasing order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            (0..64)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| (w * 64 + b) as i64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::NrSet;

    #[test]
    fn first_free_skips_taken_runs_across_words() {
        let mut s = NrSet::default();
        assert_eq!(s.first_free(1, 10), Some(1));
        for nr in 1..=130 {
            assert!(s.insert(nr));
        }
        assert!(!s.insert(64));
        assert_eq!(s.first_free(1, 1000), Some(131));
        assert_eq!(s.first_free(5, 131), None);
        assert_eq!(s.first_free(200, 1000), Some(200));
        assert!(s.remove(64));
        assert!(!s.remove(64));
        assert!(!s.remove(5000));
        assert_eq!(s.first_free(2, 1000), Some(64));
        assert_eq!(s.first_free(65, 1000), Some(131));
        assert_eq!(s.iter().take(3).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(s.iter().count(), 129);
        for nr in (1..=130).filter(|&n| n != 64) {
            s.remove(nr);
        }
        assert!(s.is_empty());
    }
}
