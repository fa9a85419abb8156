//! The `waxwing` command: run the server, manage accounts, check a config.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};
use waxwing::config::Config;
use waxwing::users;
use waxwing_store::Store;

#[derive(Parser)]
#[command(name = "waxwing", version, about = "An XMPP server")]
struct Cli {
    /// Configuration file (TOML). Without one, the built-in defaults serve
    /// `localhost` with SQLite under ./data.
    #[arg(long, short, global = true, env = "WAXWING_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until SIGTERM or Ctrl-C (SIGHUP reloads certificates).
    Serve,
    /// Manage accounts (works on the database, whether the server runs or not).
    #[command(subcommand)]
    User(UserCommand),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from stdin when not given.
    Add { jid: String, password: Option<String> },
    /// Change an account's password. The password is read from stdin when not given.
    Passwd { jid: String, password: Option<String> },
    /// Delete an account and its data.
    Remove { jid: String },
    /// List the accounts of a host (all hosts when none is given).
    List { domain: Option<String> },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Parse and validate a configuration file.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match &cli.command {
        Command::Config(ConfigCommand::Check { file }) => return config_check(file),
        _ => match load_config(cli.config.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    init_logging(&config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::User(cmd) => user(config, cmd).await,
            Command::Config(_) => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&Path>) -> Result<Config, waxwing::ConfigError> {
    match path {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    }
}

fn config_check(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            println!("{}: ok (hosts: {})", file.display(), config.domains().join(", "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

type BoxError = Box<dyn std::error::Error>;

async fn serve(config: Config) -> Result<(), BoxError> {
    let running = waxwing::start(config).await?;
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => match running.reload_certificates() {
                Ok(()) => tracing::info!("certificates reloaded"),
                Err(e) => tracing::error!(error = %e, "certificate reload failed; keeping the old ones"),
            },
        }
    }
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

async fn user(config: Config, cmd: UserCommand) -> Result<(), BoxError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store = Store::open(&config.database_url()).await?;
    let result = match cmd {
        UserCommand::Add { jid, password } => {
            let jid = users::account(&config, &jid)?;
            let password = password_or_prompt(password)?;
            users::add(&store, &config, &jid, &password).await?;
            println!("created {jid}");
            Ok(())
        }
        UserCommand::Passwd { jid, password } => {
            let jid = users::account(&config, &jid)?;
            let password = password_or_prompt(password)?;
            users::set_password(&store, &config, &jid, &password).await?;
            println!("password changed for {jid}");
            Ok(())
        }
        UserCommand::Remove { jid } => {
            let jid = users::account(&config, &jid)?;
            users::remove(&store, &jid).await?;
            println!("removed {jid}");
            Ok(())
        }
        UserCommand::List { domain } => {
            let domains = match domain {
                Some(d) => vec![d.to_lowercase()],
                None => config.domains(),
            };
            for domain in domains {
                for localpart in store.accounts().list(&domain).await? {
                    println!("{localpart}@{domain}");
                }
            }
            Ok(())
        }
    };
    store.close().await;
    result
}

/// Reads a password from stdin (one line) when it was not on the command line.
/// Passing it as an argument leaves it in shell history and `ps`; stdin avoids both.
fn password_or_prompt(password: Option<String>) -> Result<String, BoxError> {
    if let Some(p) = password {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
