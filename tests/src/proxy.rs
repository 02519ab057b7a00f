//! A TCP proxy the test controls, to put between the server and PostgreSQL (or Redis) and cut or
//! silence the line.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections to `upstream` until [`TcpProxy::cut`]; then drops every open connection and
/// closes each new one at once, until [`TcpProxy::restore`]. [`TcpProxy::stall`] silences the open
/// connections without closing them (new ones are forwarded).
pub struct TcpProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    stalls: watch::Sender<u64>,
}

impl TcpProxy {
    /// Listens on a free loopback port.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let (stalls, _) = watch::channel(0u64);
        let accept_cut = cut.clone();
        let accept_generation = generation.clone();
        let accept_stalls = stalls.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if accept_cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut killed = accept_generation.subscribe();
                let mut stalled = accept_stalls.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        // In this order: once cut or stalled, no further byte is forwarded.
                        biased;
                        _ = killed.changed() => {}
                        _ = stalled.changed() => {
                            // Open and silent from now on, like a peer that vanished without a word.
                            let _ = killed.changed().await;
                            drop((client, server));
                        }
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        TcpProxy {
            addr,
            cut,
            generation,
            stalls,
        }
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Silences every open connection, keeping it open; new connections are forwarded.
    pub fn stall(&self) {
        self.stalls.send_modify(|g| *g += 1);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}
