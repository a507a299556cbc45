//! The implementation under real threads: many senders and receivers on
//! several queues lose nothing and leave consistent counters; sleepers are
//! woken in FIFO order, by `IPC_RMID` and by a kill.

#![cfg(not(any(nscheck_loom, nscheck_shuttle)))]

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use nscheck_concurrent::ipc::{
    self, Ctl, IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, MSG_COPY, MSG_INFO,
    MSG_NOERROR, MsgSet,
};
use nscheck_concurrent::{Cred, Errno, IpcNamespace, Pid, SleepObserver, Sleeper, Task};

/// Counts the tasks asleep right now.
#[derive(Default)]
pub(crate) struct Parked {
    count: Mutex<i64>,
    changed: Condvar,
}

impl Parked {
    pub(crate) fn wait_for(&self, n: i64) {
        let mut c = self.count.lock().unwrap();
        while *c != n {
            c = self.changed.wait(c).unwrap();
        }
    }
}

struct Watch(Arc<Parked>);

impl SleepObserver for Watch {
    fn parked(&self, _token: u64) {
        *self.0.count.lock().unwrap() += 1;
        self.0.changed.notify_all();
    }

    fn woken(&self, _token: u64) {
        *self.0.count.lock().unwrap() -= 1;
        self.0.changed.notify_all();
    }
}

const ROOT: Cred = Cred {
    euid: 0,
    egid: 0,
    caps: u64::MAX,
};

pub(crate) fn task(ns: &Arc<IpcNamespace>, pid: i64, watch: Option<&Arc<Parked>>) -> Task {
    let observer = watch.map(|w| Box::new(Watch(w.clone())) as Box<dyn SleepObserver>);
    Task {
        pid: Arc::new(Pid::single(pid)),
        cred: ROOT,
        ipc_ns: ns.clone(),
        sleeper: Arc::new(Sleeper::new(pid as u64, observer)),
    }
}

fn new_queue(t: &Task, qbytes: i64) -> i32 {
    let q = ipc::msgget(t, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    let set = MsgSet {
        msg_qbytes: Some(qbytes),
        ..MsgSet::default()
    };
    ipc::msgctl(t, q, IPC_SET, Some(&set)).unwrap();
    q
}

pub(crate) fn stat(t: &Task, q: i32) -> (i64, i64) {
    match ipc::msgctl(t, q, IPC_STAT, None).unwrap() {
        Ctl::Stat(_, s) => (s.qnum, s.cbytes),
        c => panic!("{c:?}"),
    }
}

fn info(t: &Task) -> (i64, i64, i64) {
    match ipc::msgctl(t, 0, MSG_INFO, None).unwrap() {
        Ctl::Info(_, i) => (i.msgpool, i.msgmap, i.msgtql),
        c => panic!("{c:?}"),
    }
}

/// A message text: its sequence number (four bytes, so that a receive
/// truncated to four bytes still names it), its sender, and a length that
/// varies with the sequence number. The type names the sender too.
fn text(sender: usize, seq: usize) -> Vec<u8> {
    let mut t = (seq as u32).to_le_bytes().to_vec();
    t.push(sender as u8);
    t.resize(5 + seq % 7, b'x');
    t
}

/// The sender (from the type) and the sequence number of a message,
/// checking what of its text arrived.
fn parse(mtype: i64, got: &[u8]) -> (usize, usize) {
    let s = (mtype - 1) as usize;
    let seq = u32::from_le_bytes(got[..4].try_into().unwrap()) as usize;
    let whole = text(s, seq);
    assert_eq!(got, &whole[..got.len()], "message {s}:{seq}");
    (s, seq)
}

/// How many messages the stress test sends in all: `NSCHECK_STRESS_MESSAGES`
/// (`ci/stress.sh` sends a million), or a number that `cargo test` gets
/// through in a few seconds.
fn stress_messages() -> usize {
    match std::env::var("NSCHECK_STRESS_MESSAGES") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("NSCHECK_STRESS_MESSAGES={v:?} is not a number")),
        Err(_) => 36_000,
    }
}

/// The stress test's shape: `QUEUES` queues, each with `SENDERS` senders
/// and `RECEIVERS` receivers, and `LEFT` messages of each queue that no
/// receiver takes, so that the counters are checked on non-empty queues.
const QUEUES: usize = 3;
const SENDERS: usize = 2;
const RECEIVERS: usize = 2;
const LEFT: usize = 5;

/// What one receiver must take from a queue: the queue's messages but
/// `LEFT`, shared out among its receivers.
fn share(per_sender: usize, r: usize) -> usize {
    let total = SENDERS * per_sender - LEFT;
    total / RECEIVERS + usize::from(r < total % RECEIVERS)
}

/// How receiver `r` of queue `qi` receives: `(msgtyp, msgsz, msgflg)`.
/// Queue 0's first receiver takes the lowest type first; queue 1's second
/// one truncates every message to its first four bytes (`MSG_NOERROR`);
/// every other one takes whatever comes first, whole.
fn receive_mode(qi: usize, r: usize) -> (i64, usize, i32) {
    match (qi, r) {
        (0, 0) => (-(SENDERS as i64), 64, 0),
        (1, 1) => (0, 4, MSG_NOERROR),
        _ => (0, 64, 0),
    }
}

/// Many senders and receivers on several small queues, with a reader that
/// only looks (MSG_COPY, IPC_STAT, MSG_INFO), in namespace `ns`. Panics on
/// a lost, duplicated, corrupted or reordered message (each receiver sees
/// each sender's messages in the order sent). Returns an error unless the
/// counters are exact at quiescence: `msg_qnum` and `msg_cbytes` of every
/// queue, and MSG_INFO's queue, message and byte counts, must be what was
/// sent less what was received. The queues hold `qbytes` bytes each.
fn stress(ns: IpcNamespace, messages: usize, qbytes: i64) -> Result<String, String> {
    let per_sender = messages.div_ceil(QUEUES * SENDERS);
    assert!(SENDERS * per_sender > LEFT, "too few messages to stress");
    let started = std::time::Instant::now();
    let ns = Arc::new(ns);
    let admin = task(&ns, 1, None);
    let queues: Vec<i32> = (0..QUEUES).map(|_| new_queue(&admin, qbytes)).collect();
    let mut threads = Vec::new();
    let mut pid = 100;
    for (qi, &q) in queues.iter().enumerate() {
        for s in 0..SENDERS {
            pid += 1;
            let t = task(&ns, pid, None);
            threads.push(thread::spawn(move || {
                for seq in 0..per_sender {
                    ipc::msgsnd(&t, q, s as i64 + 1, &text(s, seq), 0).unwrap();
                }
                Vec::new()
            }));
        }
        for r in 0..RECEIVERS {
            pid += 1;
            let t = task(&ns, pid, None);
            threads.push(thread::spawn(move || {
                let (msgtyp, msgsz, msgflg) = receive_mode(qi, r);
                (0..share(per_sender, r))
                    .map(|_| {
                        let m = ipc::msgrcv(&t, q, msgsz as i64, msgtyp, msgflg).unwrap();
                        let (s, seq) = parse(m.mtype, &m.text);
                        (qi, s, seq)
                    })
                    .collect()
            }));
        }
    }
    // A reader that only looks: copies by index, stats and MSG_INFO.
    let t = task(&ns, 99, None);
    let qs = queues.clone();
    let looks = per_sender.min(20_000);
    threads.push(thread::spawn(move || {
        for i in 0..looks {
            let q = qs[i % QUEUES];
            match ipc::msgrcv(&t, q, 64, (i % 5) as i64, MSG_COPY | IPC_NOWAIT) {
                Ok(m) => {
                    parse(m.mtype, &m.text);
                }
                Err(e) => assert_eq!(e, Errno::ENOMSG),
            }
            let (qnum, cbytes) = stat(&t, q);
            assert!((0..=qbytes).contains(&qnum) && (0..=qbytes).contains(&cbytes));
            let (pool, _, _) = info(&t);
            assert_eq!(pool, QUEUES as i64);
        }
        Vec::new()
    }));
    let mut seen: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    let mut received = 0;
    for th in threads {
        let mut last: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for (qi, s, seq) in th.join().unwrap() {
            if let Some(&prev) = last.get(&(qi, s)) {
                assert!(prev < seq, "queue {qi} sender {s}: {seq} after {prev}");
            }
            last.insert((qi, s), seq);
            seen.entry((qi, s)).or_default().push(seq);
            received += 1;
        }
    }
    // At quiescence each queue holds exactly what was sent to it and not
    // received (whole sizes count, truncated or not), and MSG_INFO adds
    // those up.
    let left_bytes = |qi: usize| -> i64 {
        let size = |s: usize, seq: usize| text(s, seq).len() as i64;
        let sent: i64 = (0..SENDERS)
            .flat_map(|s| (0..per_sender).map(move |seq| size(s, seq)))
            .sum();
        let got: i64 = (0..SENDERS)
            .flat_map(|s| {
                seen.get(&(qi, s))
                    .into_iter()
                    .flatten()
                    .map(move |&seq| size(s, seq))
            })
            .sum();
        sent - got
    };
    let mut expected_info = (QUEUES as i64, (QUEUES * LEFT) as i64, 0);
    for (qi, &q) in queues.iter().enumerate() {
        let expected = (LEFT as i64, left_bytes(qi));
        let got = stat(&admin, q);
        if got != expected {
            return Err(format!(
                "queue {qi} at quiescence: (msg_qnum, msg_cbytes) = {got:?}, expected {expected:?}"
            ));
        }
        expected_info.2 += expected.1;
    }
    let got = info(&admin);
    if got != expected_info {
        return Err(format!(
            "MSG_INFO at quiescence: (queues, messages, bytes) = {got:?}, expected {expected_info:?}"
        ));
    }
    // What is left, drained without waiting, completes every sender's
    // sequence exactly once.
    for (qi, &q) in queues.iter().enumerate() {
        for _ in 0..LEFT {
            let m = ipc::msgrcv(&admin, q, 64, 0, IPC_NOWAIT).unwrap();
            let (s, seq) = parse(m.mtype, &m.text);
            seen.entry((qi, s)).or_default().push(seq);
        }
        assert_eq!(
            ipc::msgrcv(&admin, q, 64, 0, IPC_NOWAIT).map(|_| ()),
            Err(Errno::ENOMSG)
        );
        for s in 0..SENDERS {
            let mut seqs = seen.remove(&(qi, s)).unwrap_or_default();
            seqs.sort_unstable();
            assert_eq!(seqs, (0..per_sender).collect::<Vec<_>>(), "q{qi} s{s}");
        }
    }
    assert_eq!(info(&admin), (QUEUES as i64, 0, 0));
    ipc::msgsnd(&admin, queues[1], 1, b"abc", IPC_NOWAIT).unwrap();
    ipc::msgsnd(&admin, queues[2], 1, b"de", IPC_NOWAIT).unwrap();
    assert_eq!(info(&admin), (QUEUES as i64, 2, 5));
    ipc::msgctl(&admin, queues[1], IPC_RMID, None).unwrap();
    assert_eq!(info(&admin), (QUEUES as i64 - 1, 1, 2));
    Ok(format!(
        "stress: {} messages sent over {QUEUES} queues by {} threads ({received} received by \
         receivers, {} left and drained), nothing lost or duplicated, counters exact, in {:.2?}",
        QUEUES * SENDERS * per_sender,
        QUEUES * (SENDERS + RECEIVERS) + 1,
        QUEUES * LEFT,
        started.elapsed()
    ))
}

#[test]
fn stress_many_senders_and_receivers_lose_nothing() {
    // Small queues, so that senders really sleep.
    match stress(IpcNamespace::new(), stress_messages(), 64) {
        Ok(report) => println!("{report}"),
        Err(e) => panic!("{e}"),
    }
}

/// The stress test's counter check catches B19c (a truncating receive that
/// subtracts the truncated size from `msg_cbytes`). The queues are large, so
/// that the drift, which makes a queue look fuller than it is, never makes
/// its senders sleep for good.
#[cfg(feature = "mutants")]
#[test]
fn stress_catches_a_counter_drift() {
    use nscheck_concurrent::mutants::Mutant;
    let verdict = stress(IpcNamespace::with_mutant(Mutant::CbytesDrift), 600, 16384);
    let e = verdict.expect_err("the drift went unseen");
    assert!(e.contains("msg_cbytes"), "{e}");
}

#[test]
fn sleeping_receivers_are_served_in_fifo_order() {
    let ns = Arc::new(IpcNamespace::new());
    let watch = Arc::new(Parked::default());
    let admin = task(&ns, 1, None);
    let q = new_queue(&admin, 100);
    let mut threads = Vec::new();
    for i in 0..4 {
        let t = task(&ns, 10 + i, Some(&watch));
        threads.push(thread::spawn(move || ipc::msgrcv(&t, q, 10, 0, 0)));
        // Each receiver is asleep before the next one starts.
        watch.wait_for(i + 1);
    }
    for i in 0..4u8 {
        ipc::msgsnd(&admin, q, 1, &[b'a' + i], 0).unwrap();
    }
    for (i, th) in threads.into_iter().enumerate() {
        let m = th.join().unwrap().unwrap();
        assert_eq!(m.text, vec![b'a' + i as u8]);
    }
    // Hand-offs never touched the queue.
    assert_eq!(stat(&admin, q), (0, 0));
}

#[test]
fn rmid_wakes_every_sleeper_with_eidrm() {
    let ns = Arc::new(IpcNamespace::new());
    let watch = Arc::new(Parked::default());
    let admin = task(&ns, 1, None);
    let q = new_queue(&admin, 1);
    ipc::msgsnd(&admin, q, 5, b"x", IPC_NOWAIT).unwrap();
    let mut threads = Vec::new();
    for i in 0..6 {
        let t = task(&ns, 10 + i, Some(&watch));
        threads.push(thread::spawn(move || {
            if i % 2 == 0 {
                // Type 7 never comes.
                ipc::msgrcv(&t, q, 10, 7, 0).map(|_| ())
            } else {
                ipc::msgsnd(&t, q, 1, b"y", 0)
            }
        }));
    }
    watch.wait_for(6);
    ipc::msgctl(&admin, q, IPC_RMID, None).unwrap();
    for th in threads {
        assert_eq!(th.join().unwrap(), Err(Errno::EIDRM));
    }
    assert_eq!(info(&admin), (0, 0, 0));
}

#[test]
fn a_killed_sleeper_leaves_its_queue() {
    let ns = Arc::new(IpcNamespace::new());
    let watch = Arc::new(Parked::default());
    let admin = task(&ns, 1, None);
    let q = new_queue(&admin, 100);
    let t = task(&ns, 10, Some(&watch));
    let sleeper = t.sleeper.clone();
    let th = thread::spawn(move || ipc::msgrcv(&t, q, 10, 0, 0));
    watch.wait_for(1);
    sleeper.kill();
    assert_eq!(th.join().unwrap(), Err(Errno::EINTR));
    // Nobody is waiting any more: the message is queued.
    ipc::msgsnd(&admin, q, 1, b"late", 0).unwrap();
    assert_eq!(stat(&admin, q), (1, 4));
}
