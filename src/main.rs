//! The `consentry` binary: see `consentry --help`.
#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = consentry::cli::Cli::parse();
    match consentry::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<consentry::cli::check::ExitWith>() {
            Some(exit) => {
                eprintln!("{}", exit.message);
                std::process::ExitCode::from(exit.code)
            }
            None => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}
