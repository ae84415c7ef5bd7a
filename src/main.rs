//! `prism-plan`: the one binary of Prism Plan. It runs the local host, the
//! Azure Functions custom handler, and operator commands.

use std::io::Write as _;

use anyhow::Context;
use clap::{Parser, Subcommand};
use prism_service::app::Storage;
use prism_service::config::Config;
use prism_service::host::{handler, local};
use prism_service::ops;
use prism_service::storage::StorageAccount;

#[derive(Parser)]
#[command(
    name = "prism-plan",
    version,
    about = "Event-sourced personal task planner"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole app on loopback: API, queue listeners, development
    /// sign-in, the SPA, and Azurite when AzureWebJobsStorage is unset.
    Local {
        /// Port to listen on (127.0.0.1 only).
        #[arg(long, default_value_t = 7071)]
        port: u16,
        /// Keep Azurite's data in memory instead of `.azurite/`.
        #[arg(long)]
        in_memory: bool,
    },
    /// Run as the Azure Functions custom handler on FUNCTIONS_CUSTOMHANDLER_PORT.
    Handler,
    /// Manage queues and tables.
    Storage {
        #[command(subcommand)]
        action: StorageAction,
    },
    /// Inspect, replay or drop messages that failed too often.
    Poison {
        #[command(subcommand)]
        action: PoisonAction,
    },
}

#[derive(Subcommand)]
enum StorageAction {
    /// Create every queue (with its poison queue) and table; safe to repeat.
    Init,
}

#[derive(Subcommand)]
enum PoisonAction {
    /// List the messages of a queue's poison queue.
    List {
        /// The main queue name, such as `commands`.
        queue: String,
    },
    /// Move every poison message back to its queue for another try.
    Replay {
        /// The main queue name.
        queue: String,
    },
    /// Delete every poison message of a queue.
    Drop {
        /// The main queue name.
        queue: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let handler_mode = matches!(cli.command, Command::Handler);
    init_logging(handler_mode);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(error = %error, "starting the async runtime failed");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One plain line on stderr: the log would only repeat it.
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env().context("invalid configuration")?;
    match cli.command {
        Command::Local { port, in_memory } => {
            let options = local::LocalOptions {
                port,
                project_root: std::env::current_dir().context("reading the current directory")?,
                in_memory_storage: in_memory,
                listeners: true,
            };
            local::run(config, options).await
        }
        Command::Handler => {
            let port = handler_port()?;
            handler::run(config, port).await
        }
        Command::Storage {
            action: StorageAction::Init,
        } => {
            let storage = connect(&config)?;
            storage
                .create_all()
                .await
                .context("creating queues and tables failed")?;
            writeln!(std::io::stdout(), "queues and tables are ready")?;
            Ok(())
        }
        Command::Poison { action } => poison(&config, action).await,
    }
}

async fn poison(config: &Config, action: PoisonAction) -> anyhow::Result<()> {
    let storage = connect(config)?;
    let mut stdout = std::io::stdout();
    match action {
        PoisonAction::List { queue } => {
            write!(stdout, "{}", ops::list_poison(&storage, &queue).await?)?;
        }
        PoisonAction::Replay { queue } => {
            let moved = ops::replay_poison(&storage, &queue).await?;
            writeln!(stdout, "moved {moved} message(s) back to {queue}")?;
        }
        PoisonAction::Drop { queue } => {
            ops::drop_poison(&storage, &queue).await?;
            writeln!(stdout, "dropped the poison messages of {queue}")?;
        }
    }
    Ok(())
}

fn connect(config: &Config) -> anyhow::Result<Storage> {
    let connection = config.storage_connection.as_ref().context(
        "AzureWebJobsStorage is not set; set it to a connection string (UseDevelopmentStorage=true for Azurite on its default ports)",
    )?;
    let account = StorageAccount::parse(connection.expose())
        .context("AzureWebJobsStorage is not a valid connection string")?;
    Ok(Storage::connect(&account, &config.names)?)
}

fn handler_port() -> anyhow::Result<u16> {
    let raw = std::env::var(handler::PORT_VARIABLE).with_context(|| {
        format!(
            "{} is not set; the Functions host sets it when it starts the handler",
            handler::PORT_VARIABLE
        )
    })?;
    raw.parse().with_context(|| {
        format!(
            "{} is {raw:?}; it must be a port number from 1 to 65535",
            handler::PORT_VARIABLE
        )
    })
}

fn init_logging(to_stdout: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // The Functions host logs a handler's stdout as information and its
    // stderr as errors, so the handler writes its logs to stdout.
    match (json, to_stdout) {
        (true, true) => builder.json().with_writer(std::io::stdout).init(),
        (true, false) => builder.json().with_writer(std::io::stderr).init(),
        (false, true) => builder.with_writer(std::io::stdout).init(),
        (false, false) => builder.with_writer(std::io::stderr).init(),
    }
}
