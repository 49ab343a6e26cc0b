use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    credwatch::cli::run(credwatch::cli::Cli::parse()).await
}
