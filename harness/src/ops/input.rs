//! The input of the differential engine: a version byte and a sequence of
//! [`Op`]s, decoded from fuzzers' bytes ([`decode`]) or drawn from a seeded
//! stream ([`generate_ops`], [`check_input`]).
//!
//! **Compatibility rule:** the committed corpora are byte strings decoded
//! through the derived `Arbitrary` layout of [`Op`] and its fields. Variants
//! and fields are therefore only ever added at the end of [`Op`], and the
//! interpretation tables (`tables`) only ever grow at the end too;
//! any other change must bump [`VERSION`] and regenerate the corpora.

/// The version byte every encoded input starts with.
pub const VERSION: u8 = 1;

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

/// Decodes an input: [`VERSION`], then ops as `arbitrary` reads them with
/// `arbitrary_take_rest` (as `libfuzzer-sys` does), at most [`MAX_OPS`] of
/// them. `None` for another version or an empty input.
#[cfg(feature = "arbitrary")]
pub fn decode(bytes: &[u8]) -> Option<Vec<Op>> {
    use arbitrary::Unstructured;
    match bytes.split_first() {
        // `Vec::<Op>::arbitrary_take_rest`, truncated: the same ops, without
        // reading the ones past the cap (an `Op` never fails to decode, so
        // the rest cannot make the whole input fail either).
        Some((&VERSION, rest)) => {
            let mut ops = Vec::with_capacity(MAX_OPS);
            for op in Unstructured::new(rest)
                .arbitrary_take_rest_iter::<Op>()
                .ok()?
                .take(MAX_OPS)
            {
                ops.push(op.ok()?);
            }
            Some(ops)
        }
        _ => None,
    }
}

/// Case `case` of seed `seed`: `len` ops drawn from a seeded stream
/// ([`crate::generate::case_rng`]) through the same `Arbitrary` layout as
/// [`decode`], for front ends without a fuzzing engine (`nscheck check`,
/// the mutant tests).
#[cfg(feature = "arbitrary")]
pub fn generate_ops(seed: u64, case: u64, len: usize) -> Vec<Op> {
    use arbitrary::{Arbitrary, Unstructured};
    use rand_core::Rng as _;
    let mut rng = crate::generate::case_rng(seed ^ 0x6f70_735f_6469_6666, case);
    // An op takes at most a dozen bytes.
    let mut bytes = vec![0u8; 16 * len];
    rng.fill_bytes(&mut bytes);
    let mut u = Unstructured::new(&bytes);
    (0..len).map_while(|_| Op::arbitrary(&mut u).ok()).collect()
}

/// The input stream of `nscheck check` (and of the zoo's fuzzing column):
/// input `case` of `seed` is [`generate_ops`]`(seed, case, 1 + case % 64)`.
pub fn check_input(seed: u64, case: u64) -> Vec<Op> {
    generate_ops(seed, case, 1 + (case % 64) as usize)
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
            let mut all = Vec::<Op>::arbitrary_take_rest(Unstructured::new(&bytes[1..]))
                .expect("an op never fails to decode");
            all.truncate(MAX_OPS);
            assert_eq!(decode(bytes), Some(all));
        }
    }

    #[test]
    fn decode_needs_the_version() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[VERSION + 1, 1, 2, 3]), None);
        assert_eq!(decode(&[VERSION]), Some(Vec::new()));
    }
}
