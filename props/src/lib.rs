//! Structured generators of plausible scripts, for the parser's properties.
//!
//! Random bytes rarely get past the lexer, so [`GenScript`] builds scripts
//! from the grammar of `docs/SCRIPT.md` instead: real call names with arguments
//! of the kinds their signatures ask for, names from a small pool (so that
//! binds and uses meet), real constants and sysctls, and now and then a
//! wrong kind, a wrong count, an unknown name or a damaged line, so that the
//! error paths are reached from deep inside valid scripts too. Rendering
//! the value gives source text for `nscheck::fuzzing::check_parse_str`.
//!
//! Every test target of this package links bolero, because `cargo bolero`
//! builds all of them with coverage instrumentation that only bolero's
//! fuzzing engines provide the runtime for.

use std::fmt::Write as _;

use bolero::TypeGenerator;
use nscheck::script::{CALLS, Kind};

/// Names that scripts bind and use: task names and value names alike.
const NAMES: &[&str] = &["t0", "c", "d", "q", "r", "x"];

/// The symbolic constants of `docs/SCRIPT.md`, then two that do not exist.
const CONSTANTS: &[&str] = &[
    "IPC_PRIVATE",
    "IPC_CREAT",
    "IPC_EXCL",
    "IPC_NOWAIT",
    "MSG_NOERROR",
    "MSG_EXCEPT",
    "MSG_COPY",
    "IPC_STAT",
    "IPC_SET",
    "IPC_RMID",
    "IPC_INFO",
    "MSG_INFO",
    "MSG_STAT",
    "MSG_STAT_ANY",
    "CLONE_NEWPID",
    "CLONE_NEWIPC",
    "LONG_MIN",
    "LONG_MAX",
    "CAP_SYS_ADMIN",
    "CAP_SYS_RESOURCE",
    "CAP_IPC_OWNER",
    "CAP_CHECKPOINT_RESTORE",
    "IPC_FOO",
    "CAP_NOPE",
];

/// The sysctls of `docs/SCRIPT.md`, then two that do not exist.
const SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.msg_next_id",
    "kernel.ns_last_pid",
    "kernel.pid_max",
    "kernel.shmmax",
    "msgmax",
];

/// The fields of `IPC_SET`, then one that does not exist.
const FIELDS: &[&str] = &["msg_qbytes", "uid", "gid", "mode", "bogus"];

/// Integer spellings the lexer must reject.
const BAD_INTS: &[&str] = &["09", "0x", "0xZZ", "1a", "99999999999999999999", "0X"];

/// Text spliced into a line to damage it.
const JUNK: &[&str] = &[
    "(", ")", ",", "[", "]", "{", "}", "=", ":", "|", "-", "\"", "\\", "#", ";", ".", "é", "\t",
];

/// Picks `pool[i % pool.len()]`.
fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[usize::from(i) % pool.len()]
}

/// What rendering knows: whether this statement is to be valid, and what
/// is bound so far.
struct Ctx {
    /// Render a statement that should parse: real names only, bound names
    /// only, the right kinds and counts, no damage.
    clean: bool,
    /// Task names bound so far, `t0` first.
    tasks: Vec<&'static str>,
    /// Value names bound so far.
    values: Vec<&'static str>,
}

impl Ctx {
    /// A name to use as a value: any name, or in a clean statement a bound one.
    fn name(&self, i: u8) -> &'static str {
        if self.clean {
            let bound: Vec<_> = self.tasks.iter().chain(&self.values).copied().collect();
            pick(&bound, i)
        } else {
            pick(NAMES, i)
        }
    }

    /// A task name: any name, or in a clean statement a bound task.
    fn task(&self, i: u8) -> &'static str {
        if self.clean {
            pick(&self.tasks, i)
        } else {
            pick(NAMES, i)
        }
    }

    /// Picks from `pool`, whose last `bogus` entries are wrong on purpose and
    /// left out of clean statements.
    fn pick_real<'a>(&self, pool: &[&'a str], bogus: usize, i: u8) -> &'a str {
        if self.clean {
            pick(&pool[..pool.len() - bogus], i)
        } else {
            pick(pool, i)
        }
    }
}

/// One operand of an integer expression.
#[derive(Clone, Debug, TypeGenerator)]
pub enum GenAtom {
    /// A decimal literal.
    Dec(u16),
    /// A C octal literal (`0600`).
    Octal(u16),
    /// A hex literal (`0x1f`).
    Hex(u32),
    /// A literal at the edges of the integer range.
    Wide(u64),
    /// A symbolic constant, or an unknown one.
    Constant(u8),
    /// A bound name or a task name.
    Name(u8),
    /// A malformed integer.
    Bad(u8),
}

impl GenAtom {
    fn render(&self, ctx: &Ctx, out: &mut String) {
        match self {
            GenAtom::Dec(v) => write!(out, "{v}"),
            GenAtom::Octal(v) => write!(out, "0{v:o}"),
            GenAtom::Hex(v) => write!(out, "0x{v:x}"),
            GenAtom::Wide(v) => write!(out, "{v}"),
            GenAtom::Constant(i) => write!(out, "{}", ctx.pick_real(CONSTANTS, 2, *i)),
            GenAtom::Name(i) => write!(out, "{}", ctx.name(*i)),
            GenAtom::Bad(i) if ctx.clean => write!(out, "{i}"),
            GenAtom::Bad(i) => write!(out, "{}", pick(BAD_INTS, *i)),
        }
        .expect("writing to a String");
    }
}

/// `ATOM | ATOM | ...`, each optionally negated.
#[derive(Clone, Debug, TypeGenerator)]
pub struct GenInt {
    pub first: (bool, GenAtom),
    #[generator(Vec::produce().with().len(0usize..=3))]
    pub rest: Vec<(bool, GenAtom)>,
}

impl GenInt {
    fn render(&self, ctx: &Ctx, out: &mut String) {
        for (i, (neg, atom)) in std::iter::once(&self.first).chain(&self.rest).enumerate() {
            if i > 0 {
                out.push('|');
            }
            if *neg {
                out.push('-');
            }
            atom.render(ctx, out);
        }
    }
}

/// A string literal.
#[derive(Clone, Debug, TypeGenerator)]
pub enum GenStr {
    /// A sysctl name, or an unknown one.
    Sysctl(u8),
    /// Bytes, written escaped as the trace writes them.
    Escaped(#[generator(Vec::produce().with().len(0usize..=12))] Vec<u8>),
    /// Characters written as they are, with `"` and `\` escaped.
    Raw(#[generator(Vec::produce().with().len(0usize..=12))] Vec<char>),
    /// Octal escapes, some out of range.
    Octal(u16),
}

impl GenStr {
    fn render(&self, ctx: &Ctx, out: &mut String) {
        out.push('"');
        match self {
            GenStr::Sysctl(i) => out.push_str(ctx.pick_real(SYSCTLS, 2, *i)),
            GenStr::Escaped(bytes) => out.push_str(&nscheck::script::escape(bytes)),
            GenStr::Raw(chars) => {
                for &c in chars {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            GenStr::Octal(v) if ctx.clean => {
                write!(out, "\\{:o}", v % 0o400).expect("writing to a String")
            }
            GenStr::Octal(v) => write!(out, "\\{:o}", v % 0o1000).expect("writing to a String"),
        }
        out.push('"');
    }
}

/// One argument, with a value ready for every kind a parameter may take:
/// rendering uses the one the call's signature asks for, unless `wild`
/// overrides it.
#[derive(Clone, Debug, TypeGenerator)]
pub struct GenArg {
    pub int: GenInt,
    pub text: Option<GenStr>,
    pub task: u8,
    #[generator(Vec::produce().with().len(0usize..=4))]
    pub fields: Vec<(u8, GenInt)>,
    #[generator(Vec::produce().with().len(0usize..=3))]
    pub list: Vec<GenInt>,
    /// Another kind of value than the signature asks for.
    pub wild: Option<GenWild>,
}

/// A value of any kind, to put where another kind belongs.
#[derive(Clone, Debug, TypeGenerator)]
pub enum GenWild {
    Int(GenInt),
    Str(GenStr),
    List(#[generator(Vec::produce().with().len(0usize..=3))] Vec<GenInt>),
    Struct(#[generator(Vec::produce().with().len(0usize..=3))] Vec<(u8, GenInt)>),
    /// Lists nested this deep around an integer (the parser allows 32).
    Nested(#[generator(0u8..40)] u8),
}

impl GenArg {
    fn render(&self, kind: Kind, ctx: &Ctx, out: &mut String) {
        if let Some(w) = self.wild.as_ref().filter(|_| !ctx.clean) {
            match w {
                GenWild::Int(v) => v.render(ctx, out),
                GenWild::Str(s) => s.render(ctx, out),
                GenWild::List(items) => render_list(items, ctx, out),
                GenWild::Struct(fields) => render_struct(fields, ctx, out),
                GenWild::Nested(depth) => {
                    let depth = usize::from(*depth);
                    out.push_str(&"[".repeat(depth));
                    out.push('1');
                    out.push_str(&"]".repeat(depth));
                }
            }
            return;
        }
        match kind {
            Kind::Int => self.int.render(ctx, out),
            Kind::Text => match &self.text {
                Some(s) => s.render(ctx, out),
                None => self.int.render(ctx, out),
            },
            // A clean statement names a real sysctl, the only string a
            // `Str` parameter takes.
            Kind::Str => match &self.text {
                Some(s) if !ctx.clean => s.render(ctx, out),
                _ => GenStr::Sysctl(self.task).render(ctx, out),
            },
            Kind::Task => out.push_str(ctx.task(self.task)),
            Kind::Struct(_) => render_struct(&self.fields, ctx, out),
            Kind::List => render_list(&self.list, ctx, out),
        }
    }
}

fn render_list(items: &[GenInt], ctx: &Ctx, out: &mut String) {
    out.push('[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        v.render(ctx, out);
    }
    out.push(']');
}

fn render_struct(fields: &[(u8, GenInt)], ctx: &Ctx, out: &mut String) {
    out.push('{');
    let mut seen = Vec::new();
    for (f, v) in fields {
        let f = ctx.pick_real(FIELDS, 1, *f);
        // A field given twice is an error, so clean statements skip it.
        if ctx.clean && seen.contains(&f) {
            continue;
        }
        if !seen.is_empty() {
            out.push_str(", ");
        }
        seen.push(f);
        out.push_str(f);
        out.push('=');
        v.render(ctx, out);
    }
    out.push('}');
}

/// Damage done to a rendered line.
#[derive(Clone, Debug, TypeGenerator)]
pub enum GenDamage {
    /// Insert junk at a position (taken modulo the line's length).
    Insert(u16, u8),
    /// Cut the line short at a position.
    Truncate(u16),
}

/// One line of a script.
#[derive(Clone, Debug, TypeGenerator)]
pub struct GenStmt {
    /// Below [`CHAOS`], the statement may be wrong in any of the ways below;
    /// otherwise it is rendered to parse.
    pub chaos: u8,
    /// `TASK:`.
    pub task: Option<u8>,
    /// `NAME =`.
    pub bind: Option<u8>,
    /// An index into the calls; one past the end is an unknown call.
    pub call: u8,
    #[generator(Vec::produce().with().len(0usize..=4))]
    pub args: Vec<GenArg>,
    /// Leave out the optional parameters.
    pub short: bool,
    /// Add one positional argument too many.
    pub extra: bool,
    /// `set_tid=[...]`, for `clone` (or for any call, if `.0`).
    pub set_tid: Option<(bool, GenInt)>,
    /// A comment after the call.
    pub comment: bool,
    /// A blank or comment line before this one.
    pub blank: bool,
    pub damage: Option<GenDamage>,
}

/// One statement in about ten may be wrong on purpose.
const CHAOS: u8 = 24;

impl GenStmt {
    fn render(&self, ctx: &mut Ctx, out: &mut String) {
        ctx.clean = self.chaos >= CHAOS;
        if self.blank {
            out.push_str("  # a comment line\n\n");
        }
        let calls = if ctx.clean {
            CALLS.len()
        } else {
            CALLS.len() + 1
        };
        let spec = CALLS.get(usize::from(self.call) % calls);
        let mut line = String::new();
        if let Some(t) = self.task {
            write!(line, "{}: ", ctx.task(t)).expect("writing to a String");
        }
        let creates_task = spec.is_some_and(|s| s.creates_task);
        let bind = self.bind.and_then(|b| {
            if !ctx.clean {
                return Some(pick(NAMES, b));
            }
            // A new task needs a fresh name; a value may not reuse a task's.
            let free: Vec<_> = NAMES
                .iter()
                .copied()
                .filter(|n| !(ctx.tasks.contains(n) || creates_task && ctx.values.contains(n)))
                .collect();
            (!free.is_empty()).then(|| pick(&free, b))
        });
        if let Some(b) = bind {
            write!(line, "{b} = ").expect("writing to a String");
        }
        line.push_str(spec.map_or("frob", |s| s.name));
        line.push('(');
        let params: &[Kind] = spec.map_or(&[Kind::Int], |s| {
            if self.short {
                &s.params[..s.params.len() - s.optional]
            } else {
                s.params
            }
        });
        let default = GenArg {
            int: GenInt {
                first: (false, GenAtom::Dec(0)),
                rest: Vec::new(),
            },
            text: None,
            task: 0,
            fields: Vec::new(),
            list: Vec::new(),
            wild: None,
        };
        let count = params.len() + usize::from(self.extra && !ctx.clean);
        for i in 0..count {
            if i > 0 {
                line.push_str(", ");
            }
            let arg = self.args.get(i).unwrap_or(&default);
            arg.render(params.get(i).copied().unwrap_or(Kind::Int), ctx, &mut line);
        }
        if let Some((any_call, list)) = &self.set_tid
            && ((*any_call && !ctx.clean) || spec.is_some_and(|s| s.name == "clone"))
        {
            if count > 0 {
                line.push_str(", ");
            }
            line.push_str("set_tid=");
            render_list(std::slice::from_ref(list), ctx, &mut line);
        }
        line.push(')');
        if self.comment {
            line.push_str("  # why");
        }
        match self.damage.as_ref().filter(|_| !ctx.clean) {
            None => {}
            Some(GenDamage::Insert(at, junk)) => {
                let at = char_boundary(&line, usize::from(*at));
                line.insert_str(at, pick(JUNK, *junk));
            }
            Some(GenDamage::Truncate(at)) => {
                let at = char_boundary(&line, usize::from(*at));
                line.truncate(at);
            }
        }
        out.push_str(&line);
        out.push('\n');
        if let Some(b) = bind {
            if creates_task {
                ctx.tasks.push(b);
            } else if !ctx.values.contains(&b) {
                ctx.values.push(b);
            }
        }
    }
}

/// The char boundary at or before `at % (len + 1)`.
fn char_boundary(s: &str, at: usize) -> usize {
    let mut at = at % (s.len() + 1);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A whole script: a few statements.
#[derive(Clone, Debug, TypeGenerator)]
pub struct GenScript {
    #[generator(Vec::produce().with().len(1usize..=8))]
    pub stmts: Vec<GenStmt>,
}

impl GenScript {
    /// The script's source text.
    pub fn render(&self) -> String {
        let mut ctx = Ctx {
            clean: true,
            tasks: vec!["t0"],
            values: Vec::new(),
        };
        let mut out = String::new();
        for s in &self.stmts {
            s.render(&mut ctx, &mut out);
        }
        out
    }
}
