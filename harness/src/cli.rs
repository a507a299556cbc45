//! The `nscheck` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use nscheck_model::Dialect;

use crate::backend::BackendKind;
use crate::commands;
use crate::coverage::report_after;

/// Differential checker for Linux PID namespaces, System V message queues and MSG_COPY.
#[derive(Debug, Parser)]
#[command(name = "nscheck", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// How a linux or gvisor backend's agent is started: under a command
/// prefix, or with another `runsc`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct WrapArgs {
    /// Run the linux backend's agent under this command prefix (words split
    /// at white space), e.g. `--wrap 'runsc --rootless=false do'`; with
    /// `--backend gvisor` it replaces the preset.
    #[arg(long, value_name = "CMD ARGS")]
    pub wrap: Option<String>,
    /// The `runsc` executable of `--backend gvisor` (else `$NSCHECK_RUNSC`,
    /// else `runsc` on PATH).
    #[arg(long, value_name = "PATH")]
    pub runsc: Option<String>,
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
        #[command(flatten)]
        wrap: WrapArgs,
        /// The script.
        file: PathBuf,
    },
    /// Runs a script on the model and on another backend in lockstep and
    /// compares the traces (and, against concurrent, the IPC state after
    /// every statement).
    Diff {
        /// The backend compared with the model.
        // `--against` is the old name, a hidden alias so that old replay
        // commands still work.
        #[arg(long, alias = "against", value_enum, default_value = "linux")]
        backend: BackendKind,
        /// Which semantics both follow (the concurrent implementation has
        /// the pid designs of `flat2007` and `openvz2006` too).
        #[arg(long, default_value = "mainline")]
        dialect: Dialect,
        #[command(flatten)]
        wrap: WrapArgs,
        /// The script.
        file: PathBuf,
    },
    /// Generates random scripts and checks the model against the kernel;
    /// against another implementation (gVisor, or `--wrap`), or with
    /// `--report`, sorts the divergences into classes.
    Conform {
        /// The backend compared with the model: linux or gvisor.
        #[arg(long, value_enum, default_value = "linux")]
        backend: BackendKind,
        #[command(flatten)]
        wrap: WrapArgs,
        /// The campaign's seed; case N of seed S is always the same script.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop after this many cases.
        #[arg(long, conflicts_with = "time")]
        cases: Option<u64>,
        /// Stop after this many seconds (default 60).
        #[arg(long)]
        time: Option<u64>,
        /// Where a shrunk divergence is written (default
        /// corpus/regressions); of divergence classes, one script a class,
        /// and only where given.
        #[arg(long)]
        regressions: Option<PathBuf>,
        /// Sort divergences into classes and write them to this file as
        /// JSON (`docs/SCRIPT.md`).
        #[arg(long, value_name = "PATH")]
        report: Option<PathBuf>,
        /// Also write the rule coverage table to this file as JSON.
        #[arg(long, value_name = "PATH")]
        coverage: Option<PathBuf>,
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
        /// Also write the rule coverage table to this file as JSON.
        #[arg(long, value_name = "PATH")]
        coverage: Option<PathBuf>,
        /// Fuzz the concurrent implementation with the base input stream
        /// only, without rule steering (for comparison).
        #[arg(long)]
        no_steer: bool,
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
        /// The scripts for another implementation than Linux (those of
        /// `conform --backend gvisor`): queues only by bound names.
        #[arg(long)]
        external: bool,
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
        /// The fuzzing column without rule steering (the base input stream
        /// of `nscheck check --no-steer`).
        #[arg(long)]
        no_steer: bool,
    },
    /// Internal: the launcher of the linux backend's tasks (started by
    /// `nscheck` itself in fresh namespaces).
    #[command(name = "__agent", hide = true)]
    Agent {
        /// Supervise the agents under a command prefix (see
        /// `backend::linux::wrap`).
        #[arg(long)]
        supervise: bool,
    },
}

impl WrapArgs {
    /// Hands the options to the linux backend, once for the process.
    fn configure(self) {
        crate::backend::linux::wrap::configure(self.wrap, self.runsc);
    }
}

/// Runs the CLI; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    match cli.command {
        Command::Diff {
            backend,
            dialect,
            wrap,
            file,
        } => {
            wrap.configure();
            commands::diff(&file, backend, dialect)
        }
        Command::Conform {
            backend,
            wrap,
            seed,
            cases,
            time,
            regressions,
            report,
            coverage,
        } => {
            wrap.configure();
            let budget = commands::budget(cases, time, 60);
            report_after(coverage.as_deref(), || {
                commands::conform_against(backend, seed, budget, regressions, report)
            })
        }
        Command::Check {
            seed,
            time,
            regressions,
            coverage,
            no_steer,
        } => report_after(coverage.as_deref(), || {
            commands::check(seed, time, regressions, !no_steer)
        }),
        Command::Gen {
            seed,
            case,
            count,
            external,
        } => commands::gen_scripts(seed, case, count, external),
        Command::Zoo {
            seed,
            time,
            results,
            no_steer,
        } => commands::zoo(seed, time, &results, !no_steer),
        Command::Agent { supervise } => crate::backend::linux::agent_main(supervise),
        Command::Run {
            backend,
            dialect,
            wrap,
            file,
        } => {
            wrap.configure();
            commands::run(&file, backend, dialect)
        }
    }
}
