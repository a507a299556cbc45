//! SysV message queue benchmarks: `nscheck-concurrent` side by side with two
//! baselines, in one run (issue 4 §6):
//!
//! - `concurrent`: the implementation under test (`nscheck_concurrent::ipc`);
//! - `kernel`: real `msgsnd`/`msgrcv` system calls, made from a private IPC
//!   namespace that this binary creates with `unshare(CLONE_NEWIPC)` before
//!   any IPC call (so the host's queues are never touched); skipped, with the
//!   reason printed, when that is not allowed;
//! - `mutex_model`: the executable specification behind one mutex,
//!   `Mutex<nscheck_model::Kernel>`, called through `Kernel::call`.
//!
//! Groups (each with the three implementations):
//!
//! - `pair_64B`: one `msgsnd` of 64 bytes and the `msgrcv` that takes it
//!   back, on one queue (goal for `concurrent`: ≤ 100 ns a pair);
//! - `msg_copy_dump_1000`: `MSG_COPY` of index 0..999 of a queue holding 1000
//!   messages (goal: ≤ 100 µs for the whole dump);
//! - `threads_2x2q` / `threads_2x1q`: two threads doing send+receive pairs,
//!   each on its own queue, or both on one queue; criterion reports pairs/s
//!   (goal: `concurrent` on two queues ≥ 1.5× `mutex_model` on two queues).
//!
//! Run: `cargo bench -p nscheck-benches` (add a filter such as `pair_64B`
//! after `--` to run one group).

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use nscheck_benches::timed_threads;
use nscheck_concurrent::ipc::{self, IPC_NOWAIT, IPC_PRIVATE, MSG_COPY};
use nscheck_concurrent::sync::Arc;
use nscheck_concurrent::{Cred, IpcNamespace, Pid, Sleeper, Task};
use nscheck_model::{Dialect, Kernel, Outcome, Ret, Step, Syscall, TaskId};

/// The size of the messages of the pair and thread benchmarks.
const PAIR_BYTES: usize = 64;
/// The messages of the `MSG_COPY` dump, and their size: 1000 × 16 bytes fit
/// the default `msg_qbytes` (16384) of a new namespace.
const DUMP_MSGS: usize = 1000;
const DUMP_BYTES: usize = 16;
/// The receive buffer of every `msgrcv`: large enough for every message.
const RECV_BUF: usize = 64;
/// Send+receive pairs each thread makes per criterion iteration of the
/// threaded groups; threads are started once per sample, not per iteration.
const BATCH: u64 = 1000;
const THREADS: usize = 2;

// ---------------------------------------------------------------------------
// The three implementations behind one small interface.

/// A queue-level interface the three implementations share. Every call is
/// non-blocking (`IPC_NOWAIT`) and must succeed.
trait MsgQueues: Sync {
    /// A per-thread caller context.
    type Caller;
    fn caller(&self, thread: usize) -> Self::Caller;
    fn create(&self, c: &Self::Caller) -> i32;
    fn send(&self, c: &Self::Caller, q: i32, text: &[u8]);
    /// Receives (or, with `copy`, copies the `typ`-th message) into a
    /// `RECV_BUF` buffer; returns the length.
    fn recv(&self, c: &mut Self::Caller, q: i32, typ: i64, copy: bool) -> usize;
    fn remove(&self, c: &Self::Caller, q: i32);
}

/// `nscheck-concurrent`, one `Task` per thread in one namespace.
struct Concurrent {
    ns: Arc<IpcNamespace>,
}

impl MsgQueues for Concurrent {
    type Caller = Task;

    fn caller(&self, thread: usize) -> Task {
        Task {
            pid: Arc::new(Pid::single(1 + thread as i64)),
            cred: Cred {
                euid: 0,
                egid: 0,
                caps: u64::MAX,
            },
            ipc_ns: self.ns.clone(),
            sleeper: Arc::new(Sleeper::new(thread as u64, None)),
        }
    }

    fn create(&self, c: &Task) -> i32 {
        ipc::msgget(c, IPC_PRIVATE, 0o600).expect("msgget")
    }

    fn send(&self, c: &Task, q: i32, text: &[u8]) {
        ipc::msgsnd(c, q, 1, text, IPC_NOWAIT).expect("msgsnd");
    }

    fn recv(&self, c: &mut Task, q: i32, typ: i64, copy: bool) -> usize {
        let flags = IPC_NOWAIT | if copy { MSG_COPY } else { 0 };
        let m = ipc::msgrcv(c, q, RECV_BUF as i64, typ, flags).expect("msgrcv");
        black_box(&m);
        m.text.len()
    }

    fn remove(&self, c: &Task, q: i32) {
        ipc::msgctl(c, q, ipc::IPC_RMID, None).expect("IPC_RMID");
    }
}

/// The model behind one mutex; every thread is the model's `t0` (no call
/// blocks, so they never get in each other's way inside the model).
struct MutexModel {
    kernel: Mutex<Kernel>,
}

impl MutexModel {
    fn call(&self, call: &Syscall) -> Outcome {
        let step = self
            .kernel
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .call(TaskId(0), call);
        match step {
            Ok(Step::Done(o)) => o,
            other => panic!("{call:?}: {other:?}"),
        }
    }

    fn val(&self, call: &Syscall) -> i64 {
        match self.call(call) {
            Outcome {
                ret: Ret::Val(v), ..
            } => v,
            o => panic!("{call:?}: {o:?}"),
        }
    }
}

/// A model caller keeps its calls ready-made, as a C program keeps its
/// buffers, so the benchmark does not time building a `Syscall`.
struct ModelCaller {
    send: Option<(i32, Syscall)>,
}

impl MsgQueues for MutexModel {
    type Caller = ModelCaller;

    fn caller(&self, _thread: usize) -> ModelCaller {
        ModelCaller { send: None }
    }

    fn create(&self, _c: &ModelCaller) -> i32 {
        self.val(&Syscall::Msgget {
            key: 0,
            msgflg: 0o600,
        }) as i32
    }

    fn send(&self, _c: &ModelCaller, q: i32, text: &[u8]) {
        self.val(&Syscall::Msgsnd {
            msqid: q.into(),
            mtype: 1,
            text: text.to_vec(),
            msgflg: IPC_NOWAIT.into(),
        });
    }

    fn recv(&self, _c: &mut ModelCaller, q: i32, typ: i64, copy: bool) -> usize {
        let flags = IPC_NOWAIT | if copy { MSG_COPY } else { 0 };
        let o = self.call(&Syscall::Msgrcv {
            msqid: q.into(),
            msgsz: RECV_BUF as i64,
            msgtyp: typ,
            msgflg: flags.into(),
        });
        match o.ret {
            Ret::Val(n) => black_box(n) as usize,
            _ => panic!("msgrcv: {o:?}"),
        }
    }

    fn remove(&self, _c: &ModelCaller, q: i32) {
        self.val(&Syscall::Msgctl {
            msqid: q.into(),
            cmd: ipc::IPC_RMID.into(),
            set: None,
        });
    }
}

impl MutexModel {
    /// `send` with the `Syscall` built once per queue and text.
    fn send_prepared(&self, c: &mut ModelCaller, q: i32, text: &[u8]) {
        let stale = !matches!(&c.send, Some((sq, Syscall::Msgsnd { text: t, .. })) if *sq == q && t == text);
        if stale {
            c.send = Some((
                q,
                Syscall::Msgsnd {
                    msqid: q.into(),
                    mtype: 1,
                    text: text.to_vec(),
                    msgflg: IPC_NOWAIT.into(),
                },
            ));
        }
        let (_, call) = c.send.as_ref().expect("prepared");
        self.val(call);
    }
}

/// The real kernel, in this process's private IPC namespace.
struct RealKernel;

/// `struct msgbuf` with room for the largest message used here.
#[repr(C)]
struct MsgBuf {
    mtype: libc::c_long,
    mtext: [u8; RECV_BUF],
}

impl MsgQueues for RealKernel {
    type Caller = MsgBuf;

    fn caller(&self, _thread: usize) -> MsgBuf {
        MsgBuf {
            mtype: 0,
            mtext: [0; RECV_BUF],
        }
    }

    fn create(&self, _c: &MsgBuf) -> i32 {
        // SAFETY: msgget takes no pointers.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, 0o600) };
        assert!(id >= 0, "msgget: {}", std::io::Error::last_os_error());
        id
    }

    fn send(&self, _c: &MsgBuf, q: i32, text: &[u8]) {
        let mut m = MsgBuf {
            mtype: 1,
            mtext: [0; RECV_BUF],
        };
        m.mtext[..text.len()].copy_from_slice(text);
        // SAFETY: `m` is a valid msgbuf whose mtext holds `text.len()` bytes.
        let r = unsafe { libc::msgsnd(q, (&raw const m).cast(), text.len(), libc::IPC_NOWAIT) };
        assert!(r == 0, "msgsnd: {}", std::io::Error::last_os_error());
    }

    fn recv(&self, c: &mut MsgBuf, q: i32, typ: i64, copy: bool) -> usize {
        let flags = libc::IPC_NOWAIT | if copy { MSG_COPY } else { 0 };
        // SAFETY: `c` is a msgbuf with `RECV_BUF` bytes of mtext.
        let n = unsafe {
            libc::msgrcv(
                q,
                (&raw mut *c).cast(),
                RECV_BUF,
                typ as libc::c_long,
                flags,
            )
        };
        assert!(n >= 0, "msgrcv: {}", std::io::Error::last_os_error());
        black_box(&c.mtext);
        n as usize
    }

    fn remove(&self, _c: &MsgBuf, q: i32) {
        // SAFETY: IPC_RMID reads no buffer.
        let r = unsafe { libc::msgctl(q, libc::IPC_RMID, std::ptr::null_mut()) };
        assert!(r == 0, "IPC_RMID: {}", std::io::Error::last_os_error());
    }
}

/// Leaves the host's IPC namespace for a fresh one. `Err` says why not.
fn enter_private_ipc_namespace() -> Result<(), String> {
    // SAFETY: unshare takes no pointers. It runs before any thread is
    // started, so every thread of this process inherits the new namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWIPC): {}",
            std::io::Error::last_os_error()
        ));
    }
    // A fresh namespace has no queues; anything else means we are not where
    // we think we are, and we must not touch it.
    let listing = std::fs::read_to_string("/proc/sysvipc/msg")
        .map_err(|e| format!("/proc/sysvipc/msg: {e}"))?;
    if listing.lines().count() > 1 {
        return Err("the new IPC namespace already has queues".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The benchmarks, generic over the implementation.

/// `pair_64B`: msgsnd of 64 bytes, then the msgrcv that takes it.
fn pair<M: MsgQueues>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, m: &M) {
    let mut c = m.caller(0);
    let q = m.create(&c);
    let text = [b'x'; PAIR_BYTES];
    g.bench_function(name, |b| {
        b.iter(|| {
            m.send(&c, q, black_box(&text));
            m.recv(&mut c, q, 0, false)
        })
    });
    m.remove(&c, q);
}

/// `pair_64B` for the model, with the send call prepared once.
fn pair_model(g: &mut BenchmarkGroup<'_, WallTime>, m: &MutexModel) {
    let mut c = m.caller(0);
    let q = m.create(&c);
    let text = [b'x'; PAIR_BYTES];
    g.bench_function("mutex_model", |b| {
        b.iter(|| {
            m.send_prepared(&mut c, q, &text);
            m.recv(&mut c, q, 0, false)
        })
    });
    m.remove(&c, q);
}

/// `msg_copy_dump_1000`: MSG_COPY of every index of a 1000-message queue.
fn dump<M: MsgQueues>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, m: &M) {
    let mut c = m.caller(0);
    let q = m.create(&c);
    for i in 0..DUMP_MSGS {
        let mut text = [0u8; DUMP_BYTES];
        text[..8].copy_from_slice(&(i as u64).to_le_bytes());
        m.send(&c, q, &text);
    }
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut total = 0;
            for i in 0..DUMP_MSGS {
                total += m.recv(&mut c, q, i as i64, true);
            }
            assert_eq!(total, DUMP_MSGS * DUMP_BYTES);
            total
        })
    });
    m.remove(&c, q);
}

/// Runs `work(thread, pairs)` on `THREADS` threads started together, and
/// times from the common start to the last finish. Thread start-up is not
/// timed.
fn threaded(pairs: u64, work: impl Fn(usize, u64) + Sync) -> Duration {
    timed_threads(THREADS, |t| work(t, pairs), None)
}

/// `threads_2x2q` (`shared == false`) and `threads_2x1q` (`shared`): every
/// thread makes `BATCH` send+receive pairs per iteration on its own queue,
/// or all on one queue. A thread receives only after its own send, so the
/// queue is never empty when it receives.
fn threads<M: MsgQueues>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, m: &M, shared: bool)
where
    M::Caller: Send,
{
    let setup = m.caller(0);
    let queues: Vec<i32> = if shared {
        vec![m.create(&setup); THREADS]
    } else {
        (0..THREADS).map(|_| m.create(&setup)).collect()
    };
    let text = [b'x'; PAIR_BYTES];
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            threaded(iters * BATCH, |t, pairs| {
                let mut c = m.caller(t);
                let q = queues[t];
                for _ in 0..pairs {
                    m.send(&c, q, black_box(&text));
                    m.recv(&mut c, q, 0, false);
                }
            })
        })
    });
    let mut queues = queues;
    queues.dedup();
    for q in queues {
        m.remove(&setup, q);
    }
}

/// The model's threaded run, with each thread's send prepared once.
fn threads_model(g: &mut BenchmarkGroup<'_, WallTime>, m: &MutexModel, shared: bool) {
    let setup = m.caller(0);
    let queues: Vec<i32> = if shared {
        vec![m.create(&setup); THREADS]
    } else {
        (0..THREADS).map(|_| m.create(&setup)).collect()
    };
    let text = [b'x'; PAIR_BYTES];
    g.bench_function("mutex_model", |b| {
        b.iter_custom(|iters| {
            threaded(iters * BATCH, |t, pairs| {
                let mut c = m.caller(t);
                let q = queues[t];
                for _ in 0..pairs {
                    m.send_prepared(&mut c, q, &text);
                    m.recv(&mut c, q, 0, false);
                }
            })
        })
    });
    let mut queues = queues;
    queues.dedup();
    for q in queues {
        m.remove(&setup, q);
    }
}

fn main() {
    // Before anything else (criterion starts no threads without rayon):
    // every IPC call of this process must happen in a private namespace.
    let kernel = match enter_private_ipc_namespace() {
        Ok(()) => Some(RealKernel),
        Err(why) => {
            eprintln!("kernel baseline skipped: {why} (run as root to include it)");
            None
        }
    };
    let concurrent = Concurrent {
        ns: Arc::new(IpcNamespace::new()),
    };
    let model = MutexModel {
        kernel: Mutex::new(Kernel::new(Dialect::Mainline)),
    };

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30)
        .configure_from_args();

    let mut g = c.benchmark_group("pair_64B");
    g.throughput(Throughput::Elements(1));
    pair(&mut g, "concurrent", &concurrent);
    if let Some(k) = &kernel {
        pair(&mut g, "kernel", k);
    }
    pair_model(&mut g, &model);
    g.finish();

    let mut g = c.benchmark_group("msg_copy_dump_1000");
    g.throughput(Throughput::Elements(DUMP_MSGS as u64));
    // The kernel's dump takes milliseconds (each MSG_COPY walks the list
    // from the head): flat sampling keeps 30 samples within the time.
    g.sampling_mode(SamplingMode::Flat);
    dump(&mut g, "concurrent", &concurrent);
    if let Some(k) = &kernel {
        dump(&mut g, "kernel", k);
    }
    dump(&mut g, "mutex_model", &model);
    g.finish();

    for (group, shared) in [("threads_2x2q", false), ("threads_2x1q", true)] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(BATCH * THREADS as u64));
        threads(&mut g, "concurrent", &concurrent, shared);
        if let Some(k) = &kernel {
            threads(&mut g, "kernel", k, shared);
        }
        threads_model(&mut g, &model, shared);
        g.finish();
    }

    c.final_summary();
}
