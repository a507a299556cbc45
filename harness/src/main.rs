//! The `nscheck` binary.

use clap::Parser;

fn main() {
    // Clap reports a bad flag with exit code 2, as the project requires.
    let cli = nscheck::cli::Cli::parse();
    std::process::exit(nscheck::cli::main(cli));
}
