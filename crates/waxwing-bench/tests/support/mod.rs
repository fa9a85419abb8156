//! A Waxwing server started in-process for the scenario tests, and the
//! command lines to point the bench at it.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use clap::Parser;
use waxwing::{Config, Running};
use waxwing_bench::{Cli, Report};

pub const PASSWORD: &str = "bench pass";

pub struct Server {
    pub running: Running,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// A `localhost` server on ephemeral ports with users u0..u{users-1}.
    pub async fn start(users: usize) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { data_dir: dir.path().join("data"), ..Config::default() };
        config.c2s.listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.c2s.direct_tls_listen = vec!["127.0.0.1:0".parse().unwrap()];
        // Keep PBKDF2 cheap: the minimum RFC 7677 allows.
        config.auth.scram_iterations = 4096;
        let running = waxwing::start(config.clone()).await.expect("server starts");
        for i in 0..users {
            let jid = waxwing::users::account(&config, &format!("u{i}")).unwrap();
            waxwing::users::add(&running.server.store, &config, &jid, PASSWORD).await.unwrap();
        }
        Server { running, config, dir }
    }

    pub fn port(&self) -> u16 {
        self.running.c2s_addrs[0].port()
    }

    pub fn direct_tls_port(&self) -> u16 {
        self.running.direct_tls_addrs[0].port()
    }

    /// The self-signed certificate the server generated, for `--cafile`.
    pub fn cert_file(&self) -> PathBuf {
        self.config.data_dir.join("certs").join("localhost.crt")
    }

    /// `waxwing-bench SUBCOMMAND --port P --password ... --insecure ARGS...`
    /// (without the `--port`/`--insecure` that ARGS replace).
    pub fn cli(&self, subcommand: &str, args: &[&str]) -> Cli {
        let port = self.port().to_string();
        let mut argv = vec!["waxwing-bench", subcommand, "--password", PASSWORD, "--timeout", "5"];
        if !args.contains(&"--port") {
            argv.extend(["--port", &port]);
        }
        if !args.contains(&"--cafile") {
            argv.push("--insecure");
        }
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("valid command line")
    }

    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// Runs the bench and checks the JSON line is valid.
pub async fn bench(cli: Cli) -> Report {
    let report = waxwing_bench::run(cli).await.expect("the run starts");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
    assert!(json["scenario"].is_string(), "{json}");
    report
}

/// `waxwing-bench ARGS...`, for runs not aimed at a test server.
pub fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("waxwing-bench").chain(args.iter().copied())).expect("valid command line")
}
