//! `pulse serve`: the session of `pulse sql` (the same sources, tables,
//! views and `--as-of`) as an Arrow Flight SQL endpoint
//! ([`crate::flight_sql`]), for notebooks, BI tools and any ADBC, JDBC or
//! ODBC Flight SQL driver.
//!
//! What must stay true: it binds to 127.0.0.1 unless told otherwise, and it
//! refuses to listen beyond the loopback without a token; it prints the
//! address it listens on (the port chosen when `--bind` asks for port 0)
//! once it accepts connections, and stops on Ctrl-C.

use std::net::SocketAddr;

use arrow_flight::flight_service_server::FlightServiceServer;
use clap::Args;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::error::{CliError, Context};
use crate::flight_sql::PulseFlightSql;
use crate::shell::shell_context;
use crate::sources::{CacheArgs, SourceArgs, check_as_of, load, set_as_of};

/// `pulse serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    sources: SourceArgs,
    /// Where to listen (host:port; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    bind: String,
    /// A token every client must send as `authorization: Bearer TOKEN`
    /// (needed to listen beyond the loopback).
    #[arg(long, env = "PULSE_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The as-of time T (RFC 3339) of every query; by default, now.
    #[arg(long, value_name = "RFC3339")]
    as_of: Option<String>,
    #[command(flatten)]
    cache: CacheArgs,
}

/// Runs `pulse serve` until Ctrl-C.
pub async fn run(mut args: ServeArgs) -> Result<(), CliError> {
    let addr = resolve(&args.bind).await?;
    let token = args.token.filter(|t| !t.is_empty());
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(CliError::usage(format!(
            "refusing to serve {addr} without a token: anyone who reaches it could read every table. Give \
             --token TOKEN (or PULSE_TOKEN; clients send 'authorization: Bearer TOKEN'), or bind 127.0.0.1"
        )));
    }
    check_as_of(args.as_of.as_deref())?;
    // every request shares the server's decoded-log cache
    args.cache.apply(&mut args.sources)?;
    let (ctx, _) = shell_context()?;
    let loaded = load(&ctx, &args.sources).await?;
    set_as_of(&ctx, args.as_of.as_deref())?;
    let service = PulseFlightSql::new(ctx.state(), token.clone())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().context(|| format!("cannot listen on {addr}"))?;
    eprintln!("pulse: serving {}", loaded.description);
    eprintln!(
        "pulse: Arrow Flight SQL on grpc://{bound}{} (Ctrl-C stops)",
        if token.is_some() {
            ", clients send 'authorization: Bearer <token>'"
        } else {
            ""
        }
    );
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(FlightServiceServer::new(service))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("pulse: stopping");
        })
        .await
        .map_err(std::io::Error::other)
        .context(|| format!("the Flight SQL server on {bound} failed"))?;
    Ok(())
}

/// `host:port` as one socket address (the first a name resolves to).
pub async fn resolve(bind: &str) -> Result<SocketAddr, CliError> {
    let bad = |why: String| CliError::usage(format!("--bind '{bind}': {why}; give HOST:PORT, e.g. 127.0.0.1:50051"));
    let mut addrs = tokio::net::lookup_host(bind).await.map_err(|e| bad(e.to_string()))?;
    addrs.next().ok_or_else(|| bad("resolves to no address".into()))
}
