//! The static checks of a parsed statement: argument counts and kinds,
//! known constants and sysctls, and names bound before they are used.

use std::collections::BTreeMap;

use nscheck_model::abi;

use super::{Arg, Atom, Kind, Stmt, Value, escape};

/// What is bound at a point of the script: the static half of name resolution.
#[derive(Default)]
pub(super) struct Scope {
    /// Names bound so far: `true` for tasks.
    names: BTreeMap<String, bool>,
}

impl Scope {
    /// Checks `s` against what is bound so far, then binds its name.
    pub(super) fn check(&mut self, s: &Stmt) -> Result<(), String> {
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

/// `"; did you mean `X`?"` for the closest candidate, if it is within a
/// typo's distance (one edit, or one in four characters).
pub(super) fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let limit = (word.len() / 4).max(1);
    candidates
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}
