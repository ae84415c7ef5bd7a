//! The local host: serves the API, the development identity provider and the
//! SPA on loopback, runs the queue listeners, and starts Azurite itself when
//! no storage connection is configured.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{header, Method};
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};
use tracing::{info, warn};

use super::listener::{MessageFunction, QueueListener};
use crate::app::{App, Storage};
use crate::auth::{self, AuthSettings, DevIdentityProvider, TokenVerifier};
use crate::azurite::{Azurite, AzuriteOptions};
use crate::config::Config;
use crate::functions::{Functions, PROCESS_COMMAND, PROJECT_EVENTS};
use crate::storage::StorageAccount;

/// Audience of tokens minted by the development identity provider.
pub const LOCAL_AUDIENCE: &str = "prism-plan-local";

/// Options of `prism-plan local`.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Loopback port to listen on; 0 picks a free one.
    pub port: u16,
    /// Project root: `node_modules`, `.azurite` and `frontend/dist` live here.
    pub project_root: PathBuf,
    /// Keep Azurite data in memory instead of `<project_root>/.azurite`.
    pub in_memory_storage: bool,
    /// Run the queue listeners; tests that inspect queues turn them off.
    pub listeners: bool,
}

/// A started local host.
pub struct LocalHost {
    /// Address the host listens on.
    pub address: SocketAddr,
    /// Storage connection string in use (Azurite's when the host started it).
    pub storage: StorageAccount,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    azurite: Option<Azurite>,
}

impl LocalHost {
    /// Starts storage, listeners and the HTTP server.
    ///
    /// # Errors
    /// Any failure to start Azurite, reach storage, bind the port or generate keys.
    pub async fn start(config: Config, options: LocalOptions) -> anyhow::Result<Self> {
        let (account, azurite) = storage_account(&config, &options).await?;
        let storage = Storage::connect(&account, &config.names).context("invalid storage names")?;
        storage
            .create_all()
            .await
            .context("creating queues and tables failed; is storage reachable?")?;
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
        let tcp = TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}; pick another port with --port"))?;
        let address = tcp.local_addr().context("reading the bound address")?;
        let (verifier, dev_routes) = verifier_and_dev_routes(&config, address).await?;
        let app = App::new(storage, verifier);
        let settings = super::queue_settings(&config.app_root)?;
        let shutdown = CancellationToken::new();
        let mut tasks = if options.listeners {
            spawn_listeners(&app, &settings, &shutdown)
        } else {
            Vec::new()
        };
        let mut router = crate::http::router(app.http.clone())
            .merge(dev_routes)
            .merge(spa_routes(&options.project_root));
        if let Some(origins) = config.cors_allowed_origins.clone() {
            router = router.layer(cors_layer(origins));
        }
        let server_shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let served = axum::serve(tcp, router)
                .with_graceful_shutdown(server_shutdown.cancelled_owned())
                .await;
            if let Err(error) = served {
                warn!(error = %error, "the HTTP server stopped with an error");
            }
        }));
        info!(url = %format!("http://{address}"), "Prism Plan is running");
        Ok(Self {
            address,
            storage: account,
            shutdown,
            tasks,
            azurite,
        })
    }

    /// Stops accepting work, finishes in-flight messages and stops Azurite.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            if let Err(error) = task.await {
                warn!(error = %error, "a host task ended abnormally");
            }
        }
        if let Some(azurite) = self.azurite {
            match tokio::task::spawn_blocking(move || azurite.stop()).await {
                Ok(Ok(_)) => info!("Azurite stopped"),
                Ok(Err(error)) => warn!(error = %error, "stopping Azurite failed"),
                Err(error) => warn!(error = %error, "the Azurite stop task failed"),
            }
        }
        info!("Prism Plan stopped");
    }
}

/// Runs the local host until Ctrl-C or SIGTERM.
///
/// # Errors
/// Startup failures.
pub async fn run(config: Config, options: LocalOptions) -> anyhow::Result<()> {
    let host = LocalHost::start(config, options).await?;
    super::shutdown_signal().await;
    info!("shutting down; finishing in-flight messages");
    host.stop().await;
    Ok(())
}

async fn storage_account(
    config: &Config,
    options: &LocalOptions,
) -> anyhow::Result<(StorageAccount, Option<Azurite>)> {
    if let Some(connection) = &config.storage_connection {
        let account = StorageAccount::parse(connection.expose())
            .context("AzureWebJobsStorage is not a valid connection string")?;
        return Ok((account, None));
    }
    info!("AzureWebJobsStorage is not set; starting Azurite on loopback");
    let data_dir = (!options.in_memory_storage).then(|| options.project_root.join(".azurite"));
    let azurite_options = AzuriteOptions {
        project_root: options.project_root.clone(),
        data_dir,
    };
    // Starting Azurite waits for its ports, so it runs off the async workers.
    let azurite = tokio::task::spawn_blocking(move || Azurite::start(azurite_options))
        .await
        .context("the Azurite start task failed")?
        .context("starting Azurite failed")?;
    let account = azurite.account().clone();
    info!(
        queue.endpoint = account.queue_endpoint(),
        table.endpoint = account.table_endpoint(),
        "Azurite is running"
    );
    Ok((account, Some(azurite)))
}

async fn verifier_and_dev_routes(
    config: &Config,
    address: SocketAddr,
) -> anyhow::Result<(TokenVerifier, Router)> {
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(5));
    if let Some(settings) = &config.auth {
        let http = builder
            .build()
            .context("building the HTTP client for JWKS")?;
        info!(issuer = %settings.issuer, "verifying tokens from the configured issuer");
        return Ok((TokenVerifier::new(settings.clone(), http), Router::new()));
    }
    // The development keys are served by this process on loopback, so a
    // proxy from the environment must not see that request.
    let http = builder
        .no_proxy()
        .build()
        .context("building the HTTP client for JWKS")?;
    auth::ensure_loopback(&address)?;
    let issuer = format!("http://{address}/dev");
    let provider = DevIdentityProvider::generate_async(issuer.clone(), LOCAL_AUDIENCE.into())
        .await
        .context("generating the development signing key failed")?;
    let settings = AuthSettings {
        issuer,
        audience: LOCAL_AUDIENCE.into(),
        jwks_url: format!("http://{address}/dev/jwks.json")
            .parse()
            .context("building the development JWKS URL")?,
        leeway: Duration::from_secs(30),
        min_refresh_interval: Duration::from_secs(10),
    };
    info!(token_url = %format!("http://{address}/dev/token"), "development identity provider is running");
    Ok((
        TokenVerifier::new(settings, http),
        auth::router(Arc::new(provider)),
    ))
}

fn spawn_listeners(
    app: &App,
    settings: &super::host_json::QueueSettings,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let storage = &app.storage;
    let listeners = [
        QueueListener::new(
            PROCESS_COMMAND,
            storage.commands.clone(),
            storage.commands_poison.clone(),
            settings.clone(),
            app.commands_waker.clone(),
            function(&app.functions, PROCESS_COMMAND),
        ),
        QueueListener::new(
            PROJECT_EVENTS,
            storage.domain_events.clone(),
            storage.domain_events_poison.clone(),
            settings.clone(),
            app.events_waker.clone(),
            function(&app.functions, PROJECT_EVENTS),
        ),
    ];
    listeners
        .into_iter()
        .map(|listener| tokio::spawn(listener.run(shutdown.clone())))
        .collect()
}

fn function(functions: &Functions, name: &'static str) -> MessageFunction {
    let functions = functions.clone();
    Arc::new(move |text: String| {
        let functions = functions.clone();
        Box::pin(async move { functions.invoke(name, &text).await.unwrap_or(Ok(())) })
    })
}

/// Builds the CORS layer: it responds to browser preflights and adds CORS
/// headers for allowed origins. In Azure the platform's CORS setting does this.
fn cors_layer(origins: crate::config::CorsOrigins) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().is_ok_and(|origin| origins.allows(origin))
        }))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([header::ETAG])
        .max_age(Duration::from_secs(3600))
}

fn spa_routes(project_root: &std::path::Path) -> Router {
    let dist = project_root.join("frontend").join("dist");
    if dist.join("index.html").exists() {
        info!(path = %dist.display(), "serving the SPA");
        let index = ServeFile::new(dist.join("index.html"));
        Router::new().fallback_service(ServeDir::new(&dist).fallback(index))
    } else {
        info!(path = %dist.display(), "no SPA build found at frontend/dist, so only the API is served");
        Router::new().route(
            "/",
            axum::routing::get(|| async {
                "Prism Plan API is running. The SPA is not built; see the README."
            }),
        )
    }
}
