//! TCP connect toward a backend with failover across the addresses of its host name (issue 12).
//!
//! pingora connects to the one address `upstream_peer` names and does not retry a refused
//! connection. A host name may have several addresses of which some do not listen (e.g.
//! `localhost` as `::1` and `127.0.0.1` with the backend bound to one of them): this connector,
//! set as the peer's `custom_l4`, tries the peer's address and then the other addresses of the
//! same answer ([`BackendAddress::alternatives`]), each within the peer's connect timeout, and
//! marks each address that failed so that the next requests start with one that answers. The
//! whole attempt stays bounded by the peer's `total_connection_timeout`.
//!
//! pingora applies TCP keep-alive and `TCP_NODELAY` to the stream this returns, as to its own;
//! the socket options its own connector sets while connecting (bind address, TCP fast open,
//! DSCP, receive buffer, socket hook) are not applied here, and Osprey sets none of them.
//!
//! It lives in `proxy/` because it implements pingora's trait; `backend/` knows no pingora.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::connectors::L4Connect;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::protocols::l4::stream::Stream;
use pingora::{Error, ErrorType};

use pingora::prelude::HttpPeer;

use crate::backend::{Backend, BackendAddress, BackendError};

/// Idle upstream connections are kept this long for reuse (connection pooling). Below the
/// embedded store's 30 s header-read timeout, so a pooled connection is never one the backend
/// just closed.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// The upstream peer for a request to `backend`: its endpoint's address (looked up here, from a
/// TTL cache: backend/address.rs, issue 12), TLS and SNI, its timeouts, and the connector that
/// fails over to the name's next address when one refuses.
pub async fn peer(backend: &dyn Backend) -> Result<Box<HttpPeer>, BackendError> {
    let dp = backend.data_path();
    let addr = dp.address.resolve().await?;
    let sni = dp.host.split(':').next().unwrap_or("").to_string();
    let mut peer = HttpPeer::new(addr, dp.tls, sni);
    let timeout = backend.config().timeout;
    let connect_timeout = timeout.min(Duration::from_secs(5));
    peer.options.connection_timeout = Some(connect_timeout);
    peer.options.custom_l4 = FailoverConnect::for_address(&dp.address, connect_timeout);
    peer.options.total_connection_timeout = Some(timeout);
    peer.options.read_timeout = Some(timeout);
    peer.options.write_timeout = Some(timeout);
    peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
    Ok(Box::new(peer))
}

/// Connects to the peer's address, then to the other addresses of its name.
#[derive(Debug)]
pub struct FailoverConnect {
    address: BackendAddress,
    /// Per address (the peer's `connection_timeout`).
    attempt_timeout: Duration,
}

impl FailoverConnect {
    /// The connector for `address`; `None` when it has a single fixed address (nothing to fail
    /// over to: pingora's own connector is used).
    pub fn for_address(
        address: &BackendAddress,
        attempt_timeout: Duration,
    ) -> Option<Arc<dyn L4Connect + Send + Sync>> {
        address.is_named().then(|| {
            Arc::new(FailoverConnect {
                address: address.clone(),
                attempt_timeout,
            }) as Arc<dyn L4Connect + Send + Sync>
        })
    }

    async fn attempt(&self, addr: SocketAddr) -> pingora::Result<Stream> {
        match tokio::time::timeout(self.attempt_timeout, tokio::net::TcpStream::connect(addr)).await
        {
            Ok(Ok(s)) => Ok(s.into()),
            Ok(Err(e)) => {
                let etype = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => ErrorType::ConnectRefused,
                    std::io::ErrorKind::TimedOut => ErrorType::ConnectTimedout,
                    _ => ErrorType::ConnectError,
                };
                Err(Error::because(
                    etype,
                    format!("cannot connect to {addr}"),
                    e,
                ))
            }
            Err(_) => Err(Error::explain(
                ErrorType::ConnectTimedout,
                format!("timeout {:?} connecting to {addr}", self.attempt_timeout),
            )),
        }
    }
}

#[async_trait]
impl L4Connect for FailoverConnect {
    async fn connect(&self, addr: &PeerAddr) -> pingora::Result<Stream> {
        let Some(first) = addr.as_inet().copied() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "backend addresses are TCP addresses",
            ));
        };
        let mut failure = match self.attempt(first).await {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        self.address.mark_unreachable(first);
        for next in self.address.alternatives(first) {
            match self.attempt(next).await {
                Ok(s) => {
                    tracing::debug!(failed = %first, connected = %next, "backend address failed; connected to the next one");
                    return Ok(s);
                }
                Err(e) => {
                    self.address.mark_unreachable(next);
                    failure = e;
                }
            }
        }
        Err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::address::Lookup;
    use pingora::upstreams::peer::HttpPeer;

    /// A name with two addresses where only the second listens (as `localhost` → `::1`,
    /// `127.0.0.1` with a backend bound to IPv4 only): the connection through pingora's own
    /// connector succeeds, and later requests start with the listening address. The old data path
    /// kept only the first address and failed with `ConnectRefused` here.
    #[tokio::test]
    async fn connects_to_the_address_that_listens() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live = listener.local_addr().unwrap();
        // 127.0.0.2 is loopback too but nothing listens there on this port
        let dead: SocketAddr = format!("127.0.0.2:{}", live.port()).parse().unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
        let lookup: Lookup = Arc::new(move |_, _| Box::pin(async move { Ok(vec![dead, live]) }));
        let address = BackendAddress::with_lookup(
            "b1",
            "localhost",
            live.port(),
            crate::backend::address::DNS_TTL,
            lookup,
        );
        let first = address.resolve().await.unwrap();
        assert_eq!(first, dead, "the resolver's order is kept");

        let mut peer = HttpPeer::new(first, false, "localhost".to_string());
        peer.options.connection_timeout = Some(Duration::from_secs(2));
        peer.options.custom_l4 = FailoverConnect::for_address(&address, Duration::from_secs(2));
        let connector = pingora::connectors::TransportConnector::new(None);
        connector.new_stream(&peer).await.unwrap();
        accept.await.unwrap().unwrap();
        assert_eq!(address.resolve().await.unwrap(), live);

        // a fixed address needs no failover connector
        assert!(FailoverConnect::for_address(
            &BackendAddress::fixed("b1", live),
            Duration::from_secs(1)
        )
        .is_none());
    }

    #[tokio::test]
    async fn every_address_refusing_is_connect_refused() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let a: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        let b: SocketAddr = format!("127.0.0.3:{port}").parse().unwrap();
        let lookup: Lookup = Arc::new(move |_, _| Box::pin(async move { Ok(vec![a, b]) }));
        let address =
            BackendAddress::with_lookup("b1", "x.test", port, Duration::from_secs(60), lookup);
        let first = address.resolve().await.unwrap();
        let c = FailoverConnect {
            address: address.clone(),
            attempt_timeout: Duration::from_secs(2),
        };
        let e = c.connect(&PeerAddr::Inet(first)).await.unwrap_err();
        assert_eq!(e.etype(), &ErrorType::ConnectRefused);
    }
}
