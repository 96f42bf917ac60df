//! nginx: the installed binary (the stack script starts it; tests also check configs with it).

use super::super::process::{clean_command, find_binary, must_succeed};
use std::path::{Path, PathBuf};

pub fn nginx_binary() -> PathBuf {
    find_binary("nginx", &["/usr/sbin"])
}

/// `nginx -t` of `conf`, with `dir` as nginx's prefix; panics with nginx's complaint.
pub fn check_config(dir: &Path, conf: &Path) {
    let prefix = format!("{}/", dir.display());
    must_succeed(
        clean_command(nginx_binary())
            .args(["-t", "-p", &prefix, "-c"])
            .arg(conf)
            .args(["-e", "stderr"]),
    );
}
