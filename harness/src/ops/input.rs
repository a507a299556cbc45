//! The input of the differential engine: a version byte and a sequence of
//! [`Op`]s, decoded from fuzzers' bytes ([`decode`]) or drawn from a seeded
//! stream ([`generate_ops`], [`check_input`]).
//!
//! Two layouts are decoded, told apart by the first byte:
//!
//! - [`VERSION`] (1): the msg inputs of `msg_diff` and `msg_kernel_diff`,
//!   a sequence of [`Op`]s without [`Op::Pid`];
//! - [`VERSION_MIXED`] (2): the mixed inputs of `pid_diff` and
//!   `nscheck check`, a sequence of [`Mixed`] ops, each a msg op or a pid
//!   op ([`PidOp`]).
//!
//! **Compatibility rule:** the committed corpora are byte strings decoded
//! through the derived `Arbitrary` layouts of [`Op`] and [`Mixed`]. The
//! derive picks a variant by scaling a `u32` by the number of variants, so
//! adding a variant changes what every existing input decodes to: a new
//! variant is skipped by `arbitrary` (as [`Op::Pid`] is) and reached
//! through a new layout with its own version byte. Fields are only ever
//! added at the end of a variant, and the interpretation tables (`tables`)
//! only ever grow at the end; any other change must bump the version and
//! regenerate the corpora. One change was made without a new version, on
//! purpose: the bytes from `tables::OUT_OF_RANGE` (252) on of a few fields
//! now pick values the kernel refuses, which changed the meaning of about
//! one such field value in 64; the corpora still reach every rule they did
//! (`corpus/coverage.txt`) and still replay.

/// The version byte of a msg input (a sequence of [`Op`]s).
pub const VERSION: u8 = 1;

/// The version byte of a mixed input (a sequence of [`Mixed`] ops).
pub const VERSION_MIXED: u8 = 2;

/// The most ops an input decodes to; [`decode`] ignores the rest. Longer
/// inputs would make every execution slower without reaching much more:
/// the shrunk divergences found so far need at most 8 statements.
pub const MAX_OPS: usize = 32;

/// One operation of a fuzzed input. Integer fields are indices into small
/// tables of interesting values (taken modulo the table's length), so that
/// every byte string decodes to a meaningful script.
///
/// **Only ever add variants and fields at the end** (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "bolero", derive(bolero_generator::TypeGenerator))]
pub enum Op {
    /// `msgget(key, flags|mode)`.
    Get {
        task: u8,
        key: u8,
        flags: u8,
        mode: u8,
    },
    /// `msgsnd(q, mtype, N, flags)`; a child without `nowait` may block.
    Snd {
        task: u8,
        queue: u8,
        mtype: u8,
        size: u8,
        nowait: bool,
    },
    /// `msgrcv(q, msgsz, msgtyp, flags)`; `flags` holds `IPC_NOWAIT` (1),
    /// `MSG_NOERROR` (2), `MSG_EXCEPT` (4) and `MSG_COPY` (8, with 16).
    Rcv {
        task: u8,
        queue: u8,
        size: u8,
        typ: u8,
        flags: u8,
    },
    /// `msgctl(q, CMD)`.
    Ctl { task: u8, queue: u8, cmd: CtlOp },
    /// `sysctl("kernel.NAME")`, or a write of a value from the name's table.
    Sysctl {
        task: u8,
        name: u8,
        value: Option<u8>,
    },
    /// `cN = fork()`, or `cN = clone(CLONE_NEWIPC)`.
    Fork { task: u8, new_ipc: bool },
    /// A call only children make (`t0` stays root, in the first IPC
    /// namespace, with the queues it made).
    Child { task: u8, op: ChildOp },
    /// A pid call. Only mixed inputs ([`VERSION_MIXED`]) have it: the msg
    /// layout skips it, so that the msg corpora keep their meaning.
    #[cfg_attr(feature = "arbitrary", arbitrary(skip))]
    Pid { task: u8, op: PidOp },
}

/// One op of a mixed input ([`VERSION_MIXED`]): a msg op or a pid op, as
/// likely as each other. **Only ever add fields at the end.**
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Mixed {
    /// An op of the msg layout.
    Msg(Op),
    /// [`Op::Pid`].
    Pid { task: u8, op: PidOp },
}

impl From<Mixed> for Op {
    fn from(m: Mixed) -> Op {
        match m {
            Mixed::Msg(op) => op,
            Mixed::Pid { task, op } => Op::Pid { task, op },
        }
    }
}

/// The calls of [`Op::Pid`]. A `u8` operand that names a pid picks, modulo
/// the choices, 0, the caller, `t0`, a child made so far, or a made-up
/// number (`tables::RAW_PIDS`); a script prints a task's pid as its name.
/// **Only ever add fields at the end of a variant** (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "bolero", derive(bolero_generator::TypeGenerator))]
pub enum PidOp {
    /// `getpid()`.
    Getpid,
    /// `getppid()`.
    Getppid,
    /// `getsid(pid)`.
    Getsid(u8),
    /// `getpgid(pid)`.
    Getpgid(u8),
    /// `setsid()`.
    Setsid,
    /// `setpgid(pid, pgid)`.
    Setpgid(u8, u8),
    /// `waitpid(cN)` of a child made so far; it may sleep.
    Waitpid(u8),
    /// `cN = clone(flags, set_tid=[...])`: `flags` bit 0 is
    /// `CLONE_NEWPID`, bit 1 `CLONE_NEWIPC` (a child's only); `set_tid` an
    /// entry of `tables::SET_TIDS`.
    Clone { flags: u8, set_tid: Option<u8> },
    /// `unshare(CLONE_NEWPID)`, with `CLONE_NEWIPC` too for a child when
    /// the flag is set.
    Unshare(bool),
    /// `sysctl("kernel.ns_last_pid")` (or `kernel.pid_max` when the flag
    /// is set), or a write of a value from its table (or, for the bytes
    /// from `tables::OUT_OF_RANGE` on, of `tables::VPID_VALUES`).
    Sysctl { pid_max: bool, value: Option<u8> },
    /// `exit(0)`; `t0`'s exit kills every task.
    Exit,
    /// `cN = clone(CLONE_NEWPID)` by the task made last that may call: one
    /// level deeper. It may go past the task limits of the other forks, so
    /// that a chain of them reaches `MAX_PID_NS_LEVEL` (pid R29). Only the
    /// steering's recipes (`recipes`) make it: `arbitrary` skips it, so the
    /// committed corpora keep their meaning.
    #[cfg_attr(feature = "arbitrary", arbitrary(skip))]
    Nest,
    /// `cN = fork()` by the first task that may call, past the task limits
    /// of the other forks, so that enough of them fill a pid space (the
    /// flat2007 dialect's global numbers). Only the steering's recipes make
    /// it, as [`PidOp::Nest`].
    #[cfg_attr(feature = "arbitrary", arbitrary(skip))]
    Spawn,
}

/// The commands of [`Op::Ctl`]. **Only ever add variants at the end.**
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "bolero", derive(bolero_generator::TypeGenerator))]
pub enum CtlOp {
    /// `IPC_STAT`, or `MSG_STAT`/`MSG_STAT_ANY` of the queue's index.
    Stat(u8),
    /// `msgctl(0, IPC_INFO)`, or `MSG_INFO` if true.
    Info(bool),
    /// `IPC_SET` with the fields given.
    Set {
        qbytes: Option<u8>,
        uid: Option<u8>,
        gid: Option<u8>,
        mode: Option<u8>,
    },
    /// `IPC_RMID`.
    Rmid,
}

/// The calls of [`Op::Child`]. **Only ever add variants at the end.**
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "bolero", derive(bolero_generator::TypeGenerator))]
pub enum ChildOp {
    /// `unshare(CLONE_NEWIPC)`.
    Unshare,
    /// `setuid(uid)`.
    Setuid(u8),
    /// `setgid(gid)`.
    Setgid(u8),
    /// `capdrop(CAP)`.
    Capdrop(u8),
    /// `exit(0)`.
    Exit,
}

/// Decodes an input: a version byte ([`VERSION`] or [`VERSION_MIXED`]),
/// then ops of its layout as `arbitrary` reads them with
/// `arbitrary_take_rest` (as `libfuzzer-sys` does), at most [`MAX_OPS`] of
/// them. `None` for another version or an empty input.
#[cfg(feature = "arbitrary")]
pub fn decode(bytes: &[u8]) -> Option<Vec<Op>> {
    match bytes.split_first() {
        Some((&VERSION, rest)) => take_ops::<Op>(rest),
        Some((&VERSION_MIXED, rest)) => take_ops::<Mixed>(rest),
        _ => None,
    }
}

/// `Vec::<T>::arbitrary_take_rest`, truncated to [`MAX_OPS`]: the same ops,
/// without reading the ones past the cap (an op never fails to decode, so
/// the rest cannot make the whole input fail either).
#[cfg(feature = "arbitrary")]
fn take_ops<'a, T: arbitrary::Arbitrary<'a> + Into<Op>>(rest: &'a [u8]) -> Option<Vec<Op>> {
    let mut ops = Vec::with_capacity(MAX_OPS);
    for op in arbitrary::Unstructured::new(rest)
        .arbitrary_take_rest_iter::<T>()
        .ok()?
        .take(MAX_OPS)
    {
        ops.push(op.ok()?.into());
    }
    Some(ops)
}

/// Case `case` of seed `seed`: `len` msg ops drawn from a seeded stream
/// ([`crate::generate::case_rng`]) through the same `Arbitrary` layout as
/// [`decode`] of a [`VERSION`] input, for front ends without a fuzzing
/// engine (the mutant tests).
#[cfg(feature = "arbitrary")]
pub fn generate_ops(seed: u64, case: u64, len: usize) -> Vec<Op> {
    generate::<Op>(seed, case, len)
}

/// As [`generate_ops`], through the mixed layout ([`VERSION_MIXED`]): msg
/// and pid ops.
#[cfg(feature = "arbitrary")]
pub fn generate_mixed(seed: u64, case: u64, len: usize) -> Vec<Op> {
    generate::<Mixed>(seed, case, len)
}

#[cfg(feature = "arbitrary")]
fn generate<T: for<'a> arbitrary::Arbitrary<'a> + Into<Op>>(
    seed: u64,
    case: u64,
    len: usize,
) -> Vec<Op> {
    use arbitrary::Unstructured;
    use rand_core::Rng as _;
    let mut rng = crate::generate::case_rng(seed ^ 0x6f70_735f_6469_6666, case);
    // An op takes at most a dozen bytes.
    let mut bytes = vec![0u8; 16 * len];
    rng.fill_bytes(&mut bytes);
    let mut u = Unstructured::new(&bytes);
    (0..len)
        .map_while(|_| T::arbitrary(&mut u).ok().map(Into::into))
        .collect()
}

/// The input stream of `nscheck check` (and of the zoo's fuzzing column):
/// input `case` of `seed` is [`generate_mixed`]`(seed, case, 1 + case % 64)`,
/// msg and pid ops.
pub fn check_input(seed: u64, case: u64) -> Vec<Op> {
    generate_mixed(seed, case, 1 + (case % 64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::random_inputs;

    /// `decode` reads only the first [`MAX_OPS`] ops, which must be what
    /// the whole input decodes to, truncated.
    #[test]
    fn decode_is_the_truncated_take_rest() {
        use arbitrary::{Arbitrary, Unstructured};
        for bytes in random_inputs(300).iter().chain(&[vec![VERSION; 4000]]) {
            let rest = Unstructured::new(&bytes[1..]);
            let mut all: Vec<Op> = match bytes[0] {
                VERSION => Vec::<Op>::arbitrary_take_rest(rest),
                _ => Vec::<Mixed>::arbitrary_take_rest(rest)
                    .map(|ops| ops.into_iter().map(Op::from).collect()),
            }
            .expect("an op never fails to decode");
            all.truncate(MAX_OPS);
            assert_eq!(decode(bytes), Some(all));
        }
    }

    #[test]
    fn decode_needs_the_version() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[VERSION_MIXED + 1, 1, 2, 3]), None);
        assert_eq!(decode(&[VERSION_MIXED]), Some(Vec::new()));
        assert_eq!(decode(&[VERSION]), Some(Vec::new()));
    }
}
