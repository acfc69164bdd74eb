//! Starting the port mapper on a transport's socket (`PeerOptions::port_mapping`,
//! `NetcheckOptions::port_mapping`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use super::UdpTransport;
use crate::portmap::upnp::{IgdNext, UpnpWorker};
use crate::portmap::{PortMapConfig, PortMapper, default_gateway};

/// Asks the default gateway of this machine's network to map the socket's port (IPv4
/// sockets only; nothing without a default gateway). The mapping is asked in the
/// background and deleted when the transport is dropped.
pub(super) fn start_port_mapping(
    transport: &mut UdpTransport,
    cfg: PortMapConfig,
    seed: u64,
    now: std::time::Duration,
) {
    let local = transport.local_addr();
    let SocketAddr::V4(local) = local else {
        log::debug!("port mapping: IPv6 socket, not mapped");
        return;
    };
    let gateway = default_gateway();
    let ip = gateway
        .and_then(|g| source_towards(*local.ip(), g))
        .unwrap_or(*local.ip());
    let mut mapper = PortMapper::new(cfg, gateway, SocketAddrV4::new(ip, local.port()), seed);
    mapper.start(now);
    let upnp = gateway.and_then(|_| match UpnpWorker::spawn(Box::new(IgdNext::default())) {
        Ok(w) => Some(w),
        Err(e) => {
            log::debug!("port mapping: no UPnP thread: {e}");
            None
        }
    });
    transport.set_portmap(mapper, upnp);
}

/// The address this machine sends from towards `gateway` (`bound` when the socket is bound
/// to a concrete address). A UDP "connect" sends nothing; it only picks the interface.
fn source_towards(bound: Ipv4Addr, gateway: Ipv4Addr) -> Option<Ipv4Addr> {
    if !bound.is_unspecified() {
        return Some(bound);
    }
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    probe.connect((gateway, crate::portmap::SERVER_PORT)).ok()?;
    match probe.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}
