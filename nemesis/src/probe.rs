//! Connectivity probes: how the sandbox checks that a partition (or a heal) really took
//! effect. Each node namespace holds a UDP socket of the controller's (made inside the
//! namespace, so it sends and receives *as that node*); a probe round sends one datagram per
//! ordered pair and checks that exactly the allowed ones arrive. No node process is
//! involved, so a killed or paused node does not disturb the check.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// A probe endpoint: a name for messages, a socket, and the address others send it to.
#[derive(Debug)]
pub(crate) struct Endpoint<'a> {
    pub name: String,
    pub sock: &'a UdpSocket,
    pub addr: SocketAddr,
}

/// How long, after every allowed probe arrived, to keep listening for blocked ones. The
/// blocked datagrams were sent *before* the allowed ones over the same bridge, so a leak
/// would already be there; the grace only covers scheduling noise.
const GRACE: Duration = Duration::from_millis(2);
/// Allowed probes still missing are sent again this often (a first ARP may drop one).
const RESEND: Duration = Duration::from_millis(50);

fn payload(nonce: u64, s: usize, r: usize) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&nonce.to_le_bytes());
    b[8..10].copy_from_slice(&(s as u16).to_le_bytes());
    b[10..12].copy_from_slice(&(r as u16).to_le_bytes());
    b
}

/// Sends one probe for every ordered pair (sender, receiver) of different names and checks
/// that exactly the pairs not in `blocked` (sender index, receiver index) arrive within
/// `timeout`. Returns the instant the check completed, or a description of what differed.
pub(crate) fn verify(
    senders: &[Endpoint<'_>],
    receivers: &[Endpoint<'_>],
    blocked: &BTreeSet<(usize, usize)>,
    timeout: Duration,
) -> Result<Instant, String> {
    let nonce: u64 = rand::random();
    for r in receivers {
        drain(r.sock, |_| {});
    }
    let mut allowed = BTreeSet::new();
    let mut order: Vec<(usize, usize)> = Vec::new();
    for (si, s) in senders.iter().enumerate() {
        for (ri, r) in receivers.iter().enumerate() {
            if s.name == r.name {
                continue;
            }
            if blocked.contains(&(si, ri)) {
                order.insert(0, (si, ri));
            } else {
                allowed.insert((si, ri));
                order.push((si, ri));
            }
        }
    }
    let send = |pairs: &mut dyn Iterator<Item = (usize, usize)>| {
        for (si, ri) in pairs {
            // A send error (e.g. EPERM from a firewall) is the same as a drop for us.
            let _ = senders[si]
                .sock
                .send_to(&payload(nonce, si, ri), receivers[ri].addr);
        }
    };
    send(&mut order.iter().copied());
    let start = Instant::now();
    let mut last_send = start;
    let mut got: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut all_in_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if let Some(t) = all_in_at {
            if now >= t + GRACE {
                break;
            }
        } else if now >= start + timeout {
            break;
        }
        wait_readable(receivers, Duration::from_millis(1));
        for (ri, r) in receivers.iter().enumerate() {
            drain(r.sock, |buf| {
                if buf.len() == 12 && buf[..8] == nonce.to_le_bytes() {
                    let si = u16::from_le_bytes([buf[8], buf[9]]) as usize;
                    let dst = u16::from_le_bytes([buf[10], buf[11]]) as usize;
                    if dst == ri {
                        got.insert((si, ri));
                    }
                }
            });
        }
        if all_in_at.is_none() && allowed.is_subset(&got) {
            all_in_at = Some(Instant::now());
        }
        if all_in_at.is_none() && now.duration_since(last_send) >= RESEND {
            send(&mut allowed.difference(&got).copied());
            last_send = now;
        }
    }
    let leaked: Vec<String> = got
        .intersection(blocked)
        .map(|(s, r)| format!("{} -> {}", senders[*s].name, receivers[*r].name))
        .collect();
    let lost: Vec<String> = allowed
        .difference(&got)
        .map(|(s, r)| format!("{} -> {}", senders[*s].name, receivers[*r].name))
        .collect();
    if leaked.is_empty() && lost.is_empty() {
        return Ok(Instant::now());
    }
    let mut msg = Vec::new();
    if !leaked.is_empty() {
        msg.push(format!("cut pairs still deliver: {}", leaked.join(", ")));
    }
    if !lost.is_empty() {
        msg.push(format!(
            "allowed pairs lost within {timeout:?}: {}",
            lost.join(", ")
        ));
    }
    Err(msg.join("; "))
}

fn wait_readable(eps: &[Endpoint<'_>], max: Duration) {
    let mut fds: Vec<PollFd<'_>> = eps
        .iter()
        .map(|e| PollFd::new(e.sock.as_fd(), PollFlags::POLLIN))
        .collect();
    let ms = u16::try_from(max.as_millis()).unwrap_or(u16::MAX);
    let _ = poll(&mut fds, PollTimeout::from(ms));
}

/// Reads every queued datagram (the socket is non-blocking).
fn drain(sock: &UdpSocket, mut f: impl FnMut(&[u8])) {
    let mut buf = [0u8; 64];
    // Bounded: a socket queue holds at most a few hundred small datagrams.
    for _ in 0..10_000 {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => f(&buf[..n]),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep<'a>(name: &str, s: &'a UdpSocket) -> Endpoint<'a> {
        Endpoint {
            name: name.into(),
            sock: s,
            addr: s.local_addr().unwrap(),
        }
    }

    fn sock() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    /// On loopback everything is delivered: an empty grudge verifies, and a claimed cut is
    /// reported as leaking (the check can fail).
    #[test]
    fn loopback_probe_detects_delivery_and_leaks() {
        let (a, b, c) = (sock(), sock(), sock());
        let eps = [ep("a", &a), ep("b", &b), ep("c", &c)];
        verify(&eps, &eps, &BTreeSet::new(), Duration::from_secs(2)).unwrap();
        let err = verify(
            &eps,
            &eps,
            &BTreeSet::from([(0, 1)]),
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(err.contains("a -> b"), "{err}");
        assert!(!err.contains("lost"), "{err}");
    }

    /// A receiver that is gone (closed socket) makes the allowed pairs to it "lost".
    #[test]
    fn lost_probes_are_reported_after_the_timeout() {
        let (a, b) = (sock(), sock());
        let dead = sock();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let c = sock();
        let senders = [ep("a", &a), ep("b", &b)];
        let receivers = [
            ep("b", &b),
            Endpoint {
                name: "c".into(),
                sock: &c,
                addr: dead_addr,
            },
        ];
        let err = verify(
            &senders,
            &receivers,
            &BTreeSet::new(),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(err.contains("a -> c") && err.contains("b -> c"), "{err}");
        assert!(!err.contains("a -> b"), "{err}");
    }
}
