//! The `waxwing-bench` command; see the crate documentation and `--help`.

use std::process::ExitCode;

use clap::Parser;
use waxwing_bench::Cli;

fn main() -> ExitCode {
    // Usage errors exit with status 2 here (clap).
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("waxwing-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(waxwing_bench::run(cli)) {
        Ok(report) => {
            println!("{}", report.to_json());
            if report.measured_something() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(message) => {
            eprintln!("waxwing-bench: {message}");
            ExitCode::from(2)
        }
    }
}
