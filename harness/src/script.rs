//! Scenario scripts: the parser and the static checks of `SCRIPT.md`.
//!
//! A script parses into [`Stmt`]s. Parsing also checks everything that can be
//! checked before running: call names, argument counts and kinds, constants,
//! and that every name and task is bound before it is used. Every error
//! carries the line it was found on and renders as `FILE:LINE: message`.

use std::collections::BTreeMap;
use std::fmt;

use nscheck_model::abi;

/// A script error, reported as `FILE:LINE: message` with exit code 2
/// (`FILE: message` where no line applies, e.g. a file that cannot be read).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {msg}", if *line == 0 { String::new() } else { format!(":{line}") })]
pub struct ScriptError {
    pub file: String,
    pub line: usize,
    pub msg: String,
}

/// One atom of an integer expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Atom {
    /// A literal, with its source spelling (`0600`, `0x1f`).
    Int { value: i64, src: String },
    /// A symbolic constant, a bound name or a task name.
    Ident(String),
}

/// An argument value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `ATOM | ATOM | ...`, each optionally negated.
    Or(Vec<(bool, Atom)>),
    /// A string literal (bytes after unescaping).
    Str(Vec<u8>),
    /// `[v, ...]`.
    List(Vec<Value>),
    /// `{field=v, ...}`.
    Struct(Vec<(String, Value)>),
}

/// An argument: positional or `name=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: Option<String>,
    pub value: Value,
}

/// The kind of value a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An integer expression (a task name stands for its pid).
    Int,
    /// A string, or an integer N for N bytes `a..z` repeating.
    Text,
    /// A string.
    Str,
    /// A task name.
    Task,
    /// A struct with these fields.
    Struct(&'static [&'static str]),
    /// A list of integers.
    List,
}

/// The signature of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallSpec {
    pub name: &'static str,
    /// Positional parameters.
    pub params: &'static [Kind],
    /// How many trailing positional parameters may be left out.
    pub optional: usize,
    /// Named options.
    pub options: &'static [(&'static str, Kind)],
    /// Whether `NAME =` binds a new task rather than a value.
    pub creates_task: bool,
}

const IPC_SET_FIELDS: &[&str] = &["msg_qbytes", "uid", "gid", "mode"];

/// Every call of the contract, version 1.
pub const CALLS: &[CallSpec] = &[
    spec("msgget", &[Kind::Int, Kind::Int], 0),
    spec("msgsnd", &[Kind::Int, Kind::Int, Kind::Text, Kind::Int], 0),
    spec("msgrcv", &[Kind::Int, Kind::Int, Kind::Int, Kind::Int], 0),
    spec(
        "msgctl",
        &[Kind::Int, Kind::Int, Kind::Struct(IPC_SET_FIELDS)],
        1,
    ),
    spec("sysctl", &[Kind::Str, Kind::Int], 1),
    CallSpec {
        creates_task: true,
        ..spec("fork", &[], 0)
    },
    CallSpec {
        creates_task: true,
        options: &[("set_tid", Kind::List)],
        ..spec("clone", &[Kind::Int], 0)
    },
    spec("unshare", &[Kind::Int], 0),
    spec("exit", &[Kind::Int], 0),
    spec("waitpid", &[Kind::Task], 0),
    spec("getpid", &[], 0),
    spec("getppid", &[], 0),
    spec("setsid", &[], 0),
    spec("getsid", &[Kind::Int], 0),
    spec("setpgid", &[Kind::Int, Kind::Int], 0),
    spec("getpgid", &[Kind::Int], 0),
    spec("pidof", &[Kind::Task], 0),
    spec("setuid", &[Kind::Int], 0),
    spec("setgid", &[Kind::Int], 0),
    spec("capdrop", &[Kind::Int], 0),
];

const fn spec(name: &'static str, params: &'static [Kind], optional: usize) -> CallSpec {
    CallSpec {
        name,
        params,
        optional,
        options: &[],
        creates_task: false,
    }
}

/// Looks up a call's signature.
pub fn call_spec(name: &str) -> Option<&'static CallSpec> {
    CALLS.iter().find(|c| c.name == name)
}

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// The 1-based source line.
    pub line: usize,
    /// The task that makes the call.
    pub task: String,
    /// `NAME =`.
    pub bind: Option<String>,
    pub spec: &'static CallSpec,
    pub args: Vec<Arg>,
}

/// A parsed, statically checked script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The file name used in error messages.
    pub file: String,
    pub stmts: Vec<Stmt>,
}

impl Script {
    /// Parses and checks `src`; `file` names it in error messages.
    pub fn parse(file: &str, src: &str) -> Result<Script, ScriptError> {
        let mut stmts = Vec::new();
        let mut scope = Scope::default();
        for (i, raw) in src.lines().enumerate() {
            let line = i + 1;
            let err = |msg: String| ScriptError {
                file: file.to_string(),
                line,
                msg,
            };
            let toks = lex(raw).map_err(err)?;
            if toks.is_empty() {
                continue;
            }
            let stmt = Parser {
                toks: &toks,
                pos: 0,
                depth: 0,
            }
            .stmt(line)
            .map_err(err)?;
            scope.check(&stmt).map_err(err)?;
            stmts.push(stmt);
        }
        Ok(Script {
            file: file.to_string(),
            stmts,
        })
    }

    /// Renders the script back to source text, one statement a line.
    pub fn to_source(&self) -> String {
        self.stmts.iter().map(|s| format!("{s}\n")).collect()
    }
}

/// What is bound at a point of the script: the static half of name resolution.
#[derive(Default)]
struct Scope {
    /// Names bound so far: `true` for tasks.
    names: BTreeMap<String, bool>,
}

impl Scope {
    fn check(&mut self, s: &Stmt) -> Result<(), String> {
        if s.task != "t0" && self.names.get(&s.task) != Some(&true) {
            return Err(format!("unknown task `{}`", s.task));
        }
        let n = s.args.iter().filter(|a| a.name.is_none()).count();
        let max = s.spec.params.len();
        let min = max - s.spec.optional;
        if n < min || n > max {
            let want = if min == max {
                format!("{max}")
            } else {
                format!("{min} to {max}")
            };
            return Err(format!(
                "{}() takes {want} argument{}, got {n}",
                s.spec.name,
                if max == 1 && min == max { "" } else { "s" }
            ));
        }
        let mut positional = s.spec.params.iter();
        for a in &s.args {
            let kind = match &a.name {
                None => *positional.next().expect("counted"),
                Some(opt) => match s.spec.options.iter().find(|(o, _)| o == opt) {
                    Some(&(_, k)) => k,
                    None => return Err(format!("{}() has no option `{opt}`", s.spec.name)),
                },
            };
            self.check_value(&a.value, kind, s.spec.name)?;
        }
        if s.spec.name == "sysctl"
            && let Some(Arg {
                value: Value::Str(path),
                ..
            }) = s.args.first()
        {
            // The name is quoted escaped, so the message stays one line.
            if nscheck_model::Sysctl::from_path(&String::from_utf8_lossy(path)).is_none() {
                return Err(format!("unknown sysctl \"{}\"", escape(path)));
            }
        }
        if let Some(b) = &s.bind {
            if b == "t0" || abi::constant(b).is_some() {
                return Err(format!("cannot rebind `{b}`"));
            }
            if self.names.get(b) == Some(&true)
                || (s.spec.creates_task && self.names.contains_key(b))
            {
                return Err(format!("`{b}` is already bound"));
            }
            self.names.insert(b.clone(), s.spec.creates_task);
        }
        Ok(())
    }

    fn check_value(&self, v: &Value, kind: Kind, call: &str) -> Result<(), String> {
        let what = match (kind, v) {
            (Kind::Int | Kind::Text, Value::Or(atoms)) => {
                for (_, a) in atoms {
                    if let Atom::Ident(id) = a
                        && id != "t0"
                        && abi::constant(id).is_none()
                        && !self.names.contains_key(id)
                    {
                        let known = abi::CONSTANTS
                            .iter()
                            .map(|(c, _)| *c)
                            .chain(self.names.keys().map(String::as_str));
                        return Err(format!("unknown name `{id}`{}", did_you_mean(id, known)));
                    }
                }
                return Ok(());
            }
            (Kind::Text | Kind::Str, Value::Str(_)) => return Ok(()),
            (Kind::Task, Value::Or(atoms)) => match atoms.as_slice() {
                [(false, Atom::Ident(id))] if id == "t0" || self.names.get(id) == Some(&true) => {
                    return Ok(());
                }
                [(false, Atom::Ident(id))] => return Err(format!("unknown task `{id}`")),
                _ => "a task name",
            },
            (Kind::Struct(fields), Value::Struct(given)) => {
                for (f, fv) in given {
                    if !fields.contains(&f.as_str()) {
                        return Err(format!(
                            "unknown field `{f}` (expected one of: {})",
                            fields.join(", ")
                        ));
                    }
                    self.check_value(fv, Kind::Int, call)?;
                }
                return Ok(());
            }
            (Kind::List, Value::List(items)) => {
                for it in items {
                    self.check_value(it, Kind::Int, call)?;
                }
                return Ok(());
            }
            (Kind::Int, _) => "an integer",
            (Kind::Text, _) => "a string or a byte count",
            (Kind::Str, _) => "a string",
            (Kind::Task, _) => "a task name",
            (Kind::Struct(_), _) => "a struct `{field=value, ...}`",
            (Kind::List, _) => "a list `[...]`",
        };
        Err(format!("{call}() expects {what} here"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Int(u64, String),
    Str(Vec<u8>),
    Punct(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Int(_, s) => write!(f, "`{s}`"),
            Tok::Str(_) => f.write_str("a string"),
            Tok::Punct(c) => write!(f, "`{c}`"),
        }
    }
}

fn lex(line: &str) -> Result<Vec<Tok>, String> {
    let b = line.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => break,
            b' ' | b'\t' | b'\r' => i += 1,
            b':' | b'=' | b'(' | b')' | b',' | b'|' | b'[' | b']' | b'{' | b'}' | b'-' => {
                toks.push(Tok::Punct(c as char));
                i += 1;
            }
            b'"' => {
                let (s, next) = lex_string(b, i + 1)?;
                toks.push(Tok::Str(s));
                i = next;
            }
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                let src = &line[start..i];
                toks.push(Tok::Int(parse_int(src)?, src.to_string()));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                toks.push(Tok::Ident(line[start..i].to_string()));
            }
            _ => {
                let ch = line[i..].chars().next().expect("in bounds");
                return Err(format!("unexpected character `{}`", ch.escape_default()));
            }
        }
    }
    Ok(toks)
}

/// Parses a C integer literal: decimal, `0x` hex or leading-zero octal.
fn parse_int(src: &str) -> Result<u64, String> {
    let (digits, radix) = if let Some(h) = src.strip_prefix("0x").or(src.strip_prefix("0X")) {
        (h, 16)
    } else if src.len() > 1 && src.starts_with('0') {
        (&src[1..], 8)
    } else {
        (src, 10)
    };
    u64::from_str_radix(digits, radix).map_err(|e| format!("bad integer `{src}`: {e}"))
}

/// Reads a string literal body starting after the opening quote.
fn lex_string(b: &[u8], mut i: usize) -> Result<(Vec<u8>, usize), String> {
    let mut out = Vec::new();
    loop {
        let Some(&c) = b.get(i) else {
            return Err("unterminated string".to_string());
        };
        i += 1;
        match c {
            b'"' => return Ok((out, i)),
            b'\\' => {
                let Some(&e) = b.get(i) else {
                    return Err("unterminated string".to_string());
                };
                i += 1;
                let byte = match e {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'v' => 11,
                    b'\\' | b'"' | b'\'' | b'?' => e,
                    b'x' => {
                        let start = i;
                        while i < b.len() && i - start < 2 && b[i].is_ascii_hexdigit() {
                            i += 1;
                        }
                        if i == start {
                            return Err("`\\x` needs hex digits".to_string());
                        }
                        let hex = std::str::from_utf8(&b[start..i]).expect("ascii");
                        u8::from_str_radix(hex, 16).expect("hex digits")
                    }
                    b'0'..=b'7' => {
                        let start = i - 1;
                        while i < b.len() && i - start < 3 && (b'0'..=b'7').contains(&b[i]) {
                            i += 1;
                        }
                        let oct = std::str::from_utf8(&b[start..i]).expect("ascii");
                        u8::try_from(u32::from_str_radix(oct, 8).expect("octal digits"))
                            .map_err(|_| format!("octal escape `\\{oct}` is out of range"))?
                    }
                    _ => {
                        // The line is valid UTF-8, so the escaped character
                        // is decoded whole, and printed escaped itself.
                        let ch = String::from_utf8_lossy(&b[i - 1..])
                            .chars()
                            .next()
                            .expect("in bounds");
                        return Err(format!("unknown escape `\\{}`", ch.escape_debug()));
                    }
                };
                out.push(byte);
            }
            _ => out.push(c),
        }
    }
}

/// How deep lists and structs may nest; deeper input is an error rather
/// than a stack overflow.
const MAX_NESTING: usize = 32;

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    /// How many lists and structs enclose the current value.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k)
    }

    fn next(&mut self) -> Option<&Tok> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(p)) if *p == c => Ok(()),
            Some(t) => Err(format!("expected `{c}`, found {t}")),
            None => Err(format!("expected `{c}` at end of line")),
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s.clone()),
            Some(t) => Err(format!("expected {what}, found {t}")),
            None => Err(format!("expected {what} at end of line")),
        }
    }

    fn stmt(mut self, line: usize) -> Result<Stmt, String> {
        let mut task = "t0".to_string();
        if matches!(self.peek(1), Some(Tok::Punct(':'))) {
            task = self.ident("a task name")?;
            self.pos += 1;
        }
        let mut bind = None;
        if matches!(self.peek(1), Some(Tok::Punct('='))) {
            bind = Some(self.ident("a name")?);
            self.pos += 1;
        }
        let call = self.ident("a call")?;
        let spec = call_spec(&call).ok_or_else(|| {
            let hint = did_you_mean(&call, CALLS.iter().map(|c| c.name));
            format!("unknown call `{call}`{hint}")
        })?;
        self.expect('(')?;
        let mut args = Vec::new();
        if !matches!(self.peek(0), Some(Tok::Punct(')'))) {
            loop {
                let name = match (self.peek(0), self.peek(1)) {
                    (Some(Tok::Ident(n)), Some(Tok::Punct('='))) => {
                        let n = n.clone();
                        self.pos += 2;
                        Some(n)
                    }
                    _ => None,
                };
                if name.is_none() && args.iter().any(|a: &Arg| a.name.is_some()) {
                    return Err("a positional argument follows a named one".to_string());
                }
                args.push(Arg {
                    name,
                    value: self.value()?,
                });
                match self.next() {
                    Some(Tok::Punct(',')) => continue,
                    Some(Tok::Punct(')')) => break,
                    Some(t) => return Err(format!("expected `,` or `)`, found {t}")),
                    None => return Err("expected `)` at end of line".to_string()),
                }
            }
        } else {
            self.pos += 1;
        }
        if let Some(t) = self.peek(0) {
            return Err(format!("unexpected {t} after the call"));
        }
        Ok(Stmt {
            line,
            task,
            bind,
            spec,
            args,
        })
    }

    fn value(&mut self) -> Result<Value, String> {
        if matches!(self.peek(0), Some(Tok::Punct('[' | '{'))) {
            if self.depth == MAX_NESTING {
                return Err(format!(
                    "lists and structs nest too deep (at most {MAX_NESTING} levels)"
                ));
            }
            self.depth += 1;
            let v = self.value_inner();
            self.depth -= 1;
            return v;
        }
        self.value_inner()
    }

    fn value_inner(&mut self) -> Result<Value, String> {
        match self.peek(0) {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(Value::Str(s))
            }
            Some(Tok::Punct('[')) => {
                self.pos += 1;
                let mut items = Vec::new();
                if matches!(self.peek(0), Some(Tok::Punct(']'))) {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                loop {
                    items.push(self.value()?);
                    match self.next() {
                        Some(Tok::Punct(',')) => continue,
                        Some(Tok::Punct(']')) => return Ok(Value::List(items)),
                        Some(t) => return Err(format!("expected `,` or `]`, found {t}")),
                        None => return Err("expected `]` at end of line".to_string()),
                    }
                }
            }
            Some(Tok::Punct('{')) => {
                self.pos += 1;
                let mut fields = Vec::new();
                if matches!(self.peek(0), Some(Tok::Punct('}'))) {
                    self.pos += 1;
                    return Ok(Value::Struct(fields));
                }
                loop {
                    let f = self.ident("a field name")?;
                    self.expect('=')?;
                    if fields.iter().any(|(g, _)| *g == f) {
                        return Err(format!("field `{f}` is given twice"));
                    }
                    fields.push((f, self.value()?));
                    match self.next() {
                        Some(Tok::Punct(',')) => continue,
                        Some(Tok::Punct('}')) => return Ok(Value::Struct(fields)),
                        Some(t) => return Err(format!("expected `,` or `}}`, found {t}")),
                        None => return Err("expected `}` at end of line".to_string()),
                    }
                }
            }
            _ => {
                let mut atoms = vec![self.atom()?];
                while matches!(self.peek(0), Some(Tok::Punct('|'))) {
                    self.pos += 1;
                    atoms.push(self.atom()?);
                }
                Ok(Value::Or(atoms))
            }
        }
    }

    fn atom(&mut self) -> Result<(bool, Atom), String> {
        let neg = matches!(self.peek(0), Some(Tok::Punct('-')));
        if neg {
            self.pos += 1;
        }
        match self.next() {
            Some(Tok::Int(v, src)) => Ok((
                neg,
                Atom::Int {
                    value: *v as i64,
                    src: src.clone(),
                },
            )),
            Some(Tok::Ident(s)) => Ok((neg, Atom::Ident(s.clone()))),
            Some(t) => Err(format!("expected a value, found {t}")),
            None => Err("expected a value at end of line".to_string()),
        }
    }
}

/// `"; did you mean `X`?"` for the closest candidate, if it is within a
/// typo's distance (one edit, or one in four characters).
fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let limit = (word.len() / 4).max(1);
    candidates
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Escapes bytes as a C string body: printable ASCII as is, `\"`, `\\`, `\n`,
/// and `\xHH` for every other byte.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Or(atoms) => {
                for (i, (neg, a)) in atoms.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    if *neg {
                        f.write_str("-")?;
                    }
                    match a {
                        Atom::Int { src, .. } => f.write_str(src)?,
                        Atom::Ident(id) => f.write_str(id)?,
                    }
                }
                Ok(())
            }
            Value::Str(s) => write!(f, "\"{}\"", escape(s)),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Struct(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}={v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = &self.name {
            write!(f, "{n}=")?;
        }
        write!(f, "{}", self.value)
    }
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.task != "t0" {
            write!(f, "{}: ", self.task)?;
        }
        if let Some(b) = &self.bind {
            write!(f, "{b} = ")?;
        }
        write!(f, "{}(", self.spec.name)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        f.write_str(")")
    }
}
