//! A linearizability checker in the style of Wing and Gong, with Lowe's
//! memoization, for specifications whose calls may block.
//!
//! A history is a list of completed calls ([`Entry`]), each with the thread
//! that made it, its invocation and response positions on one global clock,
//! and its result. The checker searches for a sequential order of the
//! specification's steps that gives every call its recorded result and
//! respects real time.
//!
//! # Blocking calls
//!
//! A call that can sleep is two steps of the specification, not one: its
//! *entry* (the specification runs the call and either returns a result at
//! once or puts the thread to sleep) and, when it slept, its *completion*,
//! which is not chosen by the checker but happens inside the step of another
//! call that wakes it (a send handing over a message, `IPC_SET`, `IPC_RMID`),
//! exactly when the specification says so and with the result the
//! specification gives. The rule implemented:
//!
//! - an entry may be placed at any point after its invocation, and every
//!   call must have completed (at its entry or later) before the entry of any
//!   call invoked after its response;
//! - a completion happens only where the specification wakes the sleeper,
//!   and its result must be the recorded one.
//!
//! So a call that really slept may be linearized as if it had not slept (its
//! entry placed after the call that woke it, if the specification then
//! returns the same result), or as sleeping from its entry to the step that
//! woke it. The second form is what makes results such as `EIDRM` for a
//! receiver that slept through `IPC_RMID` linearizable at all: run after the
//! removal, the same call would get `EINVAL`. A call still asleep in the
//! specification when the search ends is a failure: every call of a history
//! returned, so a sleeper left in the specification is a lost wake-up there.
//!
//! # Calls made of several steps
//!
//! A call whose implementation runs several critical sections, between
//! which other calls may run (a fork that reserves a number at each level
//! of the namespace tree under that level's lock, then publishes them
//! all), is several steps of the specification too: its entry, then
//! further steps of its own ([`Spec::advance`]), which the search places
//! anywhere after the entry, in any order with the steps of other calls;
//! the call completes at the step that gives its result, and that result
//! must be the recorded one. Real time constrains only the entries, as for
//! blocking calls, and a call must have taken its last step before the
//! entry of any call invoked after its response.
//!
//! # Search
//!
//! Depth first over the entries that may come next. A state is the set of
//! entered calls, the set of completed calls and the specification's state
//! ([`Spec::key`]); a state seen before is not explored again. Histories are
//! at most 128 calls long (two `u128` sets).

use std::collections::HashSet;
use std::fmt;

/// A sequential specification whose calls may block.
pub trait Spec: Clone {
    /// A call with its arguments.
    type Call: fmt::Debug;
    /// A call's result.
    type Ret: PartialEq + fmt::Debug;

    /// Runs `call` for `thread`: `Ok(Some(ret))` if it returned,
    /// `Ok(None)` if the thread sleeps. Every sleeping thread the call ended
    /// is pushed onto `resumed` with its result. `Err` means the
    /// specification refuses the call (the branch is abandoned).
    fn step(
        &mut self,
        thread: usize,
        call: &Self::Call,
        resumed: &mut Vec<(usize, Self::Ret)>,
    ) -> Result<Option<Self::Ret>, String>;

    /// A key of the state: two states with the same key behave the same
    /// from now on.
    fn key(&self) -> String;

    /// Whether `call` with the recorded result `ret` may be linearized as a
    /// call that is overtaken: it starts now, has no effect, and returns
    /// `ret` at a later step, which pushes it onto that step's `resumed`.
    /// If so, this state records that the thread is waiting. The default is
    /// never. (The model uses it for `EIDRM`: a call that found its queue
    /// before `IPC_RMID` removed it and locked it after.)
    fn stall(&mut self, _thread: usize, _call: &Self::Call, _ret: &Self::Ret) -> bool {
        false
    }

    /// Takes the next step of `thread`'s call in progress, if that call has
    /// a step of its own left (see "Calls made of several steps" above):
    /// `None` if it has not (it returned, or it sleeps until another call
    /// wakes it), else the step's outcome. A step that ends the call pushes
    /// `(thread, result)` onto `resumed`, and so does a step that wakes
    /// others. The default is never: every call is one step.
    fn advance(
        &mut self,
        _thread: usize,
        _resumed: &mut Vec<(usize, Self::Ret)>,
    ) -> Option<Result<(), String>> {
        None
    }
}

/// One call of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<C, R> {
    /// The thread that made the call.
    pub thread: usize,
    /// The call.
    pub call: C,
    /// When the call was made, on the history's clock.
    pub inv: u64,
    /// When it returned; greater than `inv`.
    pub res: u64,
    /// What it returned.
    pub ret: R,
}

impl<C, R> Entry<C, R> {
    /// `call` by `thread`, made at `inv` and returning `ret` at `res`.
    pub fn new(thread: usize, call: C, inv: u64, res: u64, ret: R) -> Entry<C, R> {
        Entry {
            thread,
            call,
            inv,
            res,
            ret,
        }
    }
}

/// One step of a linearization: the entry of call `op` (or a later step of
/// it, [`Spec::advance`]), and the calls it completed (itself first if it
/// did not sleep).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinStep {
    /// The index of the call in the history.
    pub op: usize,
    /// Whether this is a later step of a call already entered.
    pub advanced: bool,
    /// Whether the specification put the call to sleep (or left it in
    /// progress).
    pub slept: bool,
    /// The sleeping calls this step woke, by index.
    pub woke: Vec<usize>,
}

/// Why a history is not linearizable: the longest prefix found and the
/// steps that failed right after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The longest linearized prefix the search reached.
    pub best: Vec<LinStep>,
    /// For that prefix, why each candidate next call failed.
    pub reasons: Vec<String>,
    /// How many states were explored.
    pub states: usize,
}

type Set = u128;

struct Search<'a, S: Spec> {
    history: &'a [Entry<S::Call, S::Ret>],
    /// Call indices by invocation order.
    by_inv: Vec<usize>,
    seen: HashSet<(Set, Set, String)>,
    path: Vec<LinStep>,
    best: Vec<LinStep>,
    best_completed: u32,
    reasons: Vec<String>,
}

/// Checks `history` against the specification started in `init`: `Ok`
/// with one linearization, or the reason it has none.
pub fn check<S: Spec>(
    init: &S,
    history: &[Entry<S::Call, S::Ret>],
) -> Result<Vec<LinStep>, Rejection> {
    assert!(history.len() <= 128, "histories are limited to 128 calls");
    for e in history {
        assert!(e.inv < e.res, "a call returns after it is made: {e:?}");
    }
    let mut by_inv: Vec<usize> = (0..history.len()).collect();
    by_inv.sort_by_key(|&i| history[i].inv);
    let mut search = Search {
        history,
        by_inv,
        seen: HashSet::new(),
        path: Vec::new(),
        best: Vec::new(),
        best_completed: 0,
        reasons: Vec::new(),
    };
    if search.dfs(init, 0, 0) {
        Ok(search.path)
    } else {
        Err(Rejection {
            best: search.best,
            reasons: search.reasons,
            states: search.seen.len(),
        })
    }
}

/// [`check`], run on an operating-system thread of its own: loom and
/// shuttle run their model threads on small stacks, too small for the
/// recursion and the specifications' keys. That thread touches nothing of
/// the checkers, so they do not see it.
pub fn check_apart<S>(
    init: &S,
    history: &[Entry<S::Call, S::Ret>],
) -> Result<Vec<LinStep>, Rejection>
where
    S: Spec + Sync,
    S::Call: Sync,
    S::Ret: Sync,
{
    std::thread::scope(|s| {
        s.spawn(|| check(init, history))
            .join()
            .expect("the checker does not panic")
    })
}

impl<S: Spec> Search<'_, S> {
    fn all(&self) -> Set {
        if self.history.len() == 128 {
            Set::MAX
        } else {
            (1 << self.history.len()) - 1
        }
    }

    fn dfs(&mut self, state: &S, entered: Set, completed: Set) -> bool {
        if completed == self.all() {
            return true;
        }
        if !self.seen.insert((entered, completed, state.key())) {
            return false;
        }
        // No call may enter after the response of a call not yet complete.
        let bound = (0..self.history.len())
            .filter(|&k| completed & (1 << k) == 0)
            .map(|k| self.history[k].res)
            .min()
            .unwrap_or(u64::MAX);
        let history = self.history;
        let mut reasons = Vec::new();
        for n in 0..self.by_inv.len() {
            let j = self.by_inv[n];
            let e = &history[j];
            if e.inv > bound {
                break;
            }
            if entered & (1 << j) != 0 {
                continue;
            }
            for stall in [false, true] {
                let mut next = state.clone();
                let mut resumed = Vec::new();
                let (entered, mut completed) = (entered | 1 << j, completed);
                let slept = if stall {
                    if !next.stall(e.thread, &e.call, &e.ret) {
                        continue;
                    }
                    true
                } else {
                    match next.step(e.thread, &e.call, &mut resumed) {
                        Err(why) => {
                            reasons.push(format!("#{j} {:?}: refused: {why}", e.call));
                            continue;
                        }
                        Ok(Some(ret)) if ret == e.ret => {
                            completed |= 1 << j;
                            false
                        }
                        Ok(Some(ret)) => {
                            reasons.push(format!(
                                "#{j} t{} {:?}: the model returns {ret:?}, the implementation {:?}",
                                e.thread, e.call, e.ret
                            ));
                            continue;
                        }
                        Ok(None) => true,
                    }
                };
                let step = (j, false, slept);
                if self.descend(&next, step, resumed, entered, completed, &mut reasons) {
                    return true;
                }
            }
        }
        // The further steps of calls in progress.
        for (j, e) in history.iter().enumerate() {
            if entered & (1 << j) == 0 || completed & (1 << j) != 0 {
                continue;
            }
            let mut next = state.clone();
            let mut resumed = Vec::new();
            match next.advance(e.thread, &mut resumed) {
                None => continue,
                Some(Err(why)) => {
                    reasons.push(format!("#{j} {:?}: a later step refused: {why}", e.call));
                    continue;
                }
                Some(Ok(())) => {}
            }
            let slept = !resumed.iter().any(|r| r.0 == e.thread);
            if self.descend(
                &next,
                (j, true, slept),
                resumed,
                entered,
                completed,
                &mut reasons,
            ) {
                return true;
            }
        }
        if completed.count_ones() == self.best_completed && self.path == self.best {
            if reasons.is_empty() {
                reasons.push(
                    "no call may come next (a call asleep in the model must return first)".into(),
                );
            }
            self.reasons = reasons;
        }
        false
    }

    /// After step `(op, advanced, slept)` of the specification, which
    /// ended the calls of `resumed`: completes those calls if their results
    /// are the recorded ones, records the step and searches on from `next`.
    fn descend(
        &mut self,
        next: &S,
        (j, advanced, slept): (usize, bool, bool),
        resumed: Vec<(usize, S::Ret)>,
        entered: Set,
        mut completed: Set,
        reasons: &mut Vec<String>,
    ) -> bool {
        let e = &self.history[j];
        let mut woke = Vec::new();
        for (thread, ret) in resumed {
            let pending = (0..self.history.len()).find(|&k| {
                self.history[k].thread == thread
                    && entered & (1 << k) != 0
                    && completed & (1 << k) == 0
            });
            match pending {
                Some(k) if self.history[k].ret == ret => {
                    completed |= 1 << k;
                    woke.push(k);
                }
                Some(k) => {
                    reasons.push(format!(
                        "#{j} t{} {:?} ends #{k} t{thread}: the model returns {ret:?}, \
                         the implementation {:?}",
                        e.thread, e.call, self.history[k].ret
                    ));
                    return false;
                }
                None => {
                    reasons.push(format!(
                        "#{j} t{} {:?} wakes t{thread}, which has no call in progress",
                        e.thread, e.call
                    ));
                    return false;
                }
            }
        }
        // A woken call's own entry bit is already set; keep `entered` a
        // superset of `completed`.
        let entered = entered | completed;
        self.path.push(LinStep {
            op: j,
            advanced,
            slept,
            woke,
        });
        if completed.count_ones() > self.best_completed {
            self.best_completed = completed.count_ones();
            self.best = self.path.clone();
            self.reasons.clear();
        }
        if self.dfs(next, entered, completed) {
            return true;
        }
        self.path.pop();
        if slept && !advanced {
            reasons.push(format!(
                "#{j} t{} {:?}: sleeps in the model, and no order of the rest wakes it \
                 with {:?}",
                e.thread, e.call, e.ret
            ));
        }
        false
    }
}

/// Renders a history, one call a line in invocation order, and a
/// linearization or rejection, for failure messages.
pub fn render<C: fmt::Debug, R: fmt::Debug>(history: &[Entry<C, R>]) -> String {
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by_key(|&i| history[i].inv);
    let mut out = String::new();
    for i in order {
        let e = &history[i];
        out.push_str(&format!(
            "  #{i:<2} t{} [{:>3},{:>3}] {:?} = {:?}\n",
            e.thread, e.inv, e.res, e.call, e.ret
        ));
    }
    out
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "not linearizable ({} states explored); longest prefix:",
            self.states
        )?;
        for s in &self.best {
            write!(f, "  #{}", s.op)?;
            if s.advanced {
                write!(f, " (a later step)")?;
            }
            if s.slept {
                write!(f, " (sleeps)")?;
            }
            if !s.woke.is_empty() {
                write!(f, " wakes {:?}", s.woke)?;
            }
            writeln!(f)?;
        }
        writeln!(f, "then every candidate fails:")?;
        for r in &self.reasons {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSpec;
    use nscheck_model::{Detail, Errno, Outcome, Syscall};

    const Q: i64 = 0;

    fn e(
        thread: usize,
        call: Syscall,
        inv: u64,
        res: u64,
        ret: Outcome,
    ) -> Entry<Syscall, Outcome> {
        Entry::new(thread, call, inv, res, ret)
    }

    fn create() -> Syscall {
        Syscall::Msgget {
            key: 0,
            msgflg: 0o1600,
        }
    }

    fn snd(text: &[u8], flg: i64) -> Syscall {
        Syscall::Msgsnd {
            msqid: Q,
            mtype: 1,
            text: text.to_vec(),
            msgflg: flg,
        }
    }

    fn rcv(flg: i64) -> Syscall {
        Syscall::Msgrcv {
            msqid: Q,
            msgsz: 16,
            msgtyp: 0,
            msgflg: flg,
        }
    }

    fn rmid() -> Syscall {
        Syscall::Msgctl {
            msqid: Q,
            cmd: 0,
            set: None,
        }
    }

    fn got(text: &[u8]) -> Outcome {
        Outcome::with(
            text.len() as i64,
            Detail::Msg {
                mtype: 1,
                text: text.to_vec(),
            },
        )
    }

    const NOWAIT: i64 = 0o4000;

    #[test]
    fn overlapping_sends_may_be_received_in_either_order() {
        let spec = ModelSpec::new(3, &[]);
        let h = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(1, snd(b"a", 0), 2, 5, Outcome::val(0)),
            e(2, snd(b"b", 0), 3, 4, Outcome::val(0)),
            e(0, rcv(NOWAIT), 6, 7, got(b"b")),
            e(0, rcv(NOWAIT), 8, 9, got(b"a")),
        ];
        check(&spec, &h).expect("b may be linearized before a");
    }

    #[test]
    fn a_fifo_violation_is_rejected() {
        let spec = ModelSpec::new(2, &[]);
        // "a" was sent (and returned) before "b" was sent, yet "b" comes out
        // first.
        let h = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(1, snd(b"a", 0), 2, 3, Outcome::val(0)),
            e(1, snd(b"b", 0), 4, 5, Outcome::val(0)),
            e(0, rcv(NOWAIT), 6, 7, got(b"b")),
            e(0, rcv(NOWAIT), 8, 9, got(b"a")),
        ];
        let r = check(&spec, &h).expect_err("FIFO is violated");
        assert_eq!(r.best.iter().map(|s| s.op).collect::<Vec<_>>(), [0, 1, 2]);
        let text = r.to_string();
        assert!(text.contains("#3 t0"), "{text}");
    }

    #[test]
    fn a_blocked_receive_is_completed_by_the_send() {
        let spec = ModelSpec::new(2, &[]);
        // The receive was made before the send and returned after it: either
        // it slept and was handed the message, or it ran after the send.
        let h = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(1, rcv(0), 2, 6, got(b"x")),
            e(0, snd(b"x", 0), 3, 4, Outcome::val(0)),
            e(0, rcv(NOWAIT), 7, 8, Outcome::err(Errno::ENOMSG)),
        ];
        check(&spec, &h).expect("a hand-off");
    }

    #[test]
    fn eidrm_needs_the_receiver_asleep_before_the_removal() {
        let spec = ModelSpec::new(2, &[]);
        let h = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(1, rcv(0), 2, 6, Outcome::err(Errno::EIDRM)),
            e(0, rmid(), 3, 4, Outcome::val(0)),
        ];
        let steps = check(&spec, &h).expect("the receiver slept through the removal");
        assert_eq!(
            steps,
            [
                LinStep {
                    op: 0,
                    advanced: false,
                    slept: false,
                    woke: vec![]
                },
                LinStep {
                    op: 1,
                    advanced: false,
                    slept: true,
                    woke: vec![]
                },
                LinStep {
                    op: 2,
                    advanced: false,
                    slept: false,
                    woke: vec![1]
                },
            ]
        );
        // Invoked after the removal returned, it cannot have slept before it.
        let late = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(0, rmid(), 2, 3, Outcome::val(0)),
            e(1, rcv(0), 4, 6, Outcome::err(Errno::EIDRM)),
        ];
        check(&spec, &late).expect_err("EINVAL, not EIDRM, after the removal");
    }

    #[test]
    fn a_call_overtaken_by_the_removal_may_fail_with_eidrm() {
        let spec = ModelSpec::new(2, &[]);
        // A receive that does not wait, overlapping the removal: it found
        // the queue, then the removal came first.
        let h = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(1, rcv(NOWAIT), 2, 5, Outcome::err(Errno::EIDRM)),
            e(0, rmid(), 3, 4, Outcome::val(0)),
        ];
        check(&spec, &h).expect("overtaken");
        // Not after the removal returned, though.
        let late = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(0, rmid(), 2, 3, Outcome::val(0)),
            e(1, rcv(NOWAIT), 4, 5, Outcome::err(Errno::EIDRM)),
        ];
        check(&spec, &late).expect_err("EINVAL after the removal");
        // Nor without a removal at all.
        let never = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(1, rcv(NOWAIT), 2, 5, Outcome::err(Errno::EIDRM)),
        ];
        check(&spec, &never).expect_err("no removal");
    }

    #[test]
    fn a_receive_the_model_leaves_asleep_is_rejected() {
        let spec = ModelSpec::new(2, &[]);
        // The receive returned a message nobody sent.
        let h = vec![
            e(0, create(), 0, 1, Outcome::val(0)),
            e(1, rcv(0), 2, 3, got(b"ghost")),
        ];
        let r = check(&spec, &h).expect_err("no send");
        assert!(r.to_string().contains("sleeps in the model"), "{r}");
    }
}
