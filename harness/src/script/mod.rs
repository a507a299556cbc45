//! Scenario scripts: the language of `docs/SCRIPT.md`.
//!
//! A script parses into [`Stmt`]s, line by line: `parse` lexes and parses
//! a line, and `check` then checks everything that can be checked before
//! running: call names, argument counts and kinds, constants, and that
//! every name and task is bound before it is used. Every error carries the
//! line it was found on and renders as `FILE:LINE: message`.

mod check;
mod parse;

use std::fmt;
use std::path::Path;

use check::Scope;
use parse::{Parser, lex};

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
            let stmt = Parser::new(&toks).stmt(line).map_err(err)?;
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

/// Reads and parses a script file; an unreadable file, or one that is not
/// UTF-8, is a script error too.
pub fn load_script(path: &Path) -> Result<Script, ScriptError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ScriptError {
        file: name.clone(),
        line: 0,
        msg: format!("cannot read: {e}"),
    })?;
    let src = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        ScriptError {
            file: name.clone(),
            line,
            msg: "the script is not valid UTF-8".to_string(),
        }
    })?;
    Script::parse(&name, &src)
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
