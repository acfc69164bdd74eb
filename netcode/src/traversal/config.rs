//! The traversal's settings, what it makes of an incoming datagram, and its counters.

use std::net::SocketAddr;
use std::time::Duration;

/// Timing of traversal. Every field's default is in its doc.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TraversalConfig {
    /// Rendezvous services to register with. Default: none (members' candidates then come
    /// only through the session, see [`super::Traversal::learn_member`]; until one is
    /// learned, datagrams go to session addresses as they are).
    pub rendezvous: Vec<SocketAddr>,
    /// How often each member registers again (also the keepalive of its NAT mapping to
    /// the service). Default: 2 s.
    pub register_every: Duration,
    /// Probe interval while punching. Default: 100 ms.
    pub probe_every: Duration,
    /// How long a punch probes at that interval before slowing down. Default: 3 s.
    pub punch_burst: Duration,
    /// Probe interval after the burst, while no direct path is known. Default: 1 s.
    pub slow_probe_every: Duration,
    /// Keepalive probe interval on a chosen path (home routers drop idle UDP mappings
    /// after ~30 s, some carrier NATs after 15 s). Default: 2 s.
    pub keepalive_every: Duration,
    /// A chosen path with nothing received for this long is dropped and punched again.
    /// Default: 5 s.
    pub path_timeout: Duration,
    /// Punching this long without a direct path, and with no member relaying, sends
    /// through the rendezvous service, when no other member is reachable directly (a
    /// two-player session). Default: 1.5 s.
    pub service_relay_after: Duration,
    /// The same when another member is reachable directly and so may relay: the session's
    /// relay through a member comes before the service's. Default: 5 s.
    pub service_relay_with_members: Duration,
    /// A member neither heard nor listed by the service for this long is forgotten.
    /// Default: 90 s.
    pub forget_after: Duration,
}

impl Default for TraversalConfig {
    fn default() -> Self {
        TraversalConfig {
            rendezvous: Vec::new(),
            register_every: Duration::from_secs(2),
            probe_every: Duration::from_millis(100),
            punch_burst: Duration::from_secs(3),
            slow_probe_every: Duration::from_secs(1),
            keepalive_every: Duration::from_secs(2),
            path_timeout: Duration::from_secs(5),
            service_relay_after: Duration::from_millis(1500),
            service_relay_with_members: Duration::from_secs(5),
            forget_after: Duration::from_secs(90),
        }
    }
}

crate::config::setters!(TraversalConfig {
    rendezvous: Vec<SocketAddr>,
    register_every: Duration,
    probe_every: Duration,
    punch_burst: Duration,
    slow_probe_every: Duration,
    keepalive_every: Duration,
    path_timeout: Duration,
    service_relay_after: Duration,
    service_relay_with_members: Duration,
    forget_after: Duration,
});

/// What a datagram from the socket is, once traversal looked at it.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A session datagram: hand the same bytes to the session as from this address.
    Session(SocketAddr),
    /// A session datagram the rendezvous service relayed: hand these bytes to the session
    /// as from this address.
    Relayed(SocketAddr, Vec<u8>),
    /// Traversal's own (a probe, a rendezvous answer), or nothing to keep.
    Consumed,
}

/// Counters of traversal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraversalStats {
    /// Probes sent.
    pub probes_sent: u64,
    /// Valid probes received.
    pub probes_received: u64,
    /// Datagrams sent through the rendezvous service's relay.
    pub service_relayed_out: u64,
    /// Datagrams received through the rendezvous service's relay.
    pub service_relayed_in: u64,
    /// Paths chosen (a member's first, and each change).
    pub paths_chosen: u64,
}
