//! `register`: create the benchmark accounts PREFIX0..PREFIX{N-1}.
//!
//! - By default with XEP-0077 in-band registration: one TLS connection per
//!   user sending `<query xmlns='jabber:iq:register'>` with username and
//!   password. Many servers disable it (Waxwing has none); then use:
//! - `--command TEMPLATE`: one process per user, e.g.
//!   `prosodyctl register {user} {domain} {password}`. The template is
//!   split into words first and the placeholders replaced inside each word,
//!   so a password with spaces or quotes stays one argument and nothing is
//!   ever interpreted by a shell (unless the template calls one).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{for_each_concurrent, positive};
use crate::cli::RegisterOpts;
use crate::client::{self, Connection};
use crate::failure::{Failure, FailureCounts, Step};
use crate::progress::{Counters, Progress};
use crate::stats::round3;
use crate::target::{RunInfo, Target};

/// The JSON result of `register`.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterReport {
    #[serde(flatten)]
    pub info: RunInfo,
    /// `"in-band"` or `"command"`.
    pub method: &'static str,
    pub users: usize,
    pub concurrency: usize,
    pub ok: u64,
    pub failed: u64,
    /// By cause: `register:conflict` (already exists), `command:exit-1`, ...
    pub failures: BTreeMap<String, u64>,
    pub per_sec: f64,
    pub duration_s: f64,
}

/// Failing commands whose stderr is shown, so the cause can be read
/// without drowning the terminal.
const SHOWN_COMMAND_ERRORS: usize = 3;

pub async fn run(opts: RegisterOpts) -> Result<RegisterReport, String> {
    let users = positive("--users", opts.users)?;
    let concurrency = positive("--concurrency", opts.concurrency)?;
    let counters = Counters::new();
    let started = Instant::now();
    let progress = Progress::counting("register", counters.clone(), users);
    let (method, results) = match &opts.command {
        Some(template) => {
            let words = split_words(template)?;
            if words.is_empty() {
                return Err("--command is empty".into());
            }
            let job = Arc::new(CommandJob {
                words,
                prefix: opts.connect.user_prefix.clone(),
                domain: opts.connect.domain.clone(),
                password: opts.connect.password.clone(),
                timeout: Duration::from_secs_f64(opts.connect.timeout.max(0.001)),
                shown: AtomicUsize::new(0),
            });
            let counters = counters.clone();
            let results = for_each_concurrent(users, concurrency, move |i| {
                let (job, counters) = (job.clone(), counters.clone());
                async move {
                    let result = job.run(i).await;
                    counters.finished(result.is_ok());
                    result
                }
            })
            .await;
            ("command", results)
        }
        None => {
            let target = Arc::new(Target::resolve(&opts.connect).await?);
            let counters = counters.clone();
            let results = for_each_concurrent(users, concurrency, move |i| {
                let (target, counters) = (target.clone(), counters.clone());
                async move {
                    let result = in_band(&target, &target.user(i)).await;
                    counters.finished(result.is_ok());
                    result
                }
            })
            .await;
            ("in-band", results)
        }
    };
    drop(progress);
    let duration = started.elapsed();
    let mut failures = FailureCounts::default();
    for f in results.iter().filter_map(|r| r.as_ref().err()) {
        failures.add(f);
    }
    let ok = results.len() as u64 - failures.total();
    Ok(RegisterReport {
        info: RunInfo::new(&opts.connect),
        method,
        users,
        concurrency,
        ok,
        failed: failures.total(),
        failures: failures.0,
        per_sec: round3(ok as f64 / duration.as_secs_f64().max(1e-9)),
        duration_s: round3(duration.as_secs_f64()),
    })
}

/// XEP-0077 §3.1 registration on a fresh TLS stream, then a clean close.
async fn in_band(target: &Target, user: &str) -> Result<(), Failure> {
    let (mut conn, _features) = Connection::secure(target).await?;
    let request = format!(
        "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{}</username><password>{}</password></query></iq>",
        client::text(user),
        client::text(&target.password)
    );
    conn.send(request.as_bytes(), Step::Register).await?;
    conn.iq_reply("reg", Step::Register).await?;
    // The account exists now; a failed close does not change that.
    let _ = conn.close().await;
    Ok(())
}

/// The per-user command of `--command`.
struct CommandJob {
    words: Vec<String>,
    prefix: String,
    domain: String,
    password: String,
    timeout: Duration,
    /// Failures whose stderr was printed so far.
    shown: AtomicUsize,
}

impl CommandJob {
    /// The argument vector for user `i`.
    fn argv(&self, i: usize) -> Vec<String> {
        let user = format!("{}{i}", self.prefix);
        let jid = format!("{user}@{}", self.domain);
        self.words
            .iter()
            .map(|w| {
                w.replace("{user}", &user)
                    .replace("{domain}", &self.domain)
                    .replace("{jid}", &jid)
                    .replace("{password}", &self.password)
            })
            .collect()
    }

    async fn run(&self, i: usize) -> Result<(), Failure> {
        let argv = self.argv(i);
        let child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // On timeout the future is dropped: do not leave the process behind.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::Command(format!("spawn-{}", kebab_kind(e.kind()))))?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Err(_) => return Err(Failure::Command("timeout".into())),
            Ok(Err(_)) => return Err(Failure::Command("wait".into())),
            Ok(Ok(output)) => output,
        };
        if output.status.success() {
            return Ok(());
        }
        if self.shown.fetch_add(1, Ordering::Relaxed) < SHOWN_COMMAND_ERRORS {
            eprintln!(
                "register: {:?} failed ({}): {}",
                argv[0],
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Err(Failure::Command(match output.status.code() {
            Some(code) => format!("exit-{code}"),
            None => "signal".into(),
        }))
    }
}

fn kebab_kind(kind: std::io::ErrorKind) -> String {
    match kind {
        std::io::ErrorKind::NotFound => "not-found".into(),
        std::io::ErrorKind::PermissionDenied => "permission-denied".into(),
        _ => "error".into(),
    }
}

/// Splits a command template into words like a POSIX shell does for
/// quoting: `'...'` literal, `"..."` with `\"` and `\\` escapes, `\x`
/// outside quotes. No expansions.
pub fn split_words(template: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("--command: unterminated '".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("--command: unterminated \"".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("--command: unterminated \"".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("--command: trailing \\".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"sh -c 'echo {user} >> "/tmp/x y"' a\ b "q\"{password}""#).unwrap(),
            ["sh", "-c", r#"echo {user} >> "/tmp/x y""#, "a b", "q\"{password}"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_words("''").unwrap(), [""]);
        assert!(split_words("'open").is_err());
    }

    #[test]
    fn placeholders_stay_one_argument() {
        let job = CommandJob {
            words: split_words("reg {user} {domain} {password} {jid}").unwrap(),
            prefix: "u".into(),
            domain: "example.org".into(),
            password: "a b;rm".into(),
            timeout: Duration::from_secs(1),
            shown: AtomicUsize::new(0),
        };
        assert_eq!(job.argv(7), ["reg", "u7", "example.org", "a b;rm", "u7@example.org"]);
    }
}
