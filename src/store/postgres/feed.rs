//! The change feed (issue 15): one connection per process, outside the pool, LISTENing on
//! [`CHANGE_CHANNEL`]; every notification becomes a [`Change`] for [`Store::changes`]'s
//! subscribers.
//!
//! The connection is checked every [`FEED_CHECK_INTERVAL`] (a query with a timeout), so a
//! connection that died silently (network partition, PostgreSQL restarted) is noticed within
//! seconds, not after TCP's keepalive hours. Whenever the feed reconnects it announces
//! [`Change::Resync`]: notifications sent while it was away are lost, so everything cached is
//! dropped and read again. While it is away, writes through this replica still drop this
//! replica's own entries; another replica's changes reach this one within the caches' TTL
//! (`proxy::directory::DIRECTORY_CACHE_TTL`) at worst — and only while PostgreSQL takes writes
//! from the other replica but not this one's connection.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, oneshot};
use tokio_postgres::AsyncMessage;

use super::super::*;
use super::rows::CHANGE_CHANNEL;
use super::{connect, pg_msg};
use crate::config::PostgresConfig;

/// How often the feed's connection is checked (default 2 s, half the 2 s a disabled key may
/// take to be refused everywhere). A dead connection is replaced within this plus
/// [`FEED_CHECK_TIMEOUT`].
pub const FEED_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// How long the check query may take before the connection counts as dead (default 3 s).
pub const FEED_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest wait between reconnection attempts (default 5 s; the first retry is after 250 ms,
/// then doubling). It stops a replica from hammering a PostgreSQL that is starting up.
pub const FEED_RETRY_MAX: Duration = Duration::from_secs(5);

/// The running feed: subscribers get a receiver of its channel; dropping it ends the task.
pub(super) struct Feed {
    tx: broadcast::Sender<Change>,
    _stop: oneshot::Sender<()>,
}

impl Feed {
    /// Start listening on the current runtime (the one that opened the store, which lives as
    /// long as the process: `connect.rs`).
    pub(super) fn start(cfg: &PostgresConfig, target: String) -> Result<Feed> {
        let (tx, _) = broadcast::channel(change::CHANGE_FEED_CAPACITY);
        let (stop, stopped) = oneshot::channel();
        let tls = connect::make_tls(cfg)?;
        let pg = cfg.connect.clone();
        let sender = tx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = run(pg, tls, sender, target) => {}
                _ = stopped => {}
            }
        });
        Ok(Feed { tx, _stop: stop })
    }

    pub(super) fn subscribe(&self) -> ChangeFeed {
        ChangeFeed::new(self.tx.subscribe())
    }
}

async fn run(
    pg: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    tx: broadcast::Sender<Change>,
    target: String,
) {
    let mut retry = Duration::from_millis(250);
    let mut connected_before = false;
    loop {
        match listen_once(&pg, &tls, &tx, connected_before).await {
            Ok(reason) => {
                tracing::warn!(store = %target, %reason, "change feed lost its connection; reconnecting (caches are dropped on reconnect)");
                connected_before = true;
                retry = Duration::from_millis(250);
            }
            Err(e) => {
                tracing::warn!(store = %target, error = %e, retry_ms = retry.as_millis() as u64, "change feed cannot connect");
            }
        }
        crate::metrics::global().change_feed_up(false);
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(FEED_RETRY_MAX);
    }
}

/// One connection's life: LISTEN, forward notifications, check it; returns why it ended
/// (`Err` when it could not be set up).
async fn listen_once(
    pg: &tokio_postgres::Config,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
    tx: &broadcast::Sender<Change>,
    reconnected: bool,
) -> std::result::Result<String, String> {
    let (client, mut connection) = pg.connect(tls.clone()).await.map_err(|e| pg_msg(&e))?;
    let heard = tx.clone();
    let mut io = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                // no subscriber yet is fine: nothing is cached that could be stale
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = heard.send(Change::from_payload(n.payload()));
                }
                Ok(_) => {}
                Err(e) => return pg_msg(&e),
            }
        }
        "connection closed".to_string()
    });
    let listen = client
        .batch_execute(&format!("LISTEN {CHANGE_CHANNEL}"))
        .await;
    if let Err(e) = listen {
        io.abort();
        return Err(pg_msg(&e));
    }
    tracing::info!(channel = CHANGE_CHANNEL, "change feed listening");
    crate::metrics::global().change_feed_up(true);
    if reconnected {
        let _ = tx.send(Change::Resync);
    }
    let mut check = tokio::time::interval(FEED_CHECK_INTERVAL);
    check.tick().await;
    loop {
        tokio::select! {
            ended = &mut io => return Ok(ended.unwrap_or_else(|e| e.to_string())),
            _ = check.tick() => {
                let answered = tokio::time::timeout(FEED_CHECK_TIMEOUT, client.simple_query("")).await;
                let dead = match answered {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => pg_msg(&e),
                    Err(_) => format!("no answer within {} s", FEED_CHECK_TIMEOUT.as_secs()),
                };
                io.abort();
                return Ok(dead);
            }
        }
    }
}
