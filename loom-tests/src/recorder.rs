//! The history recorder: stamps each call's invocation and response on one
//! global clock and keeps the calls as [`Entry`]s.
//!
//! It uses `std::sync`, not the checkers' types, on purpose: it must not
//! add interleavings of its own. Both loom and shuttle run one model thread
//! at a time and the recorder never blocks while holding its lock, so a
//! `std` mutex is safe there. An invocation is stamped before the call
//! starts and a response after it returns, so each call's window contains
//! the call itself (a preemption between the stamp and the call only
//! widens the window, which keeps the check sound).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::lin::Entry;

#[derive(Debug)]
struct Calls<C, R> {
    clock: u64,
    calls: Vec<Option<Entry<C, R>>>,
    pending: Vec<Option<(usize, C, u64)>>,
}

/// The calls of one execution; clones share them.
#[derive(Debug)]
pub struct Recorder<C, R> {
    calls: Arc<Mutex<Calls<C, R>>>,
}

impl<C, R> Clone for Recorder<C, R> {
    fn clone(&self) -> Self {
        Recorder {
            calls: self.calls.clone(),
        }
    }
}

impl<C, R> Default for Recorder<C, R> {
    fn default() -> Self {
        Recorder {
            calls: Arc::new(Mutex::new(Calls {
                clock: 0,
                calls: Vec::new(),
                pending: Vec::new(),
            })),
        }
    }
}

impl<C: Clone, R: Clone> Recorder<C, R> {
    fn lock(&self) -> MutexGuard<'_, Calls<C, R>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Thread `thread` makes `call` by running `run`; the call and its
    /// result are recorded.
    pub fn record(&self, thread: usize, call: C, run: impl FnOnce(&C) -> R) -> R {
        let (slot, call) = self.invoke(thread, call);
        let ret = run(&call);
        self.respond(slot, ret.clone());
        ret
    }

    /// Thread `thread` runs `run`, which makes several calls at once (a
    /// listing that reads each queue in turn): each call it returns is
    /// recorded with its result, and with the window of the whole run, so
    /// that the check may place them in any order within it.
    pub fn record_many(&self, thread: usize, run: impl FnOnce() -> Vec<(C, R)>) {
        let inv = {
            let mut r = self.lock();
            r.clock += 1;
            r.clock
        };
        let calls = run();
        let mut r = self.lock();
        r.clock += 1;
        let res = r.clock;
        for (call, ret) in calls {
            r.pending.push(None);
            r.calls.push(Some(Entry {
                thread,
                call,
                inv,
                res,
                ret,
            }));
        }
    }

    /// Stamps the invocation of `call` by `thread` now: the call's window
    /// opens here, whenever it really starts. Returns the slot that
    /// [`Recorder::respond`] closes, and the call. A scenario stamps a
    /// call so from another thread, before the threads that race it run,
    /// when the call must be in progress by then (a task's call that its
    /// init's exit may kill: the model refuses a call a dead task makes).
    pub fn invoke(&self, thread: usize, call: C) -> (usize, C) {
        let mut r = self.lock();
        r.clock += 1;
        let inv = r.clock;
        r.pending.push(Some((thread, call.clone(), inv)));
        r.calls.push(None);
        (r.pending.len() - 1, call)
    }

    /// Stamps the response of the call of `slot` now, with its result.
    pub fn respond(&self, slot: usize, ret: R) {
        let mut r = self.lock();
        r.clock += 1;
        let res = r.clock;
        let (thread, call, inv) = r.pending[slot].take().expect("recorded once");
        r.calls[slot] = Some(Entry {
            thread,
            call,
            inv,
            res,
            ret,
        });
    }

    /// How many calls `thread` has invoked so far, and how many of them
    /// returned.
    pub fn counts(&self, thread: usize) -> (usize, usize) {
        let r = self.lock();
        let returned = r.calls.iter().flatten().filter(|e| e.thread == thread);
        let pending = r.pending.iter().flatten().filter(|p| p.0 == thread);
        let returned = returned.count();
        (returned + pending.count(), returned)
    }

    /// The history so far (only calls that returned).
    pub fn history(&self) -> Vec<Entry<C, R>> {
        self.lock().calls.iter().flatten().cloned().collect()
    }
}
