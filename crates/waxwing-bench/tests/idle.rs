//! `idle` in its own test binary: it measures the RSS of this process (the
//! server runs in-process), which other tests running in parallel threads
//! would disturb.

mod support;

use support::{Server, bench};
use waxwing_bench::Report;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_reports_memory_per_session() {
    let server = Server::start(40).await;
    let pid = std::process::id().to_string();
    let args = ["--users", "40", "--concurrency", "10", "--pid", &pid, "--settle", "0.3"];
    let Report::Idle(r) = bench(server.cli("idle", &args)).await else { panic!("not an idle report") };
    assert_eq!((r.established, r.failed, r.dropped), (40, 0, 0), "{r:?}");
    assert!(r.kib_per_session.unwrap() > 0.0, "{r:?}");
    assert_eq!(r.close_errors, 0, "{r:?}");
    server.shutdown().await;
}
