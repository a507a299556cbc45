//! The `nscheck` command line.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use nscheck_model::Dialect;

use crate::backend::linux::LinuxBackend;
use crate::backend::model::ModelBackend;
use crate::backend::{Backend, BackendKind};
use crate::run::{RunError, run_partial};
use crate::script::Script;

/// Differential checker for Linux PID namespaces, System V message queues and MSG_COPY.
#[derive(Debug, Parser)]
#[command(name = "nscheck", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs a script and prints its trace.
    Run {
        /// Which system runs the calls.
        #[arg(long, value_enum, default_value = "model")]
        backend: BackendKind,
        /// Which semantics the model follows.
        #[arg(long, default_value = "mainline")]
        dialect: Dialect,
        /// The script.
        file: PathBuf,
    },
    /// Runs a script on the model and on another backend in lockstep and
    /// compares the traces (and, against concurrent, the IPC state after
    /// every statement).
    Diff {
        /// The backend compared with the model.
        #[arg(long, value_enum, default_value = "linux")]
        against: crate::ops::Against,
        /// The script.
        file: PathBuf,
    },
    /// Generates random scripts and checks the model against the kernel.
    Conform {
        /// The campaign's seed; case N of seed S is always the same script.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop after this many cases.
        #[arg(long, conflicts_with = "time")]
        cases: Option<u64>,
        /// Stop after this many seconds (default 60).
        #[arg(long)]
        time: Option<u64>,
        /// Where a shrunk divergence is written.
        #[arg(long, default_value = "corpus/regressions")]
        regressions: PathBuf,
    },
    /// The default campaign: a time-boxed conformance run (model against
    /// the kernel), then differential fuzzing of the model against the
    /// concurrent implementation, with a summary.
    Check {
        /// The campaign's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The time budget in seconds.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// Where a shrunk divergence is written.
        #[arg(long, default_value = "corpus/regressions")]
        regressions: PathBuf,
    },
    /// Prints generated scripts.
    Gen {
        /// The campaign's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The first case.
        #[arg(long, default_value_t = 0)]
        case: u64,
        /// How many cases.
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// The bug zoo's kill matrix: every deliberate bug of the concurrent
    /// implementation against differential fuzzing (computed here) and
    /// against loom and shuttle (result files of `ci/zoo.sh`), as Markdown.
    /// Needs a build with `--features mutants`; `ci/zoo.sh` runs it all.
    Zoo {
        /// The seed of the fuzzing inputs (those of `nscheck check`).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The fuzzing budget per mutant, in seconds.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// A loom or shuttle results file (`NSCHECK_ZOO_OUT` of their `zoo`
        /// test); one column each.
        #[arg(long)]
        results: Vec<PathBuf>,
    },
    /// Internal: the launcher of the linux backend's tasks (started by
    /// `nscheck` itself in fresh namespaces).
    #[command(name = "__agent", hide = true)]
    Agent,
}

/// Reads and parses a script file; an unreadable file is a script error.
pub fn load_script(path: &std::path::Path) -> Result<Script, RunError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        RunError::Script(crate::script::ScriptError {
            file: name.clone(),
            line: 0,
            msg: format!("cannot read: {e}"),
        })
    })?;
    let src = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        RunError::Script(crate::script::ScriptError {
            file: name.clone(),
            line,
            msg: "the script is not valid UTF-8".to_string(),
        })
    })?;
    Ok(Script::parse(&name, &src)?)
}

/// Makes a backend of `kind`.
pub fn make_backend(kind: BackendKind, dialect: Dialect) -> Result<Box<dyn Backend>, RunError> {
    Ok(match kind {
        BackendKind::Model => Box::new(ModelBackend::new(dialect)),
        BackendKind::Concurrent if dialect != Dialect::Mainline => {
            return Err(RunError::Unavailable(format!(
                "the concurrent backend runs mainline semantics only, not --dialect {dialect}"
            )));
        }
        BackendKind::Concurrent => Box::new(crate::backend::concurrent::ConcurrentBackend::new()),
        BackendKind::Linux => {
            if dialect != Dialect::Mainline {
                return Err(RunError::Unavailable(format!(
                    "the linux backend runs mainline semantics only, not --dialect {dialect}"
                )));
            }
            // The agent is this very executable (`nscheck __agent`).
            let exe = std::env::current_exe().map_err(|e| {
                RunError::Unavailable(format!("cannot find the nscheck executable: {e}"))
            })?;
            Box::new(LinuxBackend::new(&exe).map_err(|e| RunError::Unavailable(e.to_string()))?)
        }
    })
}

/// Runs the CLI; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    use crate::commands;
    match cli.command {
        Command::Diff { against, file } => commands::diff(&file, against),
        Command::Conform {
            seed,
            cases,
            time,
            regressions,
        } => commands::conform(seed, commands::budget(cases, time, 60), regressions),
        Command::Check {
            seed,
            time,
            regressions,
        } => commands::check(seed, time, regressions),
        Command::Gen { seed, case, count } => commands::gen_scripts(seed, case, count),
        Command::Zoo {
            seed,
            time,
            results,
        } => commands::zoo(seed, time, &results),
        Command::Agent => crate::backend::linux::agent_main(),
        Command::Run {
            backend,
            dialect,
            file,
        } => {
            let result = load_script(&file).and_then(|script| {
                let mut b = make_backend(backend, dialect)?;
                Ok(run_partial(&script, b.as_mut()))
            });
            // The trace up to an error is printed too: nothing is lost.
            let (trace, error) = result.unwrap_or_else(|e| (Default::default(), Some(e)));
            let _ = std::io::stdout().lock().write_all(trace.text().as_bytes());
            match error {
                None => 0,
                Some(e) => {
                    eprintln!("{e}");
                    e.exit_code()
                }
            }
        }
    }
}
