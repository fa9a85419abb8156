//! Each scenario against an in-process Waxwing server, with small numbers.
//! No timing assertions: only that the runs complete and count correctly.

mod support;

use support::{Server, bench};
use waxwing_bench::Report;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_all_succeed() {
    let server = Server::start(20).await;
    let Report::Login(r) = bench(server.cli("login", &["--users", "20", "--concurrency", "5"])).await else {
        panic!("not a login report")
    };
    assert_eq!((r.ok, r.failed), (20, 0), "{r:?}");
    assert!(r.warmup);
    assert!(r.latency_ms.p50 > 0.0 && r.latency_ms.max >= r.latency_ms.p99, "{r:?}");
    assert_eq!(r.close_errors, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_direct_tls_pinned_certificate_and_other_mechanisms() {
    let server = Server::start(4).await;
    let cafile = server.cert_file();
    let port = server.direct_tls_port().to_string();
    for mechanism in ["SCRAM-SHA-1", "PLAIN"] {
        let cli = server.cli(
            "login",
            &[
                "--users",
                "4",
                "--tls",
                "direct",
                "--port",
                &port,
                "--cafile",
                cafile.to_str().unwrap(),
                "--mechanism",
                mechanism,
            ],
        );
        let Report::Login(r) = bench(cli).await else { panic!("not a login report") };
        assert_eq!((r.ok, r.failed), (4, 0), "{mechanism}: {r:?}");
        assert_eq!(r.info.tls, "direct");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_counted_failure() {
    let server = Server::start(3).await;
    let mut cli = server.cli("login", &["--users", "3", "--no-warmup"]);
    if let waxwing_bench::Command::Login(opts) = &mut cli.command {
        opts.connect.password = "wrong".into();
    }
    let report = bench(cli).await;
    assert!(!report.measured_something());
    let Report::Login(r) = report else { panic!("not a login report") };
    assert_eq!(r.ok, 0);
    assert_eq!(r.failures.get("sasl:not-authorized"), Some(&3), "{r:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_connect_refused() {
    // Bind and drop a listener to get a port that is (very likely) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let cli = support::cli(&["login", "--port", &port, "--insecure", "--users", "2"]);
    let Report::Login(r) = bench(cli).await else { panic!("not a login report") };
    assert_eq!(r.failures.get("connect:refused"), Some(&2), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_window_no_loss() {
    let server = Server::start(10).await;
    let args = ["--pairs", "5", "--window", "8", "--duration", "2", "--warmup", "0.5", "--drain", "5"];
    let Report::Messages(r) = bench(server.cli("messages", &args)).await else { panic!("not a messages report") };
    assert_eq!(r.active_pairs, 5, "{r:?}");
    assert!(r.delivered > 0, "{r:?}");
    assert_eq!((r.lost, r.duplicated, r.out_of_order, r.unexpected), (0, 0, 0, 0), "{r:?}");
    assert!(r.failures.is_empty(), "{r:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_rate_no_loss() {
    let server = Server::start(6).await;
    let args =
        ["--pairs", "3", "--rate", "300", "--duration", "2", "--warmup", "0.5", "--source-ips", "127.0.0.1-127.0.0.3"];
    let Report::Messages(r) = bench(server.cli("messages", &args)).await else { panic!("not a messages report") };
    assert_eq!(r.mode, "rate");
    assert!(r.delivered > 0, "{r:?}");
    assert_eq!((r.lost, r.duplicated, r.unexpected), (0, 0, 0), "{r:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_runs_the_command_once_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("users.txt");
    let template = format!("sh -c 'echo \"$1 $2\" >> \"$3\"' sh {{jid}} {{password}} {}", out.display());
    let cli =
        support::cli(&["register", "--users", "7", "--concurrency", "3", "--password", "p w", "--command", &template]);
    let Report::Register(r) = bench(cli).await else { panic!("not a register report") };
    assert_eq!((r.ok, r.failed, r.method), (7, 0, "command"), "{r:?}");
    let mut lines: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(String::from).collect();
    lines.sort();
    let mut expected: Vec<String> = (0..7).map(|i| format!("u{i}@localhost p w")).collect();
    expected.sort();
    assert_eq!(lines, expected);

    let cli = support::cli(&["register", "--users", "2", "--command", "false"]);
    let Report::Register(r) = bench(cli).await else { panic!("not a register report") };
    assert_eq!(r.failures.get("command:exit-1"), Some(&2), "{r:?}");
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_sets_up_rosters_and_loses_nothing() {
    let server = Server::start(10).await;
    // 10 users, 4 contacts: 10 / (4/2 + 1) = 3 changers per round, each
    // sending 2 changes that 4 contacts must get.
    let args = ["--users", "10", "--contacts", "4", "--rounds", "10"];
    let Report::Presence(r) = bench(server.cli("presence", &args)).await else { panic!("not a presence report") };
    assert_eq!((r.setup.already, r.setup.completed, r.setup.failed), (0, 10, 0), "{r:?}");
    assert_eq!((r.online, r.rounds, r.changers_per_round, r.mode), (10, 10, 3, "toggle"), "{r:?}");
    assert_eq!((r.changes, r.expected, r.delivered), (60, 240, 240), "{r:?}");
    assert_eq!((r.lost, r.duplicated, r.out_of_order, r.unexpected, r.presence_errors), (0, 0, 0, 0, 0), "{r:?}");
    // Changers coming back get their contacts' stamped presence again.
    assert!(r.probe_replies > 0, "{r:?}");
    assert!(r.failures.is_empty() && r.close_errors == 0, "{r:?}");

    // Again, logging out and in: the rosters are already complete.
    let args = ["--users", "10", "--contacts", "4", "--rounds", "10", "--relogin"];
    let Report::Presence(r) = bench(server.cli("presence", &args)).await else { panic!("not a presence report") };
    assert_eq!((r.setup.already, r.setup.completed), (10, 0), "{r:?}");
    assert_eq!((r.mode, r.logins, r.expected, r.delivered), ("relogin", 40, 240, 240), "{r:?}");
    assert_eq!((r.lost, r.duplicated, r.unexpected), (0, 0, 0), "{r:?}");
    assert!(r.failures.is_empty(), "{r:?}");

    // Fewer contacts: setup removes the others, which then get nothing.
    let args = ["--users", "10", "--contacts", "2", "--rounds", "5"];
    let Report::Presence(r) = bench(server.cli("presence", &args)).await else { panic!("not a presence report") };
    assert_eq!((r.setup.already, r.setup.completed, r.setup.failed), (0, 10, 0), "{r:?}");
    assert_eq!((r.changers_per_round, r.expected, r.delivered), (5, 100, 100), "{r:?}");
    assert_eq!((r.lost, r.duplicated, r.unexpected), (0, 0, 0), "{r:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_rejects_odd_or_too_many_contacts() {
    for contacts in ["3", "10"] {
        let cli = support::cli(&["presence", "--insecure", "--users", "10", "--contacts", contacts]);
        assert!(waxwing_bench::run(cli).await.is_err(), "--contacts {contacts}");
    }
}
