//! pingora's own floor (issue 13): a proxy built on the same pingora as Osprey, shaped as Osprey's
//! S3 listener is (one single-threaded shard per core, each with its own `SO_REUSEPORT` socket and
//! backend pool; mimalloc; keep-alive to the backend with Osprey's idle timeout), that does
//! nothing else: no signature check, no routing, no re-signing, no access log. Run as a child
//! process of the bench binary (`load __pingora <backend port> <threads>`), it prints its port.
//!
//! Osprey's CPU per request minus this one's is what Osprey's own code costs; this one's against
//! nginx's is what the framework costs before Osprey does anything (`--floor`).

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;

/// Osprey's `proxy::connect::UPSTREAM_IDLE_TIMEOUT`.
const IDLE: Duration = Duration::from_secs(20);

struct Floor {
    backend: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.backend, false, String::new());
        peer.options.idle_timeout = Some(IDLE);
        Ok(Box::new(peer))
    }
}

/// Serves until killed.
pub fn run(backend_port: u16, threads: usize) -> ! {
    let port = super::procs::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = ServerConf {
        threads,
        pid_file: dir.path().join("pingora.pid").display().to_string(),
        upgrade_sock: dir.path().join("upgrade.sock").display().to_string(),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let backend: SocketAddr = ([127, 0, 0, 1], backend_port).into();
    for shard in 0..threads {
        let mut svc = pingora::proxy::http_proxy_service_with_name(
            &server.configuration,
            Floor { backend },
            &format!("floor-{shard}"),
        );
        svc.threads = Some(1);
        let mut sock = pingora::listeners::TcpSocketOptions::default();
        sock.so_reuseport = Some(threads > 1);
        // pingora keys its listeners by the address string: one spelling per shard, as Osprey's
        // `server::wiring::shard_address` does
        svc.add_tcp_with_settings(&format!("127.0.0.1:{}{port}", "0".repeat(shard)), sock);
        server.add_service(svc);
    }
    println!("{port}");
    server.run_forever()
}
