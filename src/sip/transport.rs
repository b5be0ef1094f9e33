//! SIP transports, the IO edge: UDP sockets and TCP connections for the
//! phones and trunk listeners.
//!
//! Incoming datagrams and framed stream messages go to one channel as
//! [`Inbound`]; [`Transports::send`] puts bytes on the wire without
//! awaiting, so the engine's loop never blocks on a peer. TCP connections
//! are remembered by id and by remote address so answers and in-dialog
//! requests reuse them; a missing one is opened on demand.

use super::message::frame_len;
use super::{Flow, Proto, Side, Transmit};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Largest SIP message accepted on any transport.
pub const MAX_MESSAGE: usize = 65_535;

/// Bytes that arrived, with where they came from.
#[derive(Debug)]
pub struct Inbound {
    pub flow: Flow,
    pub data: Bytes,
}

/// What to listen on.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    pub udp: Vec<(Side, SocketAddr)>,
    pub tcp: Vec<(Side, SocketAddr)>,
}

#[derive(Default)]
struct TcpRegistry {
    by_id: HashMap<u64, (SocketAddr, mpsc::Sender<Bytes>)>,
    by_remote: HashMap<(Side, SocketAddr), u64>,
}

/// The bound sockets; cheap to clone.
#[derive(Clone)]
pub struct Transports {
    udp: Arc<HashMap<Side, Arc<UdpSocket>>>,
    tcp: Arc<Mutex<TcpRegistry>>,
    next_conn: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
    /// Local addresses actually bound (port 0 resolved), per side and proto.
    pub local: Arc<HashMap<(Side, Proto), SocketAddr>>,
}

impl Transports {
    /// Binds every listener; an error names the address that failed.
    pub async fn bind(
        listeners: &Listeners,
        shutdown: CancellationToken,
        queue: usize,
    ) -> std::io::Result<(Transports, mpsc::Receiver<Inbound>)> {
        let (tx, rx) = mpsc::channel(queue);
        let mut udp = HashMap::new();
        let mut local = HashMap::new();
        for (side, addr) in &listeners.udp {
            let sock = UdpSocket::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}"))
            })?;
            local.insert((*side, Proto::Udp), sock.local_addr()?);
            udp.insert(*side, Arc::new(sock));
        }
        let mut tcp_listeners = Vec::new();
        for (side, addr) in &listeners.tcp {
            let l = TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot bind TCP {addr}: {e}"))
            })?;
            local.insert((*side, Proto::Tcp), l.local_addr()?);
            tcp_listeners.push((*side, l));
        }
        let t = Transports {
            udp: Arc::new(udp),
            tcp: Arc::default(),
            next_conn: Arc::new(AtomicU64::new(1)),
            inbound: tx,
            shutdown,
            local: Arc::new(local),
        };
        for (side, sock) in t.udp.iter() {
            tokio::spawn(udp_reader(
                *side,
                sock.clone(),
                t.inbound.clone(),
                t.shutdown.clone(),
            ));
        }
        for (side, l) in tcp_listeners {
            tokio::spawn(t.clone().accept_loop(side, l));
        }
        Ok((t, rx))
    }

    /// Sends without waiting: UDP goes straight to the socket, TCP to the
    /// connection's writer task (opening a connection if needed).
    pub fn send(&self, t: Transmit) {
        match t.flow.proto {
            Proto::Udp => {
                let Some(sock) = self.udp.get(&t.flow.side) else {
                    return;
                };
                match sock.try_send_to(&t.data, t.flow.remote) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let sock = sock.clone();
                        tokio::spawn(async move { sock.send_to(&t.data, t.flow.remote).await });
                    }
                    Err(e) => {
                        tracing::debug!(remote = %t.flow.remote, error = %e, "UDP send failed")
                    }
                }
            }
            Proto::Tcp => self.send_tcp(t),
        }
    }

    fn send_tcp(&self, t: Transmit) {
        let sender = {
            let Ok(reg) = self.tcp.lock() else { return };
            let id = t.flow.conn.filter(|id| reg.by_id.contains_key(id));
            let id = id.or_else(|| reg.by_remote.get(&(t.flow.side, t.flow.remote)).copied());
            id.and_then(|id| reg.by_id.get(&id).map(|(_, s)| s.clone()))
        };
        match sender {
            Some(s) => {
                if s.try_send(t.data).is_err() {
                    tracing::warn!(remote = %t.flow.remote, "TCP connection backlog full; message dropped");
                }
            }
            None => {
                let this = self.clone();
                tokio::spawn(async move {
                    match TcpStream::connect(t.flow.remote).await {
                        Ok(stream) => {
                            let writer = this.register(t.flow.side, stream);
                            let _ = writer.send(t.data).await;
                        }
                        Err(e) => {
                            tracing::info!(remote = %t.flow.remote, error = %e, "TCP connect failed")
                        }
                    }
                });
            }
        }
    }

    async fn accept_loop(self, side: Side, listener: TcpListener) {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                r = listener.accept() => match r {
                    Ok((stream, _)) => { self.register(side, stream); }
                    Err(e) => {
                        tracing::warn!(error = %e, "TCP accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }

    /// Starts reader and writer tasks for a connection; returns its writer.
    fn register(&self, side: Side, stream: TcpStream) -> mpsc::Sender<Bytes> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let remote = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let _ = stream.set_nodelay(true);
        let (tx, mut rx) = mpsc::channel::<Bytes>(256);
        if let Ok(mut reg) = self.tcp.lock() {
            reg.by_id.insert(id, (remote, tx.clone()));
            reg.by_remote.insert((side, remote), id);
        }
        let (mut rd, mut wr) = stream.into_split();
        let flow = Flow {
            side,
            proto: Proto::Tcp,
            remote,
            conn: Some(id),
        };
        let inbound = self.inbound.clone();
        let registry = self.tcp.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            while let Some(data) = rx.recv().await {
                if wr.write_all(&data).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(8192);
            loop {
                let n = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    n = rd.read_buf(&mut buf) => n,
                };
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                loop {
                    match frame_len(&buf, MAX_MESSAGE) {
                        Ok(Some(len)) => {
                            let data = buf.split_to(len).freeze();
                            if data.iter().all(|b| b.is_ascii_whitespace()) {
                                continue;
                            }
                            if inbound.send(Inbound { flow, data }).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::info!(%remote, error = %e, "closing TCP connection: unframeable input");
                            unregister(&registry, id, side, remote);
                            return;
                        }
                    }
                }
            }
            unregister(&registry, id, side, remote);
        });
        tx
    }
}

fn unregister(registry: &Mutex<TcpRegistry>, id: u64, side: Side, remote: SocketAddr) {
    if let Ok(mut reg) = registry.lock() {
        reg.by_id.remove(&id);
        if reg.by_remote.get(&(side, remote)) == Some(&id) {
            reg.by_remote.remove(&(side, remote));
        }
    }
}

async fn udp_reader(
    side: Side,
    sock: Arc<UdpSocket>,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    loop {
        let r = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = sock.recv_from(&mut buf) => r,
        };
        match r {
            Ok((n, remote)) if n <= MAX_MESSAGE => {
                let flow = Flow {
                    side,
                    proto: Proto::Udp,
                    remote,
                    conn: None,
                };
                let data = Bytes::copy_from_slice(&buf[..n]);
                if inbound.try_send(Inbound { flow, data }).is_err() {
                    tracing::warn!(%remote, "engine queue full; UDP datagram dropped");
                }
            }
            Ok((_, remote)) => tracing::info!(%remote, "dropped oversized UDP datagram"),
            // ICMP port unreachable shows up as an error on Linux: ignore.
            Err(e) => tracing::debug!(error = %e, "UDP receive error"),
        }
    }
}
