//! Where the agent executable is: the one rule every front end uses.

use std::path::{Path, PathBuf};

/// The `nscheck` executable that serves as the linux backend's agent
/// (`nscheck __agent`):
///
/// 1. this very executable if it is `nscheck` (the command line is its own
///    agent, so the two always speak the same protocol);
/// 2. else `$NSCHECK_AGENT` if set (fuzz targets and tests, which are
///    other executables);
/// 3. else `target/release/nscheck` or `target/debug/nscheck` of this
///    checkout, whichever is newer (build it first with `cargo build`).
pub fn agent_path() -> Result<PathBuf, String> {
    if let Ok(exe) = std::env::current_exe()
        && exe.file_name().is_some_and(|n| n == "nscheck")
    {
        return Ok(exe);
    }
    if let Some(p) = std::env::var_os("NSCHECK_AGENT") {
        return Ok(PathBuf::from(p));
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("nscheck"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .ok_or_else(|| {
            "no nscheck executable for the linux backend's agent: run `cargo build` \
             or set NSCHECK_AGENT"
                .to_string()
        })
}
