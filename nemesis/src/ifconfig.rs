//! Interface setup inside a node namespace with the classic socket ioctls (`SIOCSIFADDR`,
//! `SIOCSIFNETMASK`, `SIOCSIFFLAGS`). They act on the namespace of the socket they are
//! issued on, and the sandbox already holds a UDP socket inside every node namespace, so a
//! node's `lo` and `eth0` come up without forking `ip` five times: the sandbox comes up
//! faster and stays fast when the machine is loaded.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is a plain C struct (name bytes and a union of plain data); all-zero
    // is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= r.ifr_name.len() {
        return Err(io::Error::other(format!(
            "interface name {name:?} too long"
        )));
    }
    for (d, s) in r.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(r)
}

fn ioctl(sock: &UdpSocket, req: libc::c_ulong, r: &mut libc::ifreq, what: &str) -> io::Result<()> {
    // SAFETY: `r` is a valid, initialized ifreq that outlives the call; these requests
    // read and write only within it.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), req as _, r as *mut libc::ifreq) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// The ifreq of `name` with its current flags (`SIOCGIFFLAGS`).
fn get_flags(sock: &UdpSocket, name: &str) -> io::Result<(libc::ifreq, libc::c_short)> {
    let mut r = ifreq(name)?;
    ioctl(
        sock,
        libc::SIOCGIFFLAGS,
        &mut r,
        &format!("get flags of {name}"),
    )?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { r.ifr_ifru.ifru_flags };
    Ok((r, flags))
}

/// Sets the link up (like `ip link set NAME up`).
pub(crate) fn set_up(sock: &UdpSocket, name: &str) -> io::Result<()> {
    let (mut r, flags) = get_flags(sock, name)?;
    r.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    ioctl(sock, libc::SIOCSIFFLAGS, &mut r, &format!("set {name} up"))
}

/// Whether the link is operationally up (`IFF_RUNNING`): carrier on, and the kernel's
/// link-watch has activated its queue (before that, packets sent on it are dropped).
pub(crate) fn is_running(sock: &UdpSocket, name: &str) -> io::Result<bool> {
    let (_, flags) = get_flags(sock, name)?;
    Ok(flags & libc::IFF_RUNNING as libc::c_short != 0)
}

fn set_sockaddr(r: &mut libc::ifreq, ip: Ipv4Addr) {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size (16 bytes); the union member is
    // plain data, so writing it through a cast pointer is sound.
    unsafe {
        std::ptr::write(
            std::ptr::addr_of_mut!(r.ifr_ifru).cast::<libc::sockaddr_in>(),
            sin,
        )
    };
}

/// Gives `name` the address `ip/prefix` (like `ip addr add`; the subnet route follows).
pub(crate) fn set_addr(sock: &UdpSocket, name: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
    let mut r = ifreq(name)?;
    set_sockaddr(&mut r, ip);
    ioctl(
        sock,
        libc::SIOCSIFADDR,
        &mut r,
        &format!("set address of {name}"),
    )?;
    let mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0));
    let mut r = ifreq(name)?;
    set_sockaddr(&mut r, mask);
    ioctl(
        sock,
        libc::SIOCSIFNETMASK,
        &mut r,
        &format!("set netmask of {name}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_refused_not_truncated() {
        assert!(ifreq("eth0").is_ok());
        let e = ifreq("a-very-long-interface-name").unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
    }
}
