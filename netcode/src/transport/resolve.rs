//! The STUN servers a player names (`--stun`, `--online`), turned into addresses.

use std::net::SocketAddr;

use super::TransportError;

/// The STUN servers to ask: those `given` (`--stun HOST:PORT`, names or addresses, an
/// IPv4 address first), which replace the public ones; else, only when the player chose
/// online play, the well-known public servers ([`crate::stun::PUBLIC_STUN_SERVERS`],
/// resolved now; those that do not resolve are skipped); else none. A test, bench or
/// script names its own servers or none, and never chooses `online`.
pub fn stun_servers(given: &[String], online: bool) -> Result<Vec<SocketAddr>, TransportError> {
    use std::net::ToSocketAddrs;
    let resolve = |text: &str| -> Result<SocketAddr, TransportError> {
        let bad = |source| TransportError::BadStunServer {
            text: text.to_string(),
            source,
        };
        let found: Vec<SocketAddr> = text.trim().to_socket_addrs().map_err(bad)?.collect();
        let first = found.iter().find(|a| a.is_ipv4()).or(found.first()).copied();
        first.ok_or_else(|| bad(std::io::ErrorKind::AddrNotAvailable.into()))
    };
    let given: Vec<&String> = given.iter().filter(|t| !t.trim().is_empty()).collect();
    if !given.is_empty() {
        return given.into_iter().map(|t| resolve(t)).collect();
    }
    if !online {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for name in crate::stun::PUBLIC_STUN_SERVERS {
        match resolve(name) {
            Ok(addr) if !out.contains(&addr) => out.push(addr),
            Ok(_) => {}
            Err(e) => log::debug!("{e}"),
        }
    }
    if out.is_empty() {
        return Err(TransportError::NoPublicStun);
    }
    Ok(out)
}
