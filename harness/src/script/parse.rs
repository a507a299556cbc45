//! The lexer and the parser of one script line.

use std::fmt;

use super::check::did_you_mean;
use super::{Arg, Atom, CALLS, Stmt, Value, call_spec};

/// A token of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
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

/// The tokens of `line`, up to a comment.
pub(super) fn lex(line: &str) -> Result<Vec<Tok>, String> {
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

/// A parser of one line's tokens.
pub(super) struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    /// How many lists and structs enclose the current value.
    depth: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(toks: &'a [Tok]) -> Parser<'a> {
        Parser {
            toks,
            pos: 0,
            depth: 0,
        }
    }

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

    /// The statement of line number `line`.
    pub(super) fn stmt(mut self, line: usize) -> Result<Stmt, String> {
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
