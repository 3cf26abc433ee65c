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
/// `timeout`. Pairs in `ignore` (lossy links, whose single probe may or may not arrive)
/// are not probed. Returns the instant the check completed, or a description of what
/// differed.
pub(crate) fn verify(
    senders: &[Endpoint<'_>],
    receivers: &[Endpoint<'_>],
    blocked: &BTreeSet<(usize, usize)>,
    ignore: &BTreeSet<(usize, usize)>,
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
            if s.name == r.name || (ignore.contains(&(si, ri)) && !blocked.contains(&(si, ri))) {
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

/// How many datagrams of one loss measurement go in one burst before the receiver is
/// drained (the receive queue holds a few hundred; this keeps it far from full, so a drop
/// is the fault's, not the queue's).
const LOSS_BATCH: u32 = 32;

/// Sends `n` numbered datagrams from `from` to `to` and returns how many distinct ones
/// arrived. Waits for stragglers until none came for [`GRACE`] (at most `timeout`).
pub(crate) fn count_delivered(
    from: &UdpSocket,
    to: &Endpoint<'_>,
    n: u32,
    timeout: Duration,
) -> u32 {
    let nonce: u64 = rand::random();
    drain(to.sock, |_| {});
    let mut seen = vec![false; n as usize];
    let count = std::cell::Cell::new(0u32);
    let mut record = |buf: &[u8]| {
        if buf.len() == 12 && buf[..8] == nonce.to_le_bytes() {
            let k = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
            if k < seen.len() && !seen[k] {
                seen[k] = true;
                count.set(count.get() + 1);
            }
        }
    };
    let mut k = 0u32;
    while k < n {
        let end = (k + LOSS_BATCH).min(n);
        for i in k..end {
            let mut b = [0u8; 12];
            b[..8].copy_from_slice(&nonce.to_le_bytes());
            b[8..].copy_from_slice(&i.to_le_bytes());
            // A send error is a lost datagram, as for the partition probes.
            let _ = from.send_to(&b, to.addr);
        }
        drain(to.sock, &mut record);
        k = end;
    }
    let deadline = Instant::now() + timeout;
    let mut last_new = Instant::now();
    loop {
        let before = count.get();
        wait_one(to.sock, Duration::from_millis(1));
        drain(to.sock, &mut record);
        let now = Instant::now();
        if count.get() > before {
            last_new = now;
        }
        if count.get() == n || now.duration_since(last_new) >= GRACE || now >= deadline {
            return count.get();
        }
    }
}

/// The size of the datagrams of a rate measurement (fits a 1500-byte MTU).
pub(crate) const RATE_DATAGRAM: usize = 1400;

/// Datagrams sent per round of a rate measurement: enough to keep the token bucket's queue
/// non-empty while the measuring thread is off the CPU for a moment, so the arrivals show the
/// limit and not the sender's scheduling.
const RATE_SENDS_PER_ROUND: usize = 4;

/// Sends [`RATE_DATAGRAM`]-byte datagrams from `from` to `to` as fast as the socket takes
/// them for `window`, draining `to` meanwhile, and returns the throughput after the first
/// `burst` bytes arrived (what a token bucket lets through at line speed), in kbit/s, with
/// how many datagrams that figure rests on. None when fewer than 5 arrived after the burst.
///
/// Arrival times are the kernel's receive timestamps (`SO_TIMESTAMPNS`) when the socket
/// gives them, so a measuring thread descheduled on a loaded machine, which then reads a
/// batch of datagrams at once, does not distort the figure; the time of the read is the
/// fallback.
pub(crate) fn measure_rate(
    from: &UdpSocket,
    to: &Endpoint<'_>,
    burst: u64,
    window: Duration,
) -> Option<(f64, usize)> {
    let nonce: u64 = rand::random();
    drain(to.sock, |_| {});
    let stamped = kernel_stamps::enable(to.sock);
    let mut arrivals: Vec<(Duration, usize)> = Vec::new();
    let mut buf = vec![0u8; RATE_DATAGRAM];
    buf[..8].copy_from_slice(&nonce.to_le_bytes());
    let start = Instant::now();
    let mut rbuf = vec![0u8; RATE_DATAGRAM + 64];
    // Bounded by the window (the loop reads the clock every round).
    while start.elapsed() < window {
        for _ in 0..RATE_SENDS_PER_ROUND {
            let _ = from.send_to(&buf, to.addr);
        }
        for _ in 0..1000 {
            let got = if stamped {
                kernel_stamps::recv(to.sock, &mut rbuf)
            } else {
                to.sock.recv_from(&mut rbuf).ok().map(|(n, _)| (n, None))
            };
            match got {
                Some((n, at)) if n >= 8 && rbuf[..8] == nonce.to_le_bytes() => {
                    arrivals.push((at.unwrap_or_else(kernel_stamps::realtime_now), n));
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    if stamped {
        kernel_stamps::disable(to.sock);
    }
    rate_after_burst(&arrivals, burst)
}

/// The throughput of `arrivals` (time, bytes) after the first `burst` bytes, in kbit/s, and
/// the number of datagrams it rests on; None when fewer than 5 follow the burst.
fn rate_after_burst(arrivals: &[(Duration, usize)], burst: u64) -> Option<(f64, usize)> {
    let mut cum = 0u64;
    let first = arrivals.iter().position(|(_, n)| {
        cum += *n as u64;
        cum >= burst
    })?;
    let after = &arrivals[first..];
    if after.len() < 6 {
        return None;
    }
    let bytes: usize = after[1..].iter().map(|(_, n)| n).sum();
    let secs = after[after.len() - 1]
        .0
        .checked_sub(after[0].0)?
        .as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    Some((bytes as f64 * 8.0 / secs / 1000.0, after.len() - 1))
}

/// Kernel receive timestamps on a UDP socket (`SO_TIMESTAMPNS`, CLOCK_REALTIME of the
/// host: only differences are used).
mod kernel_stamps {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use nix::sys::socket::{
        recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
    };
    use nix::sys::time::TimeSpec;

    /// Turns timestamps on; false when the kernel refuses.
    pub(super) fn enable(sock: &UdpSocket) -> bool {
        setsockopt(sock, sockopt::ReceiveTimestampns, &true).is_ok()
    }

    /// Turns them off again (the socket serves the connectivity probes too).
    pub(super) fn disable(sock: &UdpSocket) {
        let _ = setsockopt(sock, sockopt::ReceiveTimestampns, &false);
    }

    /// One datagram without blocking: its length and its kernel timestamp, if any.
    pub(super) fn recv(sock: &UdpSocket, buf: &mut [u8]) -> Option<(usize, Option<Duration>)> {
        let mut iov = [std::io::IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(TimeSpec);
        let msg = recvmsg::<SockaddrStorage>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        )
        .ok()?;
        let at = msg.cmsgs().ok().and_then(|mut it| {
            it.find_map(|c| match c {
                ControlMessageOwned::ScmTimestampns(ts) => Some(Duration::from(ts)),
                _ => None,
            })
        });
        Some((msg.bytes, at))
    }

    /// The host's CLOCK_REALTIME, the clock of the kernel's stamps (for a datagram that came
    /// without one).
    pub(super) fn realtime_now() -> Duration {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

fn wait_one(sock: &UdpSocket, max: Duration) {
    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(max.as_millis()).unwrap_or(u16::MAX);
    let _ = poll(&mut fds, PollTimeout::from(ms));
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
        verify(
            &eps,
            &eps,
            &BTreeSet::new(),
            &BTreeSet::new(),
            Duration::from_secs(2),
        )
        .unwrap();
        let err = verify(
            &eps,
            &eps,
            &BTreeSet::from([(0, 1)]),
            &BTreeSet::new(),
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(err.contains("a -> b"), "{err}");
        assert!(!err.contains("lost"), "{err}");
    }

    /// On loopback nothing is lost: every numbered datagram is counted once, and an
    /// ignored pair is not probed (a dead receiver there does not fail the check).
    #[test]
    fn loss_count_sees_every_datagram_on_loopback() {
        let (a, b) = (sock(), sock());
        assert_eq!(
            count_delivered(&a, &ep("b", &b), 500, Duration::from_secs(2)),
            500
        );
        let dead = sock();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let c = sock();
        let receivers = [
            ep("b", &b),
            Endpoint {
                name: "c".into(),
                sock: &c,
                addr: dead_addr,
            },
        ];
        let senders = [ep("a", &a)];
        verify(
            &senders,
            &receivers,
            &BTreeSet::new(),
            &BTreeSet::from([(0, 1)]),
            Duration::from_millis(100),
        )
        .unwrap();
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
            &BTreeSet::new(),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(err.contains("a -> c") && err.contains("b -> c"), "{err}");
        assert!(!err.contains("a -> b"), "{err}");
    }

    /// The figure is the bytes after the burst over their kernel-stamped span: a batch read
    /// late (all stamped at the time of their arrival, not of the read) gives the rate of the
    /// arrivals.
    #[test]
    fn rate_after_burst_uses_the_arrival_stamps() {
        let ms = Duration::from_millis;
        // A 3,000-byte burst at t=0, then one 1,000-byte datagram per ms: 8,000 kbit/s.
        let mut a = vec![(ms(0), 1000), (ms(0), 1000), (ms(0), 1000)];
        a.extend((1..=10).map(|i| (ms(i), 1000)));
        let (kbit, n) = rate_after_burst(&a, 3000).unwrap();
        assert!((kbit - 8000.0).abs() < 1.0, "{kbit}");
        assert_eq!(n, 10);
        // Too few after the burst, or stamps going backwards: no figure.
        assert!(rate_after_burst(&a[..6], 3000).is_none());
        let back = vec![(ms(50), 1000); 3]
            .into_iter()
            .chain((0..8).map(|i| (ms(i), 1000)));
        assert!(rate_after_burst(&back.collect::<Vec<_>>(), 3000).is_none());
    }

    /// On loopback the kernel stamps every datagram while timestamps are on, and stops once
    /// they are off again (the socket then serves the connectivity probes as before).
    #[test]
    fn kernel_stamps_arrive_on_loopback_only_while_on() {
        let (a, b) = (sock(), sock());
        let mut buf = [0u8; 64];
        let mut send_and_read = || {
            a.send_to(b"0123456789", b.local_addr().unwrap()).unwrap();
            wait_one(&b, Duration::from_secs(2));
            kernel_stamps::recv(&b, &mut buf).expect("the datagram arrives on loopback")
        };
        assert!(kernel_stamps::enable(&b));
        let (n, at) = send_and_read();
        assert_eq!(n, 10);
        assert!(at.expect("a kernel timestamp") <= kernel_stamps::realtime_now());
        kernel_stamps::disable(&b);
        let (n, at) = send_and_read();
        assert_eq!(n, 10);
        assert_eq!(at, None, "no stamp once timestamps are off");
    }
}
