//! The interpretation tables: the interesting values that the integer
//! fields of an [`Op`](super::Op) index (modulo the table's length).
//! **Only ever append** (see `input`): the committed corpora
//! decode through them.

use nscheck_model::abi::{CAP_CHECKPOINT_RESTORE, CAP_IPC_OWNER, CAP_SYS_ADMIN, CAP_SYS_RESOURCE};

pub(super) const KEYS: &[i64] = &[0, 0, 0x10, 0x20, 0x30, 0x10];
pub(super) const MODES: &[i64] = &[
    0o600, 0o666, 0o644, 0o400, 0o200, 0, 0o777, 0o622, 0o660, 0o444,
];
pub(super) const MTYPES: &[i64] = &[1, 2, 3, 1, 2, 1, 3, 2, 0, -1, 4, i64::MAX];
/// Sizes past the small ones (`0..=16`).
pub(super) const SIZES: &[i64] = &[0, 100, 8192, 8193, 16384, 4096, 32, 64];
pub(super) const RCV_SIZES: &[i64] = &[-1, 0, 8192, 8193, 100_000, i64::MAX, 1, 3];
pub(super) const RCV_TYPES: &[i64] = &[0, 0, 1, 2, 3, -1, -2, -3, 4, i64::MIN, i64::MAX, -i64::MAX];
pub(super) const QBYTES: &[i64] = &[0, 1, 8, 16, 32, 100, 16384, 16385, 0x1_0000_0005, -1, 4, 24];
pub(super) const IDS: &[i64] = &[0, 1000, 65534, -1, 0, 1000];
/// Made-up queue operands.
pub(super) const RAW_IDS: &[i64] = &[0, -1, 1, 32768, 65537, 63, 64, i32::MAX as i64];
pub(super) const SYSCTLS: &[(&str, &[i64])] = &[
    (
        "kernel.msgmax",
        &[0, 1, 4, 16, 8192, 8193, -1, 2_147_483_647],
    ),
    (
        "kernel.msgmnb",
        &[0, 1, 8, 16, 64, 16384, -1, 2_147_483_648],
    ),
    ("kernel.msgmni", &[0, 1, 2, 32000, 32768, 32769, -1]),
    (
        "kernel.msg_next_id",
        &[0, 1, 5, 32769, 7 * 32768 + 3, 65534 * 32768, -1, 40],
    ),
];
pub(super) const UIDS: &[i64] = &[1000, 65534, 0, 1];
pub(super) const CAPS: &[(&str, u32)] = &[
    ("CAP_IPC_OWNER", CAP_IPC_OWNER),
    ("CAP_SYS_ADMIN", CAP_SYS_ADMIN),
    ("CAP_SYS_RESOURCE", CAP_SYS_RESOURCE),
    ("CAP_CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE),
];

/// The value of index `i` (modulo the table's length).
pub(super) fn pick<T: Copy>(table: &[T], i: u8) -> T {
    table[usize::from(i) % table.len()]
}

/// A byte count: mostly small (`0..=16`, for bytes below 200), else from
/// `table`.
pub(super) fn small_or(table: &[i64], i: u8) -> i64 {
    if i < 200 {
        i64::from(i % 17)
    } else {
        pick(table, i - 200)
    }
}

/// Made-up pid operands of [`PidOp`](super::PidOp) calls.
pub(super) const RAW_PIDS: &[i64] = &[1, 2, 300, -1, 4_194_304, 32768, 5];
/// The `set_tid` arrays of `clone`, innermost namespace first.
pub(super) const SET_TIDS: &[&[i64]] = &[
    &[1],
    &[2],
    &[300],
    &[5],
    &[0],
    &[-1],
    &[4_194_304],
    &[1, 7],
    &[4, 3],
    &[2, 1],
];
/// Values written to `kernel.ns_last_pid`.
pub(super) const LAST_PIDS: &[i64] = &[0, 1, 4, 299, 300, 4_194_303, -1, 4_194_304];
/// Values written to `kernel.pid_max`.
pub(super) const PID_MAXES: &[i64] = &[301, 300, 1000, 4_194_304, 4_194_305, 512, 0, -1];

/// The byte values from which a field that picks from a table picks an
/// invalid value instead (`OUT_OF_RANGE..=255`, a few in 256 draws): the
/// tables above hold valid values, and appending to them would change what
/// most committed inputs decode to, while this changes only the inputs with
/// these bytes.
pub(super) const OUT_OF_RANGE: u8 = 252;

/// Commands that `msgctl` does not know (EINVAL, msg R28).
pub(super) const BAD_CMDS: &[i64] = &[-1, 4, 14, 100];
/// Capabilities past `CAP_LAST_CAP` (EINVAL).
pub(super) const BAD_CAPS: &[i64] = &[41, -1, 63, 1000];
/// The uid or gid that `setuid` and `setgid` refuse (EINVAL).
pub(super) const BAD_UID: i64 = -1;

/// Numbers around the openvz2006 dialect's vpid range (global pid + 1024):
/// written to `kernel.pid_max` or `kernel.ns_last_pid`, or asked for as a
/// `set_tid` entry, by the bytes from [`OUT_OF_RANGE`] on. With `pid_max`
/// 1029, a task asking for vpid 1028 makes the VPS sparse and leaves the
/// next fork no vpid (B18).
pub(super) const VPID_VALUES: &[i64] = &[1029, 1100, 1028, 1030];

/// The most `set_tid` entries `clone3` takes (`MAX_PID_NS_LEVEL`).
const MAX_SET_TID: usize = 32;

/// The `set_tid` array of a byte `i` from [`OUT_OF_RANGE`] on: for 254
/// and 255, a vpid of [`VPID_VALUES`]; else an array longer than a child
/// at `level` (the script's first namespace is level 1) can take (pid
/// R17): for 252, one entry more than the namespaces it would have a
/// number in, the host's included; for 253, one more than `clone3` takes.
pub(super) fn odd_set_tid(i: u8, level: usize) -> Vec<i64> {
    if i % 4 >= 2 {
        return vec![pick(VPID_VALUES, i)];
    }
    let len = if i.is_multiple_of(2) {
        level + 2
    } else {
        MAX_SET_TID + 1
    };
    vec![1; len]
}
