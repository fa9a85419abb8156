//! Interop with a real client library, slixmpp:
//! - two clients log in (SCRAM-SHA-256, over STARTTLS and over direct TLS),
//!   exchange a message between full JIDs and close their streams
//!   (`tests/interop/slixmpp_chat.py`);
//! - two users add each other, see each other's presence come and go, chat,
//!   and get the messages sent while they were offline
//!   (`tests/interop/slixmpp_im.py`).
//!
//! Needs `python3` with slixmpp (`pip install -r tests/interop/requirements.txt`).
//! Without it the test is skipped, unless `CI=true`, where it fails.
//! `PYTHON` selects another interpreter.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Upper bound for the whole script (it bounds each of its own steps too).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

/// Whether `python -c 'import slixmpp'` works; the reason if not.
fn slixmpp_available() -> Result<(), String> {
    match Command::new(python()).args(["-c", "import slixmpp"]).stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(format!("cannot run {}: {e}", python())),
    }
}

/// Runs `cmd` with stdout/stderr sent to files under `dir`, killing it after
/// `timeout`. Returns (success, stdout, stderr).
fn run_bounded(mut cmd: Command, dir: &Path, timeout: Duration) -> (bool, String, String) {
    let out_path = dir.join("script.stdout");
    let err_path = dir.join("script.stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {timeout:?})"));
    }
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

/// Skips (or, under `CI=true`, fails) when slixmpp is missing; true to go on.
fn require_slixmpp() -> bool {
    let Err(why) = slixmpp_available() else { return true };
    let msg = format!(
        "slixmpp is not importable with `{}` ({why}); install it with `pip install slixmpp` \
         (or `pip install -r tests/interop/requirements.txt`)",
        python()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED slixmpp interop test: {msg}");
    false
}

/// Runs one interop script with `args` against `server`; returns its stdout.
async fn run_script(server: &TestServer, script: &str, args: &[String]) -> String {
    let mut cmd = Command::new(python());
    cmd.arg(interop_dir().join(script)).args(args);
    let dir = server.dir.path().to_path_buf();
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_bounded(cmd, &dir, SCRIPT_TIMEOUT)).await.unwrap();
    println!("{stdout}");
    assert!(ok, "{script} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
    stdout
}

async fn two_users_server() -> (TestServer, String) {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let cert = server.config.data_dir.join("certs/localhost.crt");
    assert!(cert.is_file(), "self-signed certificate expected at {}", cert.display());
    (server, cert.display().to_string())
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// Multi-threaded: the server keeps running on the runtime while a blocking
// thread waits for the Python process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slixmpp_logs_in_and_chats_over_starttls_and_direct_tls() {
    if !require_slixmpp() {
        return;
    }
    let (mut server, cert) = two_users_server().await;
    let starttls = server.c2s_addr().port().to_string();
    let direct = server.direct_tls_addr().port().to_string();
    let stdout = run_script(
        &server,
        "slixmpp_chat.py",
        &args(&[
            "--host",
            "127.0.0.1",
            "--starttls-port",
            &starttls,
            "--direct-tls-port",
            &direct,
            "--cafile",
            &cert,
            "--jid-a",
            "alice@localhost",
            "--jid-b",
            "bob@localhost",
            "--password",
            PASSWORD,
            "--timeout",
            "20",
        ]),
    )
    .await;
    for transport in ["starttls", "direct-tls"] {
        assert!(stdout.contains(&format!("[{transport}]")), "{transport} round missing:\n{stdout}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slixmpp_users_subscribe_see_presence_chat_and_get_offline_messages() {
    if !require_slixmpp() {
        return;
    }
    let (mut server, cert) = two_users_server().await;
    let port = server.c2s_addr().port().to_string();
    let stdout = run_script(
        &server,
        "slixmpp_im.py",
        &args(&[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--cafile",
            &cert,
            "--jid-a",
            "alice@localhost",
            "--jid-b",
            "bob@localhost",
            "--password",
            PASSWORD,
            "--timeout",
            "20",
        ]),
    )
    .await;
    for step in ["rosters:", "chat:", "A saw B go offline", "offline: B got both", "A saw B come back"] {
        assert!(stdout.contains(step), "step {step:?} missing:\n{stdout}");
    }
    // The subscription is stored: both rosters say "both".
    let store = &server.running().server.store;
    for (user, contact) in [("alice", "bob@localhost"), ("bob", "alice@localhost")] {
        let item = store.roster().item("localhost", user, contact).await.unwrap().expect("roster item");
        assert_eq!(item.subscription.as_str(), "both", "{user}'s roster");
    }
    server.shutdown().await;
}
