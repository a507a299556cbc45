//! Rule steering: the input stream of the model-against-concurrent half of
//! `nscheck check` and of the zoo's fuzzing column, with the model's rule
//! hits as feedback, the way a coverage-guided fuzzer keeps the inputs that
//! reach new code.
//!
//! The stream is the seeded base stream, [`check_input`]`(seed, 0..)`, with
//! steered inputs added between its inputs while there is something new to
//! explore. After each input the caller hands back the rules the model
//! took ([`Steering::record`]). An input is **kept** when it is new by its
//! rule hits: it took a rule a number of times in a range (1, 2, 3, 4-7,
//! 8-15, 16-31, 32-127, 128 and more: libFuzzer's buckets) that no input
//! before it did, which includes taking a rule for the first time; or it
//! took a **rare** rule, one taken fewer than [`RARE`] times by all the
//! inputs before it. A kept input gets [`ENERGY`] mutations: op-level edits
//! (insert, replace, duplicate, delete or swap ops, or splice it with
//! another kept input), a few stacked, with new ops drawn from the
//! steering's own seeded stream.
//!
//! Recipes (`ops::RECIPES`) are blocks of ops that reach states random ops
//! almost never reach (a wrap of the queue index space, the deepest PID
//! namespace, a woken sender that sleeps again, a number given back by a
//! failed allocation, a dialect's exhausted pid space). A stream uses those
//! of its dialect and the mainline ones: when steering starts, each runs
//! once by itself first, and after that one mutation in [`RECIPE_ODDS`]
//! puts a random one in front.
//!
//! Steered inputs start once the base stream has stalled: [`STALL`] base
//! inputs in a row brought nothing new. Before that the base stream finds
//! news every few inputs by itself, and every steered input would only
//! delay it (the bugs a short campaign finds are found there, input for
//! input as without steering). From then on, while some kept input has
//! energy left, every base input is followed by one steered input; when
//! none has, the stream is the base stream alone. Inputs keep being kept
//! before the start, so the first steered inputs mutate what the base
//! stream found.
//!
//! The seed decides everything: the random choices come from a
//! `ChaCha8Rng` seeded from it, and the feedback is the model's, which
//! depends on the inputs only, never on the implementation under test
//! (whose results are only compared), nor on time. So the same seed gives
//! the same inputs, and the zoo can run the stream again on the unmutated
//! implementation.

use std::collections::VecDeque;
use std::fmt;

use arbitrary::{Arbitrary, Unstructured};
use nscheck_model::{Dialect, Hits};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::backend::{BackendKind, MakeBackend};
use crate::coverage::measure;
use crate::ops::{Failure, Mixed, Op, OpStats, RECIPES, Recipe, check_input, check_ops_in};

/// A rule taken fewer times than this by all the inputs so far is rare: an
/// input that takes it is kept.
pub const RARE: u64 = 16;

/// How many mutations a kept input gets.
pub const ENERGY: u32 = 16;

/// Steering starts once this many base inputs in a row brought nothing
/// new: until then the base stream finds news at almost every input, and a
/// steered input would only delay it.
pub const STALL: u64 = 64;

/// The most ops a steered input has: room for the longest base input (64
/// ops) after the longest recipe (301).
const MAX_LEN: usize = 400;

/// One steered input in this many starts with a recipe ([`RECIPES`]).
const RECIPE_ODDS: usize = 32;

/// Where an input of the stream comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Input `case` of the base stream, [`check_input`]`(seed, case)`.
    Base(u64),
    /// A mutation of the kept input with this number (in keeping order).
    Steered(usize),
    /// The ops of `RECIPES[i]` alone: each recipe of the stream's dialect
    /// is tried once, first thing when steering starts.
    Recipe(usize),
}

/// One input of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// Its position in the stream, from 0.
    pub index: u64,
    /// Where it comes from.
    pub origin: Origin,
    /// The ops.
    pub ops: Vec<Op>,
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin {
            Origin::Base(case) if case == self.index => write!(f, "input {case}"),
            Origin::Base(case) => write!(f, "input {} (base input {case})", self.index),
            Origin::Steered(from) => {
                write!(f, "input {} (steered, from kept input {from})", self.index)
            }
            Origin::Recipe(i) => write!(
                f,
                "input {} (the recipe for {})",
                self.index,
                RECIPES[i].rule.info().name
            ),
        }
    }
}

/// The steered input stream of one seed.
#[derive(Debug)]
pub struct Steering {
    seed: u64,
    on: bool,
    /// The dialect the model (and the implementation) follow.
    dialect: Dialect,
    rng: ChaCha8Rng,
    /// The next input's position in the stream.
    index: u64,
    /// The next base input.
    case: u64,
    /// The inputs kept, in keeping order.
    kept: Vec<Vec<Op>>,
    /// The kept inputs with mutations left: (number, energy).
    queue: VecDeque<(usize, u32)>,
    /// Whether the last input was a base input (a steered one comes next,
    /// if any has energy).
    after_base: bool,
    /// The last base input that was kept.
    last_news: u64,
    /// Whether the base stream has stalled once ([`STALL`]): steered
    /// inputs are drawn from then on.
    started: bool,
    /// [`STALL`] (less in the tests, to start sooner).
    stall: u64,
    /// For each rule, the buckets of hit counts some input reached, as
    /// bits.
    buckets: Vec<u8>,
    /// Every hit so far.
    total: Hits,
    /// How many steered inputs were drawn.
    steered: u64,
    /// The recipes of the stream's dialect not tried yet, as indices into
    /// [`RECIPES`].
    sweep: Vec<usize>,
}

impl Steering {
    /// The stream of `seed`: steered when `on`, else the base stream alone
    /// (`nscheck check --no-steer`).
    pub fn new(seed: u64, on: bool) -> Steering {
        Steering::in_dialect(seed, on, Dialect::Mainline)
    }

    /// The stream of `seed` checked in `dialect`: the base inputs of
    /// [`Steering::new`]; the steered ones follow the dialect's feedback
    /// and its recipes.
    pub fn in_dialect(seed: u64, on: bool, dialect: Dialect) -> Steering {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..].copy_from_slice(b"nscheck rule steering!!!");
        Steering {
            seed,
            on,
            dialect,
            rng: ChaCha8Rng::from_seed(key),
            index: 0,
            case: 0,
            kept: Vec::new(),
            queue: VecDeque::new(),
            after_base: false,
            last_news: 0,
            started: false,
            stall: STALL,
            buckets: vec![0; nscheck_model::rules::RULES.len()],
            total: Hits::default(),
            steered: 0,
            sweep: (0..RECIPES.len())
                .filter(|&i| recipe_applies(&RECIPES[i], dialect))
                .collect(),
        }
    }

    /// The next input.
    pub fn next_input(&mut self) -> Input {
        let steer_now = self.after_base && self.started;
        let origin = match self.queue.front_mut() {
            _ if steer_now && !self.sweep.is_empty() => Origin::Recipe(self.sweep.remove(0)),
            Some((from, energy)) if steer_now => {
                let from = *from;
                *energy -= 1;
                if *energy == 0 {
                    self.queue.pop_front();
                } else {
                    // Round robin over the kept inputs with energy.
                    self.queue.rotate_left(1);
                }
                Origin::Steered(from)
            }
            _ => {
                self.case += 1;
                Origin::Base(self.case - 1)
            }
        };
        self.after_base = matches!(origin, Origin::Base(_));
        let ops = match origin {
            Origin::Base(case) => check_input(self.seed, case),
            Origin::Steered(from) => {
                self.steered += 1;
                self.mutate(from)
            }
            Origin::Recipe(i) => {
                self.steered += 1;
                (RECIPES[i].ops)()
            }
        };
        self.index += 1;
        Input {
            index: self.index - 1,
            origin,
            ops,
        }
    }

    /// Takes in the rules the model took on `input` (which ran without a
    /// divergence): keeps it if they are new or rare.
    pub fn record(&mut self, input: &Input, hits: &Hits) {
        if !self.on {
            return;
        }
        let mut keep = false;
        for ((bits, &n), &before) in self
            .buckets
            .iter_mut()
            .zip(hits.as_slice())
            .zip(self.total.as_slice())
        {
            if n == 0 {
                continue;
            }
            let bit = 1u8 << bucket(n);
            keep |= *bits & bit == 0 || before < RARE;
            *bits |= bit;
        }
        self.total.merge(hits);
        if let Origin::Base(case) = input.origin {
            if keep {
                self.last_news = case;
            }
            self.started |= case - self.last_news >= self.stall;
        }
        if keep {
            self.queue.push_back((self.kept.len(), ENERGY));
            self.kept.push(input.ops.clone());
        }
    }

    /// Draws the next input, checks it on the model and on a backend of
    /// kind `against` made by `make` ([`check_ops_in`] in the stream's
    /// dialect), and records the
    /// rules the model took; the input's place in the stream and the
    /// check's result.
    pub fn check(
        &mut self,
        against: BackendKind,
        make: &mut MakeBackend<'_>,
    ) -> (Input, Result<OpStats, Failure>) {
        let input = self.next_input();
        if !self.on {
            let result = check_ops_in(&input.ops, self.dialect, against, make);
            return (input, result);
        }
        let (result, hits) = measure(|| check_ops_in(&input.ops, self.dialect, against, make));
        if result.is_ok() {
            self.record(&input, &hits);
        }
        (input, result)
    }

    /// How many inputs the stream has drawn.
    pub fn inputs(&self) -> u64 {
        self.index
    }

    /// One line on what steering did: the inputs kept and the steered
    /// inputs run.
    pub fn summary(&self) -> String {
        if !self.on {
            return "steering: off (the base stream only)".to_string();
        }
        format!(
            "steering: {} inputs kept for new or rare rule hits, {} steered inputs of {} ({:.1}%)",
            self.kept.len(),
            self.steered,
            self.index,
            100.0 * self.steered as f64 / self.index.max(1) as f64
        )
    }

    /// A mutation of kept input `from`: one to four stacked edits.
    fn mutate(&mut self, from: usize) -> Vec<Op> {
        let mut ops = self.kept[from].clone();
        let edits = 1 + self.below(4);
        for _ in 0..edits {
            self.edit(&mut ops);
        }
        if self.below(RECIPE_ODDS) == 0 {
            let dialect = self.dialect;
            let mut recipes = RECIPES.iter().filter(|r| recipe_applies(r, dialect));
            let n = recipes.clone().count();
            if let Some(recipe) = recipes.nth(self.below(n)) {
                ops.splice(0..0, (recipe.ops)());
            }
        }
        ops.truncate(MAX_LEN);
        ops
    }

    /// One edit of `ops`.
    fn edit(&mut self, ops: &mut Vec<Op>) {
        let len = ops.len();
        match self.below(6) {
            0 => {
                let at = self.below(len + 1);
                let op = self.fresh_op();
                ops.insert(at, op);
            }
            1 if len > 0 => {
                let at = self.below(len);
                ops[at] = self.fresh_op();
            }
            2 if len > 1 => {
                let at = self.below(len);
                ops.remove(at);
            }
            3 if len > 0 => {
                let op = ops[self.below(len)].clone();
                let at = self.below(len + 1);
                ops.insert(at, op);
            }
            4 if len > 1 => {
                let (a, b) = (self.below(len), self.below(len));
                ops.swap(a, b);
            }
            5 => {
                // Splice: a prefix of these ops, a suffix of another kept
                // input's.
                let other = self.below(self.kept.len());
                let cut = self.below(len + 1);
                let from = self.below(self.kept[other].len() + 1);
                let tail = self.kept[other][from..].to_vec();
                ops.truncate(cut);
                ops.extend(tail);
            }
            _ => {
                let op = self.fresh_op();
                ops.push(op);
            }
        }
    }

    /// A new op of the mixed layout, drawn from the steering's stream.
    fn fresh_op(&mut self) -> Op {
        // An op takes at most a dozen bytes.
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        Mixed::arbitrary(&mut Unstructured::new(&bytes)).map_or(
            Op::Pid {
                task: 0,
                op: crate::ops::PidOp::Getpid,
            },
            Op::from,
        )
    }

    /// A number in `0..n` (0 for `n` = 0).
    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }
}

/// Whether a stream of `dialect` uses `recipe`: those for the dialect's own
/// states, and the mainline ones, which every dialect shares.
fn recipe_applies(recipe: &Recipe, dialect: Dialect) -> bool {
    recipe.dialect == Dialect::Mainline || recipe.dialect == dialect
}

/// libFuzzer's bucket of a hit count: 1, 2, 3, 4-7, 8-15, 16-31, 32-127,
/// 128 and more are buckets 0 to 7.
fn bucket(n: u64) -> u32 {
    match n {
        0..=3 => (n as u32).saturating_sub(1),
        4..=7 => 3,
        8..=15 => 4,
        16..=31 => 5,
        32..=127 => 6,
        _ => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Backend, BackendError};
    use nscheck_model::Dialect;

    fn concurrent() -> Result<Box<dyn Backend>, BackendError> {
        backend::make(BackendKind::Concurrent, Dialect::Mainline, None)
    }

    /// `n` inputs of the stream of `seed`, checked, with the rules the
    /// model took on all of them.
    fn run(seed: u64, on: bool, n: u64) -> (Vec<Input>, Hits, String) {
        let mut s = Steering::new(seed, on);
        s.stall = 4;
        let mut inputs = Vec::new();
        let ((), hits) = measure(|| {
            for _ in 0..n {
                let (input, result) = s.check(BackendKind::Concurrent, &mut concurrent);
                result.expect("the implementation agrees with the model");
                inputs.push(input);
            }
        });
        (inputs, hits, s.summary())
    }

    #[test]
    fn the_same_seed_gives_the_same_inputs_and_coverage() {
        let (a, hits_a, summary_a) = run(7, true, 500);
        let (b, hits_b, summary_b) = run(7, true, 500);
        assert_eq!(a, b);
        assert_eq!(hits_a, hits_b);
        assert_eq!(summary_a, summary_b);
        assert!(
            a.iter().any(|i| matches!(i.origin, Origin::Steered(_))),
            "{summary_a}"
        );
        let (c, _, _) = run(8, true, 500);
        assert_ne!(a, c);
    }

    #[test]
    fn without_steering_the_stream_is_the_base_stream() {
        let (inputs, _, summary) = run(3, false, 50);
        for (case, input) in (0..).zip(&inputs) {
            assert_eq!(input.origin, Origin::Base(case));
            assert_eq!(input.ops, check_input(3, case));
        }
        assert_eq!(summary, "steering: off (the base stream only)");
    }

    #[test]
    fn base_inputs_keep_their_order_and_steered_ones_come_between() {
        let (inputs, _, _) = run(1, true, 500);
        let bases: Vec<u64> = inputs
            .iter()
            .filter_map(|i| match i.origin {
                Origin::Base(c) => Some(c),
                Origin::Steered(_) | Origin::Recipe(_) => None,
            })
            .collect();
        assert_eq!(bases, (0..bases.len() as u64).collect::<Vec<_>>());
        for pair in inputs.windows(2) {
            assert!(
                matches!(pair[0].origin, Origin::Base(_))
                    || matches!(pair[1].origin, Origin::Base(_)),
                "two steered inputs in a row"
            );
        }
        assert!(inputs.iter().all(|i| i.ops.len() <= MAX_LEN));
    }

    /// The first inputs steering draws are the recipes of the stream's
    /// dialect, each once, in order.
    #[test]
    fn steering_starts_with_every_recipe_once() {
        let (inputs, _, _) = run(1, true, 500);
        let recipes: Vec<usize> = inputs
            .iter()
            .filter(|i| !matches!(i.origin, Origin::Base(_)))
            .take_while(|i| matches!(i.origin, Origin::Recipe(_)))
            .map(|i| match i.origin {
                Origin::Recipe(r) => r,
                _ => unreachable!("only recipes are taken"),
            })
            .collect();
        let mainline: Vec<usize> = (0..RECIPES.len())
            .filter(|&r| RECIPES[r].dialect == Dialect::Mainline)
            .collect();
        assert_eq!(recipes, mainline);
    }

    #[test]
    fn buckets_are_libfuzzers() {
        let got: Vec<u32> = [1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 127, 128, 1 << 40]
            .iter()
            .map(|&n| bucket(n))
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]);
    }
}
