//! Peer transport: JSON envelopes in UDP datagrams on the --listen address.
//!
//! Messages for one peer that are queued together go out in as few datagrams as possible
//! (at most [`MAX_DATAGRAM`] bytes each). Loss is fine: SWIM and CASPaxos both retry.

use super::driver::DriverMsg;
use crate::core::message::{Envelope, NodeId, PeerMsg};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;

/// Largest datagram this node sends.
pub const MAX_DATAGRAM: usize = 60_000;

/// Binds the UDP socket with large kernel buffers (bursts of accepts must not be dropped).
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = std::net::UdpSocket::bind(addr)?;
    for (force, opt) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        // The FORCE variants ignore the system maximum but need CAP_NET_ADMIN.
        if setsockopt_int(&sock, force, 8 << 20).is_err() {
            if let Err(e) = setsockopt_int(&sock, opt, 8 << 20) {
                tracing::warn!(error = %e, "could not enlarge a UDP buffer");
            }
        }
    }
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock)
}

fn setsockopt_int(
    sock: &std::net::UdpSocket,
    opt: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(sock),
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Receives datagrams and hands their messages to the core.
pub async fn recv_loop(
    sock: Arc<UdpSocket>,
    me: NodeId,
    peers: BTreeMap<NodeId, SocketAddr>,
    core: Sender<DriverMsg>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, src) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "udp recv");
                continue;
            }
        };
        let env: Envelope = match serde_json::from_slice(&buf[..n]) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(%src, error = %e, "dropping a malformed datagram");
                continue;
            }
        };
        if env.to != me || !peers.contains_key(&env.from) {
            tracing::warn!(%src, from = %env.from, to = %env.to, "dropping a datagram not meant for this cluster member");
            continue;
        }
        for msg in env.msgs {
            if core
                .send(DriverMsg::Peer {
                    from: env.from.clone(),
                    msg,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

/// Sends the core's outgoing messages, batching per destination.
pub async fn send_loop(
    sock: Arc<UdpSocket>,
    me: NodeId,
    peers: BTreeMap<NodeId, SocketAddr>,
    mut rx: UnboundedReceiver<(NodeId, PeerMsg)>,
) {
    let mut queued: BTreeMap<NodeId, Vec<Vec<u8>>> = BTreeMap::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut count = 0;
        while let Some((to, msg)) = next {
            match serde_json::to_vec(&msg) {
                Ok(bytes) => queued.entry(to).or_default().push(bytes),
                Err(e) => tracing::error!(error = %e, "cannot encode a peer message"),
            }
            count += 1;
            next = if count < 10_000 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        for (to, msgs) in std::mem::take(&mut queued) {
            let Some(addr) = peers.get(&to) else {
                continue;
            };
            for dgram in pack(&me, &to, &msgs) {
                if let Err(e) = sock.send_to(&dgram, addr).await {
                    tracing::debug!(%to, error = %e, "udp send");
                }
            }
        }
    }
}

/// Builds envelopes `{"from":..,"to":..,"msgs":[..]}` of at most MAX_DATAGRAM bytes
/// (a single larger message goes alone).
fn pack(from: &NodeId, to: &NodeId, msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let head = format!(
        "{{\"from\":{},\"to\":{},\"msgs\":[",
        serde_json::to_string(from).expect("string"),
        serde_json::to_string(to).expect("string")
    );
    let mut out = Vec::new();
    let mut cur = head.clone().into_bytes();
    let mut n = 0;
    for m in msgs {
        if n > 0 && cur.len() + m.len() + 3 > MAX_DATAGRAM {
            cur.extend_from_slice(b"]}");
            out.push(std::mem::replace(&mut cur, head.clone().into_bytes()));
            n = 0;
        }
        if n > 0 {
            cur.push(b',');
        }
        cur.extend_from_slice(m);
        n += 1;
    }
    if n > 0 {
        cur.extend_from_slice(b"]}");
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_datagrams_decode_and_respect_the_limit() {
        let msg = PeerMsg::Assign {
            id: "x".repeat(1000),
        };
        let bytes = serde_json::to_vec(&msg).unwrap();
        let msgs = vec![bytes; 200];
        let dgrams = pack(&NodeId::from("n1"), &NodeId::from("n2"), &msgs);
        assert!(dgrams.len() > 1);
        let mut total = 0;
        for d in &dgrams {
            assert!(d.len() <= MAX_DATAGRAM);
            let env: Envelope = serde_json::from_slice(d).unwrap();
            assert_eq!(env.to, NodeId::from("n2"));
            total += env.msgs.len();
        }
        assert_eq!(total, 200);
    }
}
