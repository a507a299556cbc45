//! The implementation under real threads: many senders and receivers on
//! several queues lose nothing and leave consistent counters; sleepers are
//! woken in FIFO order, by `IPC_RMID` and by a kill.

#![cfg(not(any(nscheck_loom, nscheck_shuttle)))]

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use nscheck_concurrent::ipc::{
    self, Ctl, IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, MSG_COPY, MSG_INFO,
    MsgSet,
};
use nscheck_concurrent::{Cred, Errno, IpcNamespace, Pid, SleepObserver, Sleeper, Task};

/// Counts the tasks asleep right now.
#[derive(Default)]
struct Parked {
    count: Mutex<i64>,
    changed: Condvar,
}

impl Parked {
    fn wait_for(&self, n: i64) {
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

fn task(ns: &Arc<IpcNamespace>, pid: i64, watch: Option<&Arc<Parked>>) -> Task {
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

fn stat(t: &Task, q: i32) -> (i64, i64) {
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

/// A message text naming its sender and its sequence number.
fn text(sender: usize, seq: usize) -> Vec<u8> {
    format!("{sender}:{seq}:{}", "x".repeat(seq % 7)).into_bytes()
}

fn parse(text: &[u8]) -> (usize, usize) {
    let s = std::str::from_utf8(text).unwrap();
    let mut it = s.split(':');
    let a = it.next().unwrap().parse().unwrap();
    let b = it.next().unwrap().parse().unwrap();
    (a, b)
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

/// What one receiver must take from queue `qi`: the queue's messages but
/// `LEFT`, shared out among its receivers.
fn share(per_sender: usize, r: usize) -> usize {
    let total = SENDERS * per_sender - LEFT;
    total / RECEIVERS + usize::from(r < total % RECEIVERS)
}

/// Many senders and receivers on several small queues, with readers that
/// only look (MSG_COPY, IPC_STAT, MSG_INFO), lose and duplicate nothing,
/// keep each sender's order for every receiver, and leave counters that are
/// exact at quiescence: `msg_qnum` and `msg_cbytes` of every queue, and
/// MSG_INFO's queue, message and byte counts, are what was sent less what
/// was received.
#[test]
fn stress_many_senders_and_receivers_lose_nothing() {
    let per_sender = stress_messages() / (QUEUES * SENDERS);
    assert!(SENDERS * per_sender > LEFT, "too few messages to stress");
    let started = std::time::Instant::now();
    let ns = Arc::new(IpcNamespace::new());
    let admin = task(&ns, 1, None);
    // Small queues, so that senders really sleep.
    let queues: Vec<i32> = (0..QUEUES).map(|_| new_queue(&admin, 64)).collect();
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
                let mut got = Vec::new();
                for _ in 0..share(per_sender, r) {
                    // Queue 0's first receiver takes the lowest type first;
                    // every other one takes whatever comes first.
                    let msgtyp = if qi == 0 && r == 0 {
                        -(SENDERS as i64)
                    } else {
                        0
                    };
                    let m = ipc::msgrcv(&t, q, 64, msgtyp, 0).unwrap();
                    let (s, seq) = parse(&m.text);
                    assert_eq!(m.mtype, s as i64 + 1);
                    assert_eq!(m.text, text(s, seq));
                    got.push((qi, s, seq));
                }
                got
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
                Ok(m) => assert_eq!(m.text, text(parse(&m.text).0, parse(&m.text).1)),
                Err(e) => assert_eq!(e, Errno::ENOMSG),
            }
            let (qnum, cbytes) = stat(&t, q);
            assert!((0..=64).contains(&qnum) && (0..=64).contains(&cbytes));
            let (pool, _, _) = info(&t);
            assert_eq!(pool, QUEUES as i64);
        }
        Vec::new()
    }));
    let mut seen: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    let mut received = 0;
    for th in threads {
        // One receiver sees each sender's messages in the order sent.
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
    // received, and MSG_INFO adds those up.
    let sent_bytes = |qi: usize| -> i64 {
        let all = (0..SENDERS).flat_map(|s| (0..per_sender).map(move |seq| text(s, seq).len()));
        let got = (0..SENDERS).flat_map(|s| {
            seen.get(&(qi, s))
                .into_iter()
                .flatten()
                .map(move |&seq| text(s, seq).len())
        });
        all.sum::<usize>() as i64 - got.sum::<usize>() as i64
    };
    let mut bytes_left = 0;
    for (qi, &q) in queues.iter().enumerate() {
        assert_eq!(stat(&admin, q), (LEFT as i64, sent_bytes(qi)), "queue {qi}");
        bytes_left += sent_bytes(qi);
    }
    assert_eq!(
        info(&admin),
        (QUEUES as i64, (QUEUES * LEFT) as i64, bytes_left)
    );
    // What is left, drained without waiting, completes every sender's
    // sequence exactly once.
    for (qi, &q) in queues.iter().enumerate() {
        for _ in 0..LEFT {
            let m = ipc::msgrcv(&admin, q, 64, 0, IPC_NOWAIT).unwrap();
            let (s, seq) = parse(&m.text);
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
    println!(
        "stress: {} messages sent over {} queues by {} threads ({} received by \
         receivers, {} left and drained) in {:.2?}",
        QUEUES * SENDERS * per_sender,
        QUEUES,
        QUEUES * (SENDERS + RECEIVERS) + 1,
        received,
        QUEUES * LEFT,
        started.elapsed()
    );
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
