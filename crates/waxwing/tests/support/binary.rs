//! The `waxwing` binary as a child process: a data directory and a config
//! with fixed ports (so a restarted server is found where the last one was).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

pub const BIN: &str = env!("CARGO_BIN_EXE_waxwing");

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub c2s: SocketAddr,
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A fresh data directory and a config for it, with cheap PBKDF2.
pub fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let c2s = free_port();
    let direct = free_port();
    let config = dir.path().join("waxwing.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[c2s]\nlisten = [\"{c2s}\"]\ndirect_tls_listen = [\"{direct}\"]\n[auth]\nscram_iterations = 4096\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    Setup { dir, config, c2s }
}
