//! Divergence classes: what makes two divergences of another implementation
//! the same one.
//!
//! Traces of the model (Linux 6.18) and of another implementation are
//! compared after [`normalize`] has written every queue id as the order of
//! its queue's creation (`q#1`, `q#2`, …), since that implementation may
//! number its queues its own way. [`classify`] then finds the first line
//! where they part, or the statement where the implementation stopped, and
//! gives the divergence a [`Class`]: a kind (`wrong` or `missing`; a third,
//! `nondeterministic`, is for a script whose two runs on the implementation
//! differ, which only running it again shows) and a signature made of the
//! call, the pattern of its arguments and the two results
//! ([`signature`]). A pattern keeps what decides a result (constants,
//! flags, modes, errnos, the sign of a number, zero) and drops what does
//! not (ids, sizes, task names, message texts).

use nscheck_model::abi;

/// How a queue id is written once normalized: `q#1` is the first queue the
/// trace created.
const QUEUE: &str = "q#";

/// What kind of divergence a class is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The implementation gives another result than Linux.
    Wrong,
    /// The implementation lacks the feature entirely: the backend refused
    /// the call with `missing: `, or the call returned `ENOSYS`.
    Missing,
    /// Two runs of the same script on the implementation differ.
    Nondeterministic,
}

impl Kind {
    /// The kind's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Wrong => "wrong",
            Kind::Missing => "missing",
            Kind::Nondeterministic => "nondeterministic",
        }
    }
}

/// A divergence class: its kind and its signature.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Class {
    pub kind: Kind,
    pub signature: String,
}

/// How the implementation's run of a script ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every statement ran.
    Complete,
    /// It stopped at a call the implementation lacks (the text after
    /// `missing: `).
    Missing(String),
    /// The backend failed (its message).
    Failed(String),
    /// The backend refused the script for another reason, e.g. one that
    /// would leave an unkillable process behind (the error).
    Refused(String),
}

/// The verdict on one script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The normalized traces are the same.
    Agree,
    /// The implementation refused the script where it had agreed so far
    /// (why): not a divergence.
    Skip(String),
    /// A divergence at this 0-based trace line of the normalized traces.
    Diverge { class: Class, index: usize },
}

/// The traces' lines with every queue id written as `q#N`, the order of its
/// queue's creation in that trace: the return value of a `msgget` that
/// succeeded or of an `MSG_STAT`, and the first argument of `msgsnd`,
/// `msgrcv` and `msgctl` (but the index of `MSG_STAT` and `MSG_STAT_ANY`).
/// A number no `msgget` returned stays as it is.
pub fn normalize(lines: &[String]) -> Vec<String> {
    let mut ids: Vec<i64> = Vec::new();
    lines
        .iter()
        .map(|l| normalize_line(l, &mut ids).unwrap_or_else(|| l.clone()))
        .collect()
}

/// One line of [`normalize`], `ids` being the queue ids seen so far; `None`
/// where nothing changes.
fn normalize_line(line: &str, ids: &mut Vec<i64>) -> Option<String> {
    let (task, rest) = line.split_once(": ")?;
    let call = parse_call(rest)?;
    let stat = call.name == "msgctl"
        && matches!(
            call.args.get(1).map(String::as_str),
            Some("MSG_STAT" | "MSG_STAT_ANY")
        );
    let mut args = call.args.clone();
    if matches!(call.name, "msgsnd" | "msgrcv" | "msgctl") && !stat {
        args[0] = queue_name(&args[0], ids, false);
    }
    let mut tail = call.tail.to_string();
    if (call.name == "msgget" || stat)
        && let Some(outcome) = call.tail.strip_prefix(" = ")
    {
        let (ret, detail) = split_outcome(outcome);
        let name = queue_name(ret, ids, call.name == "msgget");
        tail = format!(" = {name}{detail}");
    }
    Some(format!("{task}: {}({}){tail}", call.name, args.join(", ")))
}

/// `text` as a queue name if it is a queue id seen so far (or, with `new`,
/// a queue id not seen yet, a non-negative one).
fn queue_name(text: &str, ids: &mut Vec<i64>, new: bool) -> String {
    let Ok(id) = text.parse::<i64>() else {
        return text.to_string();
    };
    let k = match ids.iter().position(|&x| x == id) {
        Some(k) => k,
        None if new && id >= 0 => {
            ids.push(id);
            ids.len() - 1
        }
        None => return text.to_string(),
    };
    format!("{QUEUE}{}", k + 1)
}

/// A trace line's call: `NAME(ARGS)` and what follows.
#[derive(Debug)]
struct Call<'a> {
    name: &'a str,
    args: Vec<String>,
    /// ` = OUTCOME` or ` <unfinished ...>`.
    tail: &'a str,
}

/// `NAME(ARGS)TAIL`, with quotes and brackets in the arguments respected.
fn parse_call(s: &str) -> Option<Call<'_>> {
    let open = s.find('(')?;
    let name = &s[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let close = open + closing(&s[open..])?;
    Some(Call {
        name,
        args: split_top(&s[open + 1..close]),
        tail: &s[close + 1..],
    })
}

/// The characters of `s` outside string literals, with their offsets and
/// the bracket depth after them (an opening bracket counts in, a closing
/// one out); `None` for a closing bracket too many.
fn structure(s: &str) -> impl Iterator<Item = (usize, char, Option<usize>)> + '_ {
    let mut depth = Some(0usize);
    let mut quoted = false;
    let mut escaped = false;
    s.char_indices().filter_map(move |(i, c)| {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            return None;
        }
        match c {
            '"' => quoted = true,
            '(' | '[' | '{' => depth = depth.map(|d| d + 1),
            ')' | ']' | '}' => depth = depth.and_then(|d| d.checked_sub(1)),
            _ => {}
        }
        Some((i, c, depth))
    })
}

/// The offset of the bracket that closes the one `s` starts with, outside
/// string literals.
fn closing(s: &str) -> Option<usize> {
    structure(s)
        .take_while(|&(_, _, depth)| depth.is_some())
        .find(|&(_, c, depth)| matches!(c, ')' | ']' | '}') && depth == Some(0))
        .map(|(i, _, _)| i)
}

/// `s` split at its top-level `, ` (not inside quotes or brackets).
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c, depth) in structure(s) {
        if c == ',' && depth == Some(0) {
            out.push(s[start..i].trim().to_string());
            start = i + 1;
        }
    }
    if !s.trim().is_empty() {
        out.push(s[start..].trim().to_string());
    }
    out
}

/// An outcome `RET DETAIL` as `(RET, " DETAIL")` (the detail empty where
/// there is none).
fn split_outcome(o: &str) -> (&str, &str) {
    match o.find(" {") {
        Some(i) => (&o[..i], &o[i..]),
        None => (o, ""),
    }
}

/// A trace line taken apart for its signature.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    task: String,
    /// The pattern of the call (`msgrcv(Q, N, 0, IPC_NOWAIT)`), or of the
    /// event (`msgrcv resumed`, `SIGKILL`).
    head: String,
    /// Whether the line is an event (a resumed call, a killed task) rather
    /// than a statement's call.
    event: bool,
    /// The result as written (`-1 ENOMSG`, `5 {mtype=1, ...}`, or
    /// `<unfinished ...>`; `killed` for a killed task).
    result: String,
}

fn parse_line(line: &str) -> Parsed {
    let (task, rest) = line.split_once(": ").unwrap_or(("", line));
    let (head, event, result) = if rest.starts_with("+++ killed") {
        ("SIGKILL".to_string(), true, "killed".to_string())
    } else if let Some(r) = rest.strip_prefix("<... ")
        && let Some((name, outcome)) = r.split_once(" resumed>")
    {
        let outcome = outcome.strip_prefix(" = ").unwrap_or(outcome);
        (format!("{name} resumed"), true, outcome.to_string())
    } else if let Some(call) = parse_call(rest) {
        let result = call.tail.strip_prefix(" = ").unwrap_or(call.tail.trim());
        let args: Vec<String> = call
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| arg_pattern(a, call.name == "sysctl" && i == 0))
            .collect();
        (
            format!("{}({})", call.name, args.join(", ")),
            false,
            result.to_string(),
        )
    } else {
        (rest.to_string(), false, String::new())
    };
    Parsed {
        task: task.to_string(),
        head,
        event,
        result,
    }
}

/// The pattern of an argument as a trace line shows it; `verbatim` keeps it
/// whole (a sysctl's name).
fn arg_pattern(a: &str, verbatim: bool) -> String {
    if verbatim {
        return a.to_string();
    }
    if a.starts_with('"') {
        // A message text is a size: empty or not.
        return if a == "\"\"" { "0" } else { "N" }.to_string();
    }
    if let Some(inner) = a.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items: Vec<String> = split_top(inner)
            .iter()
            .map(|i| arg_pattern(i, false))
            .collect();
        return format!("[{}]", items.join(", "));
    }
    if let Some(inner) = a.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        let fields: Vec<String> = split_top(inner)
            .iter()
            .map(|f| arg_pattern(f, false))
            .collect();
        return format!("{{{}}}", fields.join(", "));
    }
    if let Some((name, value)) = a.split_once('=')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return format!("{name}={}", arg_pattern(value, false));
    }
    a.split('|').map(atom_pattern).collect::<Vec<_>>().join("|")
}

/// The pattern of one atom: a constant and a mode (an octal literal) stay,
/// a queue is `Q`, a task `T`, a number `0`, `N` or `-N`.
fn atom_pattern(a: &str) -> String {
    if let Ok(n) = a.parse::<i64>() {
        let octal = a.len() > 1 && a.starts_with('0');
        return match n {
            _ if octal => a.to_string(),
            0 => "0".into(),
            n if n > 0 => "N".into(),
            _ => "-N".into(),
        };
    }
    if a.starts_with("0x") || a.starts_with("-0x") {
        return if a.starts_with('-') { "-N" } else { "N" }.into();
    }
    if a.starts_with(QUEUE) {
        return "Q".into();
    }
    if abi::constant(a).is_some() {
        return a.to_string();
    }
    "T".into()
}

/// The pattern of a result: the return value's ([`atom_pattern`]; `-1
/// ERRNO` and `?` stay), then what its detail is (`{msg}`, `{stat}`,
/// `{info}`); a call asleep `sleeps`.
fn result_pattern(r: &str) -> String {
    if r == "<unfinished ...>" {
        return "sleeps".into();
    }
    if r == "killed" {
        return r.into();
    }
    let (ret, detail) = split_outcome(r);
    let ret = if ret == "?" || ret.starts_with("-1 ") {
        ret.to_string()
    } else {
        atom_pattern(ret)
    };
    let detail = match detail.trim_start() {
        "" => "",
        d if d.starts_with("{mtype=") => " {msg}",
        d if d.starts_with("{msg_perm=") => " {stat}",
        d if d.starts_with("{msgpool=") => " {info}",
        _ => " {…}",
    };
    format!("{ret}{detail}")
}

/// The leaf fields of a detail (`{a=1, b={c=2}}` gives `a=1`, `c=2`).
fn fields(detail: &str) -> Vec<(String, String)> {
    let Some(inner) = detail
        .trim()
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in split_top(inner) {
        let Some((k, v)) = f.split_once('=') else {
            continue;
        };
        if v.starts_with('{') {
            out.extend(fields(v));
        } else {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// What differs between two results of the same pattern: `value` (the
/// return value), `task` (another task's line), and the detail's fields.
fn differences(m: &Parsed, o: &Parsed) -> Vec<String> {
    let mut out = Vec::new();
    if m.task != o.task {
        out.push("task".to_string());
    }
    let ((rm, dm), (ro, d_o)) = (split_outcome(&m.result), split_outcome(&o.result));
    if rm != ro {
        out.push("value".to_string());
    }
    let (fm, fo) = (fields(dm), fields(d_o));
    for (k, v) in &fm {
        if fo.iter().find(|(k2, _)| k2 == k).map(|(_, v2)| v2) != Some(v) {
            out.push(k.clone());
        }
    }
    out
}

/// The signature of the first difference of two normalized traces: the
/// model's line `model` and the implementation's `other` (`None`: the trace
/// ended there). `HEAD: linux R1, impl R2`, with `; differs: FIELDS` where
/// the two results have one pattern; an event line (a resumed call, a
/// killed task) one side has and the other has not (the other side's line
/// is then a statement's call) is `(no line)`, and the end of a trace
/// `(end)`.
pub fn signature(model: Option<&str>, other: Option<&str>) -> String {
    let (m, o) = (model.map(parse_line), other.map(parse_line));
    let result = |p: &Parsed| result_pattern(&p.result);
    match (&m, &o) {
        (Some(m), Some(o)) if m.head == o.head => {
            let (rm, ro) = (result(m), result(o));
            let mut s = format!("{}: linux {rm}, impl {ro}", m.head);
            if rm == ro {
                let d = differences(m, o);
                if !d.is_empty() {
                    s += &format!("; differs: {}", d.join(", "));
                }
            }
            s.trim_end().to_string()
        }
        (Some(m), Some(o)) if m.event && !o.event => {
            format!("{}: linux {}, impl (no line)", m.head, result(m))
        }
        (Some(m), Some(o)) if o.event && !m.event => {
            format!("{}: linux (no line), impl {}", o.head, result(o))
        }
        (Some(m), Some(o)) => format!(
            "{}: linux {}, impl {}: {}",
            m.head,
            result(m),
            o.head,
            result(o)
        ),
        (Some(m), None) => format!("{}: linux {}, impl (end)", m.head, result(m)),
        (None, Some(o)) => format!("{}: linux (end), impl {}", o.head, result(o)),
        (None, None) => "(no difference)".into(),
    }
}

/// Numbers in a message as `N`, so that messages about different pids or
/// ids are one.
fn numbers_as_n(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_number = false;
    for c in msg.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// A call the line says the implementation does not have (it returned
/// `ENOSYS`), as its [`call_key`].
fn lacked(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(": ")?;
    let call = parse_call(rest)?;
    call.tail
        .starts_with(" = -1 ENOSYS")
        .then(|| call_key(&call))
}

/// A call as `NAME(…)` with the names of its named arguments
/// (`clone(…, set_tid=…)`), which arguments it had aside: what a missing
/// call's signature names.
fn call_key(call: &Call<'_>) -> String {
    let mut args = vec!["…".to_string()];
    for a in &call.args {
        if let Some((name, _)) = a.split_once('=')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            args.push(format!("{name}=…"));
        }
    }
    format!("{}({})", call.name, args.join(", "))
}

/// Whether a script whose model trace (normalized) is `model` may fall
/// into `class`: its signature's model half is one of these lines', or it
/// names a call one of them makes. A cheap test before the implementation
/// runs a shrinking candidate.
pub fn plausible(model: &[String], class: &Class) -> bool {
    let sig = &class.signature;
    if sig.contains(": linux (no line), ") || sig.contains(": linux (end), ") {
        return true;
    }
    model.iter().any(|l| {
        let p = parse_line(l);
        let call = l
            .split_once(": ")
            .and_then(|(_, rest)| parse_call(rest))
            .map(|c| call_key(&c));
        sig.starts_with(&format!("{}: linux {}", p.head, result_pattern(&p.result)))
            || sig.starts_with(&format!("{}: missing: ", p.head))
            || sig.starts_with(&format!("{}: failure: ", p.head))
            || call.is_some_and(|c| sig.starts_with(&format!("{c}: missing: ENOSYS")))
    })
}

/// The verdict on a script whose normalized traces are `model` (the whole
/// trace) and `other` (the implementation's, up to where it stopped, as
/// `end` says).
pub fn classify(model: &[String], other: &[String], end: &End) -> Verdict {
    let first = (0..model.len().max(other.len())).find(|&i| model.get(i) != other.get(i));
    let stopped = |why: &str, kind: Kind| {
        // The statement it stopped at is the model's next line.
        let head = model
            .get(other.len())
            .map_or_else(|| "(end)".to_string(), |l| parse_line(l).head);
        Verdict::Diverge {
            class: Class {
                kind,
                signature: format!("{head}: {why}"),
            },
            index: other.len(),
        }
    };
    match (first, end) {
        (None, _) => Verdict::Agree,
        // The implementation parted from the model before it stopped.
        (Some(i), _) if i < other.len() || *end == End::Complete => {
            let (m, o) = (
                model.get(i).map(String::as_str),
                other.get(i).map(String::as_str),
            );
            let class = match o.and_then(lacked) {
                Some(call) if m.and_then(lacked).is_none() => Class {
                    kind: Kind::Missing,
                    signature: format!("{call}: missing: ENOSYS"),
                },
                _ => Class {
                    kind: Kind::Wrong,
                    signature: signature(m, o),
                },
            };
            Verdict::Diverge { class, index: i }
        }
        (Some(_), End::Missing(what)) => {
            stopped(&format!("missing: {}", numbers_as_n(what)), Kind::Missing)
        }
        (Some(_), End::Failed(msg)) => {
            stopped(&format!("failure: {}", numbers_as_n(msg)), Kind::Wrong)
        }
        (Some(_), End::Refused(why)) => Verdict::Skip(why.clone()),
        (Some(_), End::Complete) => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests;
