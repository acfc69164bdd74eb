//! [`PeerOptions`]: how a [`Peer`](super::Peer) takes part, checked once when the peer is made.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::LinkConditions;
use crate::SessionConfig;
use crate::config::{ConfigError, above_zero};
use crate::dht::DhtConfig;
use crate::stun::StunConfig;
use crate::traversal::TraversalConfig;

/// How a [`Peer`](super::Peer) takes part.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PeerOptions {
    /// Display name. Default: "player".
    pub name: String,
    /// Address to bind. Default: `0.0.0.0:0` (all interfaces, any free port).
    pub bind: SocketAddr,
    /// Address other peers know us by. Default: with a rendezvous service, the address it
    /// sees us at; else the bound port on the address this machine uses to reach the
    /// internet; without a default route, on its first non-loopback interface address;
    /// loopback when there is none (when binding to a concrete address, that address).
    pub advertise: Option<SocketAddr>,
    /// Session tuning. Default: [`SessionConfig::default`].
    pub config: SessionConfig,
    /// What this peer sends goes through these conditions (to try a bad network on one
    /// machine; the simulator's model). Default: [`LinkConditions::perfect`].
    pub conditions: LinkConditions,
    /// How long to try joining, through every contact, before giving up (each contact gets
    /// `SessionConfig::contact_timeout`), from when the contacts are known (after the
    /// rendezvous questions and the first punching, if any). Default: 10 s.
    pub join_timeout: Duration,
    /// NAT traversal: the rendezvous services (`rendezvous`: a host registers there and
    /// its invites name them; a joiner asks them besides those its invite names) and
    /// timing. Default: [`TraversalConfig::default`] (no service: no traversal).
    pub traversal: TraversalConfig,
    /// How long to wait for the rendezvous services' answer to each question (where they
    /// see us; who is in the session). Default: 3 s.
    pub rendezvous_timeout: Duration,
    /// STUN servers asked, from the game socket, where the internet sees this peer (its
    /// reflexive address, [`Peer::reflexive`](super::Peer::reflexive)) and how its NAT maps ([`Peer::nat_mapping`](super::Peer::nat_mapping));
    /// with a rendezvous service, the answer becomes one of its punching candidates.
    /// Asked in the background: host and join
    /// do not wait for it. Servers of the other IP family than the bound socket's are
    /// skipped. Default: [`StunConfig::default`] (no server: nothing is sent to any address
    /// the player did not give).
    pub stun: StunConfig,
    /// Ask the home router (the default gateway, only) to map the game port, by PCP,
    /// NAT-PMP or UPnP-IGD, whichever answers ([`crate::portmap`]): the mapped address
    /// ([`Peer::mapped`](super::Peer::mapped)) is reachable from anywhere and becomes a punching candidate. Asked
    /// in the background, renewed at half the lease, deleted on leave and when the peer is
    /// dropped. Default: false (`game --online` and `--port-mapping` turn it on).
    pub port_mapping: bool,
    /// Discovery on the BitTorrent Mainline DHT (its own socket): members publish the
    /// session's sealed record there (the host writes it), a joiner looks it up and knocks,
    /// and the host's router is opened towards the knock. Default: `None` (nothing is sent
    /// to the DHT; `game --online` uses the public bootstrap nodes, `--dht-bootstrap`
    /// names others).
    pub dht: Option<DhtConfig>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            name: "player".into(),
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            advertise: None,
            config: SessionConfig::default(),
            conditions: LinkConditions::perfect(),
            join_timeout: Duration::from_secs(10),
            traversal: TraversalConfig::default(),
            rendezvous_timeout: Duration::from_secs(3),
            stun: StunConfig::default(),
            port_mapping: false,
            dht: None,
        }
    }
}

impl PeerOptions {
    /// Checks the options once, when a [`Peer`](super::Peer) is made with them: the session's
    /// configuration ([`SessionConfig::validate`]) and the join's and rendezvous
    /// service's timeouts (above zero).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()?;
        above_zero("join_timeout", self.join_timeout)?;
        above_zero("rendezvous_timeout", self.rendezvous_timeout)
    }
}

crate::config::setters!(PeerOptions {
    name: String,
    bind: SocketAddr,
    advertise: Option<SocketAddr>,
    config: SessionConfig,
    conditions: LinkConditions,
    join_timeout: Duration,
    traversal: TraversalConfig,
    rendezvous_timeout: Duration,
    stun: StunConfig,
    port_mapping: bool,
    dht: Option<DhtConfig>,
});
