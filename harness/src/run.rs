//! Runs a script on a backend and prints its trace.
//!
//! The runner owns everything that is the same on every backend: evaluating
//! arguments, binding names, tracking which tasks are blocked or gone, and
//! formatting the strace-style trace lines of `docs/SCRIPT.md`.

use std::collections::BTreeMap;

use nscheck_model::{
    Detail, Errno, Event, MsgInfo, MsgSet, MsqidDs, Outcome, Ret, Step, Syscall, Sysctl, TaskId,
};

use crate::backend::{Backend, BackendError};
use crate::script::{Atom, Script, ScriptError, Stmt, Value};

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The script is wrong (exit 2).
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// The backend cannot run here (exit 3).
    #[error("{0}")]
    Unavailable(String),
    /// The backend failed (exit 1).
    #[error("{file}:{line}: backend failure: {msg}")]
    Failed {
        file: String,
        line: usize,
        msg: String,
    },
}

impl RunError {
    /// A backend that could not be made or started: whatever the reason,
    /// it cannot run here (exit 3).
    pub fn cannot_start(e: BackendError) -> RunError {
        RunError::Unavailable(e.to_string())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Script(_) => 2,
            RunError::Unavailable(_) => 3,
            RunError::Failed { .. } => 1,
        }
    }
}

/// One finished call, for statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub call: &'static str,
    pub errno: Option<Errno>,
}

/// The trace of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The trace lines, without newlines.
    pub lines: Vec<String>,
    /// Every finished call in completion order.
    pub records: Vec<Record>,
    /// The calls still asleep when the script ended, with their tasks' names.
    pub blocked: Vec<(String, Syscall)>,
    /// The names bound to values when the script ended.
    pub values: BTreeMap<String, i64>,
    /// The tasks that had exited or been killed when the script ended.
    pub gone: Vec<String>,
    /// Every task created, in creation order (`t0` first).
    pub tasks: Vec<String>,
}

impl Trace {
    /// The trace as text, one line each, newline-terminated.
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// A call that is asleep.
struct Pending {
    call: Syscall,
    name: &'static str,
    line: usize,
    bind: Option<String>,
}

/// A run in progress: a backend driven one statement at a time.
///
/// [`run`] and [`run_partial`] execute a whole script through a session; a
/// differential check (`ops::Lockstep`) drives two sessions in lockstep and
/// compares them after every statement.
pub struct Session<'a> {
    file: String,
    backend: &'a mut dyn Backend,
    values: BTreeMap<String, i64>,
    tasks: BTreeMap<String, Option<TaskId>>,
    names: Vec<String>,
    blocked: BTreeMap<TaskId, Pending>,
    gone: BTreeMap<TaskId, &'static str>,
    trace: Trace,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("file", &self.file)
            .field("lines", &self.trace.lines.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Session<'a> {
    /// A session on `backend`; `file` names the script in error messages.
    pub fn new(file: &str, backend: &'a mut dyn Backend) -> Session<'a> {
        Session {
            file: file.to_string(),
            backend,
            values: BTreeMap::new(),
            tasks: BTreeMap::from([("t0".to_string(), Some(TaskId(0)))]),
            names: vec!["t0".to_string()],
            blocked: BTreeMap::new(),
            gone: BTreeMap::new(),
            trace: Trace::default(),
        }
    }

    /// Runs one statement; its trace lines are appended to [`Session::lines`].
    /// The call it made, with its arguments evaluated (`None` for `pidof`,
    /// which makes none).
    pub fn exec(&mut self, stmt: &Stmt) -> Result<Option<Syscall>, RunError> {
        self.stmt(stmt)
    }

    /// The caller of `stmt` and its call with the arguments evaluated, as
    /// [`Session::exec`] would make it now, without making it.
    pub fn evaluate(&mut self, stmt: &Stmt) -> Result<(TaskId, Syscall), RunError> {
        let task = self.task(stmt, &stmt.task)?;
        Ok((task, self.syscall(stmt, task)?))
    }

    /// The trace lines so far.
    pub fn lines(&self) -> &[String] {
        &self.trace.lines
    }

    /// The calls finished so far.
    pub fn records(&self) -> &[Record] {
        &self.trace.records
    }

    /// The value bound to `name`, if any.
    pub fn value(&self, name: &str) -> Option<i64> {
        self.values.get(name).copied()
    }

    /// Whether the task called `name` exists and may make a call now: it was
    /// created, is not asleep in a call, and has not exited or been killed.
    pub fn is_ready(&self, name: &str) -> bool {
        match self.tasks.get(name) {
            Some(Some(t)) => !self.blocked.contains_key(t) && !self.gone.contains_key(t),
            _ => false,
        }
    }

    /// The names of the tasks asleep in a call, with the calls.
    pub fn blocked(&self) -> impl Iterator<Item = (&str, &Syscall)> {
        self.blocked
            .iter()
            .map(|(t, p)| (self.names[t.0].as_str(), &p.call))
    }

    /// The backend's state digest ([`Backend::digest`]).
    pub fn digest(&mut self) -> Result<Option<nscheck_model::IpcDigest>, BackendError> {
        self.backend.digest()
    }

    /// Ends the session and returns its trace.
    pub fn into_trace(self) -> Trace {
        let mut trace = self.trace;
        trace.blocked = self
            .blocked
            .into_iter()
            .map(|(t, p)| (self.names[t.0].clone(), p.call))
            .collect();
        trace.values = self.values;
        trace.gone = self.gone.keys().map(|t| self.names[t.0].clone()).collect();
        trace.tasks = self.names;
        trace
    }
}

/// Runs `script` on `backend`.
pub fn run(script: &Script, backend: &mut dyn Backend) -> Result<Trace, RunError> {
    match run_partial(script, backend) {
        (trace, None) => Ok(trace),
        (_, Some(e)) => Err(e),
    }
}

/// Runs `script` on `backend` and returns the trace as far as it got, with
/// the error that stopped it, if any.
pub fn run_partial(script: &Script, backend: &mut dyn Backend) -> (Trace, Option<RunError>) {
    let mut s = Session::new(&script.file, backend);
    let error = script.stmts.iter().find_map(|stmt| s.exec(stmt).err());
    (s.into_trace(), error)
}

/// The byte pattern of `msgsnd(q, t, N, f)`: N bytes `a..z` repeating.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The largest byte count a script may ask for.
const MAX_TEXT: i64 = 1 << 24;

impl Session<'_> {
    fn err(&self, stmt: &Stmt, msg: impl Into<String>) -> RunError {
        RunError::Script(ScriptError {
            file: self.file.clone(),
            line: stmt.line,
            msg: msg.into(),
        })
    }

    fn backend_err(&self, stmt: &Stmt, e: BackendError) -> RunError {
        match e {
            BackendError::Unsupported(m) => self.err(stmt, m),
            BackendError::Unavailable(m) => RunError::Unavailable(m),
            BackendError::Failed(msg) => RunError::Failed {
                file: self.file.clone(),
                line: stmt.line,
                msg,
            },
        }
    }

    /// The task a name refers to, if it exists and can make calls.
    fn task(&self, stmt: &Stmt, name: &str) -> Result<TaskId, RunError> {
        match self.tasks.get(name) {
            Some(Some(t)) => Ok(*t),
            Some(None) => Err(self.err(
                stmt,
                format!("task `{name}` was not created (its call failed)"),
            )),
            None => Err(self.err(stmt, format!("unknown task `{name}`"))),
        }
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<Option<Syscall>, RunError> {
        let task = self.task(stmt, &stmt.task)?;
        if let Some(p) = self.blocked.get(&task) {
            return Err(self.err(
                stmt,
                format!(
                    "task `{}` is still blocked in {}() from line {}",
                    stmt.task, p.name, p.line
                ),
            ));
        }
        if let Some(how) = self.gone.get(&task) {
            return Err(self.err(stmt, format!("task `{}` {how}", stmt.task)));
        }
        let head = format!(
            "{}: {}({})",
            stmt.task,
            stmt.spec.name,
            self.render_args(stmt)
        );
        if stmt.spec.name == "pidof" {
            let target = self.task_arg(stmt, &stmt.args[0].value)?;
            let pid = self
                .backend
                .pidof(task, target)
                .map_err(|e| self.backend_err(stmt, e))?;
            self.finish(stmt.spec.name, &stmt.bind, &Outcome::val(pid), None);
            self.trace.lines.push(format!("{head} = {pid}"));
            return Ok(None);
        }
        let call = self.syscall(stmt, task)?;
        let step = self
            .backend
            .call(task, &call)
            .map_err(|e| self.backend_err(stmt, e))?;
        match step {
            Step::Done(outcome) => {
                self.trace
                    .lines
                    .push(format!("{head} = {}", format_outcome(&outcome)));
                let created = call.creates_task().then_some(());
                self.finish(stmt.spec.name, &stmt.bind, &outcome, created);
                if outcome.ret == Ret::NoReturn {
                    self.gone.insert(task, "has exited");
                }
            }
            Step::Blocked => {
                self.trace.lines.push(format!("{head} <unfinished ...>"));
                self.blocked.insert(
                    task,
                    Pending {
                        call: call.clone(),
                        name: stmt.spec.name,
                        line: stmt.line,
                        bind: stmt.bind.clone(),
                    },
                );
            }
        }
        let events = self
            .backend
            .take_events()
            .map_err(|e| self.backend_err(stmt, e))?;
        for ev in events {
            match ev {
                Event::Resumed { task, outcome } => {
                    let Some(p) = self.blocked.remove(&task) else {
                        return Err(self.backend_err(
                            stmt,
                            BackendError::Failed(format!(
                                "task #{} resumed but was not blocked",
                                task.0
                            )),
                        ));
                    };
                    self.trace.lines.push(format!(
                        "{}: <... {} resumed> = {}",
                        self.names[task.0],
                        p.name,
                        format_outcome(&outcome)
                    ));
                    self.finish(p.name, &p.bind, &outcome, None);
                }
                Event::Killed { task } => {
                    self.blocked.remove(&task);
                    self.gone.insert(task, "was killed");
                    self.trace
                        .lines
                        .push(format!("{}: +++ killed by SIGKILL +++", self.names[task.0]));
                }
            }
        }
        Ok(Some(call))
    }

    /// Records a finished call and binds its result.
    fn finish(
        &mut self,
        call: &'static str,
        bind: &Option<String>,
        outcome: &Outcome,
        created: Option<()>,
    ) {
        self.trace.records.push(Record {
            call,
            errno: outcome.errno(),
        });
        let value = match outcome.ret {
            Ret::Val(v) => v,
            _ => -1,
        };
        if created.is_some() && matches!(outcome.ret, Ret::Val(_)) {
            let id = TaskId(self.names.len());
            self.names
                .push(bind.clone().unwrap_or_else(|| format!("t{}", id.0)));
            if let Some(b) = bind {
                self.tasks.insert(b.clone(), Some(id));
            }
            return;
        }
        if let Some(b) = bind {
            if created.is_some() {
                self.tasks.insert(b.clone(), None);
            } else {
                self.values.insert(b.clone(), value);
            }
        }
    }

    fn task_arg(&self, stmt: &Stmt, v: &Value) -> Result<TaskId, RunError> {
        match v {
            Value::Or(atoms) => match atoms.as_slice() {
                [(false, Atom::Ident(name))] => self.task(stmt, name),
                _ => Err(self.err(stmt, "expected a task name")),
            },
            _ => Err(self.err(stmt, "expected a task name")),
        }
    }

    fn int(&mut self, stmt: &Stmt, caller: TaskId, v: &Value) -> Result<i64, RunError> {
        let Value::Or(atoms) = v else {
            return Err(self.err(stmt, "expected an integer"));
        };
        let mut acc = 0i64;
        for (neg, atom) in atoms {
            let x = match atom {
                Atom::Int { value, .. } => *value,
                Atom::Ident(id) => {
                    if let Some(c) = nscheck_model::abi::constant(id) {
                        c
                    } else if let Some(&v) = self.values.get(id) {
                        v
                    } else {
                        let target = self.task(stmt, id)?;
                        self.backend
                            .pidof(caller, target)
                            .map_err(|e| self.backend_err(stmt, e))?
                    }
                }
            };
            acc |= if *neg { x.wrapping_neg() } else { x };
        }
        Ok(acc)
    }

    fn syscall(&mut self, stmt: &Stmt, caller: TaskId) -> Result<Syscall, RunError> {
        let pos: Vec<&Value> = stmt
            .args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        let ints = |r: &mut Self, i: usize| r.int(stmt, caller, pos[i]);
        Ok(match stmt.spec.name {
            "msgget" => Syscall::Msgget {
                key: ints(self, 0)?,
                msgflg: ints(self, 1)?,
            },
            "msgsnd" => {
                let msqid = ints(self, 0)?;
                let mtype = ints(self, 1)?;
                let text = match pos[2] {
                    Value::Str(s) => s.clone(),
                    v => {
                        let n = self.int(stmt, caller, v)?;
                        if !(0..=MAX_TEXT).contains(&n) {
                            return Err(self.err(
                                stmt,
                                format!("byte count {n} is out of range (0 to {MAX_TEXT})"),
                            ));
                        }
                        pattern(n as usize)
                    }
                };
                Syscall::Msgsnd {
                    msqid,
                    mtype,
                    text,
                    msgflg: ints(self, 3)?,
                }
            }
            "msgrcv" => Syscall::Msgrcv {
                msqid: ints(self, 0)?,
                msgsz: ints(self, 1)?,
                msgtyp: ints(self, 2)?,
                msgflg: ints(self, 3)?,
            },
            "msgctl" => {
                let msqid = ints(self, 0)?;
                let cmd = ints(self, 1)?;
                let set = match pos.get(2) {
                    Some(Value::Struct(fields)) => {
                        let mut set = MsgSet::default();
                        for (f, v) in fields {
                            let x = Some(self.int(stmt, caller, v)?);
                            match f.as_str() {
                                "msg_qbytes" => set.msg_qbytes = x,
                                "uid" => set.uid = x,
                                "gid" => set.gid = x,
                                _ => set.mode = x,
                            }
                        }
                        Some(set)
                    }
                    _ => None,
                };
                Syscall::Msgctl { msqid, cmd, set }
            }
            "sysctl" => {
                let Value::Str(path) = pos[0] else {
                    return Err(self.err(stmt, "sysctl() expects a string"));
                };
                let path = String::from_utf8_lossy(path);
                let name = Sysctl::from_path(&path)
                    .ok_or_else(|| self.err(stmt, format!("unknown sysctl \"{path}\"")))?;
                let value = match pos.get(1) {
                    Some(v) => Some(self.int(stmt, caller, v)?),
                    None => None,
                };
                Syscall::Sysctl { name, value }
            }
            "fork" => Syscall::Fork,
            "clone" => {
                let flags = ints(self, 0)?;
                let mut set_tid = Vec::new();
                if let Some(a) = stmt.args.iter().find(|a| a.name.is_some()) {
                    let Value::List(items) = &a.value else {
                        return Err(self.err(stmt, "set_tid expects a list"));
                    };
                    for it in items {
                        set_tid.push(self.int(stmt, caller, it)?);
                    }
                }
                Syscall::Clone { flags, set_tid }
            }
            "unshare" => Syscall::Unshare {
                flags: ints(self, 0)?,
            },
            "exit" => Syscall::Exit {
                code: ints(self, 0)?,
            },
            "waitpid" => {
                let target = self.task_arg(stmt, pos[0])?;
                let pid = self
                    .backend
                    .pidof(caller, target)
                    .map_err(|e| self.backend_err(stmt, e))?;
                Syscall::Waitpid { pid }
            }
            "getpid" => Syscall::Getpid,
            "getppid" => Syscall::Getppid,
            "setsid" => Syscall::Setsid,
            "getsid" => Syscall::Getsid {
                pid: ints(self, 0)?,
            },
            "setpgid" => Syscall::Setpgid {
                pid: ints(self, 0)?,
                pgid: ints(self, 1)?,
            },
            "getpgid" => Syscall::Getpgid {
                pid: ints(self, 0)?,
            },
            "setuid" => Syscall::Setuid {
                uid: ints(self, 0)?,
            },
            "setgid" => Syscall::Setgid {
                gid: ints(self, 0)?,
            },
            "capdrop" => Syscall::Capdrop {
                cap: ints(self, 0)?,
            },
            other => return Err(self.err(stmt, format!("unknown call `{other}`"))),
        })
    }

    /// The arguments as the trace shows them: bound values replaced by their
    /// values, everything else as written.
    fn render_args(&self, stmt: &Stmt) -> String {
        let mut out = Vec::new();
        for a in &stmt.args {
            let v = self.render_value(&a.value);
            out.push(match &a.name {
                Some(n) => format!("{n}={v}"),
                None => v,
            });
        }
        out.join(", ")
    }

    fn render_value(&self, v: &Value) -> String {
        match v {
            Value::Or(atoms) => atoms
                .iter()
                .map(|(neg, a)| {
                    let s = match a {
                        Atom::Ident(id) => match self.values.get(id) {
                            Some(v) if nscheck_model::abi::constant(id).is_none() => v.to_string(),
                            _ => id.clone(),
                        },
                        Atom::Int { src, .. } => src.clone(),
                    };
                    if *neg { format!("-{s}") } else { s }
                })
                .collect::<Vec<_>>()
                .join("|"),
            Value::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| self.render_value(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Struct(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", self.render_value(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Str(_) => v.to_string(),
        }
    }
}

/// `RET [DETAIL]` of a trace line.
pub fn format_outcome(o: &Outcome) -> String {
    let ret = match o.ret {
        Ret::Val(v) => v.to_string(),
        Ret::Err(e) => format!("-1 {e}"),
        Ret::NoReturn => "?".to_string(),
    };
    match &o.detail {
        Detail::None => ret,
        Detail::Msg { mtype, text } => format!(
            "{ret} {{mtype={mtype}, mtext=\"{}\"}}",
            crate::script::escape(text)
        ),
        Detail::Stat(ds) => format!("{ret} {}", format_stat(ds)),
        Detail::Info(info) => format!("{ret} {}", format_info(info)),
    }
}

fn octal(mode: i64) -> String {
    if mode == 0 {
        "0".to_string()
    } else {
        format!("0{mode:o}")
    }
}

fn format_stat(ds: &MsqidDs) -> String {
    format!(
        "{{msg_perm={{key={:#x}, uid={}, gid={}, cuid={}, cgid={}, mode={}, seq={}}}, \
         msg_qnum={}, msg_cbytes={}, msg_qbytes={}, msg_lspid={}, msg_lrpid={}}}",
        ds.key as u32,
        ds.uid,
        ds.gid,
        ds.cuid,
        ds.cgid,
        octal(ds.mode),
        ds.seq,
        ds.qnum,
        ds.cbytes,
        ds.qbytes as u64,
        ds.lspid,
        ds.lrpid
    )
}

fn format_info(i: &MsgInfo) -> String {
    format!(
        "{{msgpool={}, msgmap={}, msgmax={}, msgmnb={}, msgmni={}, msgssz={}, msgtql={}, msgseg={}}}",
        i.msgpool, i.msgmap, i.msgmax, i.msgmnb, i.msgmni, i.msgssz, i.msgtql, i.msgseg
    )
}
