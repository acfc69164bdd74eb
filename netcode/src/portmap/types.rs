//! The port mapper's configuration, what it grants, and the steps of its UPnP thread.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// The timing of the port-mapping client. Every field's default is in its doc.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortMapConfig {
    /// Lease asked for. Default: 2 hours (RFC 6886's recommendation; routers often grant
    /// less, and the mapping is renewed at half of what they grant).
    pub lifetime: Duration,
    /// Wait before the first retransmission; each later wait doubles. Default: 250 ms
    /// (RFC 6886's first wait).
    pub first_retransmit: Duration,
    /// A request not answered this long after it was first sent is given up. Default: 3 s.
    pub give_up_after: Duration,
}

impl Default for PortMapConfig {
    fn default() -> Self {
        PortMapConfig {
            lifetime: Duration::from_secs(7200),
            first_retransmit: Duration::from_millis(250),
            give_up_after: Duration::from_secs(3),
        }
    }
}

crate::config::setters!(PortMapConfig {
    lifetime: Duration,
    first_retransmit: Duration,
    give_up_after: Duration,
});

/// The protocol a mapping was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Port Control Protocol (RFC 6887).
    Pcp,
    /// NAT Port Mapping Protocol (RFC 6886).
    NatPmp,
    /// UPnP Internet Gateway Device.
    Upnp,
}

impl Protocol {
    /// The protocol's usual name: `PCP`, `NAT-PMP`, `UPnP-IGD`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Pcp => "PCP",
            Protocol::NatPmp => "NAT-PMP",
            Protocol::Upnp => "UPnP-IGD",
        }
    }
}

/// A mapping the router granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// How it was made.
    pub protocol: Protocol,
    /// Where the internet reaches the game port.
    pub external: SocketAddr,
    /// The lease granted.
    pub lifetime: Duration,
    /// When it was granted (or last renewed).
    pub granted: Duration,
}

/// What the transport's UPnP thread should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpnpCommand {
    /// Look for an IGD at the gateway.
    Search {
        /// The default gateway.
        gateway: Ipv4Addr,
    },
    /// Map (or renew) UDP `internal`, preferably at `external_port`, for `lease` seconds.
    Map {
        /// The game socket's address on the LAN.
        internal: SocketAddrV4,
        /// The external port wished for.
        external_port: u16,
        /// Lease in seconds.
        lease: u32,
    },
    /// Delete the mapping of `external_port`.
    Unmap {
        /// The external port mapped.
        external_port: u16,
    },
}

/// What the transport's UPnP thread found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpnpEvent {
    /// An IGD answered at the gateway.
    Found,
    /// No IGD at the gateway (or it answered from elsewhere).
    NotFound,
    /// The mapping was made or renewed.
    Mapped(SocketAddrV4),
    /// The IGD refused to map.
    MapFailed,
}
