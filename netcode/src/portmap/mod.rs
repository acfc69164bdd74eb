//! Router port mapping for the game port: PCP (RFC 6887), NAT-PMP (RFC 6886) and
//! UPnP-IGD, as Tailscale's portmapper and iroh do it; sans-IO.
//!
//! [`PortMapper`] only ever talks to the default gateway of the player's own network
//! ([`default_gateway`], read from `/proc/net/route` on Linux). At [`PortMapper::start`] it
//! sends a PCP MAP request and a NAT-PMP external-address request to the gateway's port
//! 5351 together, and asks the transport to search for an UPnP-IGD gateway (at that
//! address only). It uses the first protocol that maps, preferring PCP, then NAT-PMP, then
//! UPnP: NAT-PMP maps once PCP turned out unsupported or silent, UPnP once both did. A
//! granted mapping's external address is a traversal candidate reachable from anywhere;
//! it is renewed at half its lease and deleted on [`PortMapper::release`] (on leave, and by
//! the transport when it is dropped).
//!
//! Answers are untrusted: one is taken only from the gateway's port 5351, only while a
//! request of that protocol is outstanding, and a PCP answer only with our request's nonce;
//! anything else changes nothing (counted in [`PortMapStats::ignored`]). No gateway, or a
//! gateway that answers nothing, costs a few small datagrams and logs at debug only.
//!
//! UPnP-IGD runs over SSDP and HTTP, with blocking calls (the `igd-next` crate): the
//! transport runs them on a thread of its own ([`upnp`]); this state machine only says
//! what to do ([`PortMapper::poll_upnp`]) and takes the outcome ([`PortMapper::handle_upnp`]).

mod codec;
mod gateway;
mod types;
pub mod upnp;

pub use codec::{
    CodecError, MAX_ANSWER_BYTES, Nonce, PCP_MAP_BYTES, PcpAnswer, PcpMap, PmpAddress, PmpAnswer, PmpMapping,
    SERVER_PORT, decode_pcp, decode_pmp, pcp_map_request, pmp_address_request, pmp_map_request,
};
#[cfg(any(test, feature = "test-util"))]
pub use codec::{pcp_map_answer, pmp_address_answer, pmp_map_answer};
pub use gateway::{default_gateway, parse_default_gateway};
pub use types::{Mapping, PortMapConfig, Protocol, UpnpCommand, UpnpEvent};

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How one protocol's probe stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Probe {
    /// Not asked (no gateway) or not yet.
    #[default]
    Idle,
    /// A request is outstanding.
    Asking,
    /// It answered (NAT-PMP: with the router's external address).
    Answered,
    /// It answered that it cannot, or never answered.
    Failed,
}

/// One outstanding request over UDP, with its retransmission schedule.
#[derive(Debug, Clone)]
struct Request {
    bytes: Vec<u8>,
    started: Duration,
    next_send: Duration,
    wait: Duration,
}

/// Counters of the port-mapping client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortMapStats {
    /// Datagrams sent to the gateway, retransmissions included.
    pub requests_sent: u64,
    /// Answers taken.
    pub answers: u64,
    /// Datagrams from port 5351 not taken: another source, a wrong nonce or opcode, no
    /// request outstanding, or bytes that do not decode.
    pub ignored: u64,
    /// Mappings granted, renewals included.
    pub granted: u64,
}

/// The port-mapping client of one socket (see the module docs).
#[derive(Debug)]
pub struct PortMapper {
    cfg: PortMapConfig,
    gateway: Option<Ipv4Addr>,
    /// The game socket's address on the gateway's network.
    internal: SocketAddrV4,
    nonce: Nonce,
    pcp: Probe,
    pmp: Probe,
    upnp: Probe,
    pmp_external: Option<Ipv4Addr>,
    pcp_request: Option<Request>,
    pmp_request: Option<Request>,
    mapping: Option<Mapping>,
    /// When to renew the mapping next (half its lease; after a silent renewal, again once
    /// that one was given up).
    next_renew: Duration,
    /// UPnP mapping in progress (asked, no answer yet).
    upnp_mapping: bool,
    out: Vec<(SocketAddr, Vec<u8>)>,
    upnp_out: Vec<UpnpCommand>,
    stats: PortMapStats,
}

impl PortMapper {
    /// A client mapping the game socket `internal` (its address on the gateway's network)
    /// through `gateway` (`None`: no default gateway, nothing is ever sent); `seed` makes
    /// the PCP nonce (random in a real peer, fixed in tests). Nothing is sent before
    /// [`PortMapper::start`].
    pub fn new(cfg: PortMapConfig, gateway: Option<Ipv4Addr>, internal: SocketAddrV4, seed: u64) -> Self {
        let hash = Sha256::new()
            .chain_update(b"netcode pcp nonce v1")
            .chain_update(seed.to_le_bytes())
            .finalize();
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&hash[..12]);
        PortMapper {
            cfg,
            gateway,
            internal,
            nonce,
            pcp: Probe::Idle,
            pmp: Probe::Idle,
            upnp: Probe::Idle,
            pmp_external: None,
            pcp_request: None,
            pmp_request: None,
            mapping: None,
            next_renew: Duration::MAX,
            upnp_mapping: false,
            out: Vec::new(),
            upnp_out: Vec::new(),
            stats: PortMapStats::default(),
        }
    }

    /// Probes the three protocols at the gateway (nothing without one).
    pub fn start(&mut self, now: Duration) {
        let Some(gateway) = self.gateway else {
            log::debug!("port mapping: no default gateway, nothing to ask");
            return;
        };
        log::debug!("port mapping: asking the gateway {gateway} (PCP, NAT-PMP, UPnP-IGD)");
        self.pcp = Probe::Asking;
        self.pmp = Probe::Asking;
        self.upnp = Probe::Asking;
        self.pcp_request = Some(self.request(self.pcp_bytes(0, self.cfg_lifetime()), now));
        self.pmp_request = Some(self.request(pmp_address_request().to_vec(), now));
        self.upnp_out.push(UpnpCommand::Search { gateway });
        self.update(now);
    }

    fn cfg_lifetime(&self) -> u32 {
        u32::try_from(self.cfg.lifetime.as_secs()).unwrap_or(u32::MAX)
    }

    fn request(&self, bytes: Vec<u8>, now: Duration) -> Request {
        Request {
            bytes,
            started: now,
            next_send: now,
            wait: self.cfg.first_retransmit,
        }
    }

    fn pcp_bytes(&self, external_port: u16, lifetime: u32) -> Vec<u8> {
        pcp_map_request(
            *self.internal.ip(),
            &self.nonce,
            self.internal.port(),
            external_port,
            lifetime,
        )
        .to_vec()
    }

    fn server(&self) -> Option<SocketAddr> {
        self.gateway.map(|g| SocketAddr::from((g, SERVER_PORT)))
    }

    /// Looks at a datagram from the socket: `true` when it came from the gateway's port
    /// 5351 (then nobody else should see it; taken or ignored). A datagram from another
    /// address is passed on (a peer may use port 5351), counted as ignored when it is
    /// shaped like a port-mapping answer.
    pub fn handle(&mut self, from: SocketAddr, bytes: &[u8], now: Duration) -> bool {
        if from.port() != SERVER_PORT {
            return false;
        }
        if Some(from) != self.server() {
            if let [version @ (codec::NATPMP_VERSION | codec::PCP_VERSION), opcode, ..] = bytes
                && opcode & 0x80 != 0
            {
                self.stats.ignored += 1;
                log::debug!("{from}: a port-mapping answer (version {version}) from another address than the gateway");
            }
            return false;
        }
        // A NAT-PMP-only server answers a PCP request in NAT-PMP's format, with result 1
        // (unsupported version).
        let unsupported = bytes.len() >= 4 && bytes[0] == codec::NATPMP_VERSION && bytes[2..4] == [0, 1];
        let taken = match bytes.first() {
            Some(&codec::PCP_VERSION) => self.handle_pcp(bytes, now),
            Some(_) if unsupported && self.pcp_request.is_some() => self.handle_pcp(bytes, now),
            Some(_) => self.handle_pmp(bytes, now),
            None => false,
        };
        if taken {
            self.stats.answers += 1;
        } else {
            self.stats.ignored += 1;
        }
        true
    }

    fn handle_pcp(&mut self, bytes: &[u8], now: Duration) -> bool {
        if self.pcp_request.is_none() {
            log::debug!("port mapping: a PCP answer with no request outstanding");
            return false;
        }
        match decode_pcp(bytes) {
            Err(e) => {
                log::debug!("port mapping: PCP answer: {e}");
                false
            }
            Ok(PcpAnswer::Map(m)) if m.nonce != self.nonce || m.internal_port != self.internal.port() => {
                log::debug!("port mapping: a PCP answer to another request (nonce or port)");
                false
            }
            Ok(PcpAnswer::Map(m)) if m.result == 0 && m.lifetime > 0 => {
                self.pcp_request = None;
                self.pcp = Probe::Answered;
                let ip = m.external.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.grant(Protocol::Pcp, SocketAddr::from((ip, m.external_port)), m.lifetime, now);
                true
            }
            Ok(PcpAnswer::Map(PcpMap { result, .. }) | PcpAnswer::Error { result }) => {
                log::debug!("port mapping: the gateway refused PCP (result {result})");
                self.pcp_failed(now);
                true
            }
            Ok(PcpAnswer::NatPmpOnly { result }) => {
                log::debug!("port mapping: the gateway speaks NAT-PMP only (result {result})");
                self.pcp_failed(now);
                true
            }
        }
    }

    fn handle_pmp(&mut self, bytes: &[u8], now: Duration) -> bool {
        if self.pmp_request.is_none() {
            log::debug!("port mapping: a NAT-PMP answer with no request outstanding");
            return false;
        }
        let asking_address = self.pmp == Probe::Asking;
        match decode_pmp(bytes) {
            Err(e) => {
                log::debug!("port mapping: NAT-PMP answer: {e}");
                false
            }
            Ok(PmpAnswer::Address(a)) if asking_address => {
                self.pmp_request = None;
                if a.result != 0 {
                    log::debug!("port mapping: the gateway refused NAT-PMP (result {})", a.result);
                    self.pmp = Probe::Failed;
                } else {
                    self.pmp = Probe::Answered;
                    self.pmp_external = Some(a.external);
                }
                self.next_step(now);
                true
            }
            Ok(PmpAnswer::Mapping(m)) if !asking_address && m.internal_port == self.internal.port() => {
                self.pmp_request = None;
                match (m.result, self.pmp_external) {
                    (0, Some(ip)) if m.lifetime > 0 => {
                        self.grant(
                            Protocol::NatPmp,
                            SocketAddr::from((ip, m.external_port)),
                            m.lifetime,
                            now,
                        );
                    }
                    _ => {
                        log::debug!("port mapping: NAT-PMP mapping refused (result {})", m.result);
                        self.pmp = Probe::Failed;
                        self.next_step(now);
                    }
                }
                true
            }
            Ok(_) => {
                log::debug!("port mapping: a NAT-PMP answer to a request not outstanding");
                false
            }
        }
    }

    fn pcp_failed(&mut self, now: Duration) {
        self.pcp_request = None;
        self.pcp = Probe::Failed;
        if self.mapping.is_some_and(|m| m.protocol == Protocol::Pcp) {
            self.mapping = None;
        }
        self.next_step(now);
    }

    /// After a probe ended: map with the best protocol still possible.
    fn next_step(&mut self, now: Duration) {
        if self.mapping.is_some() || self.pcp == Probe::Asking {
            return;
        }
        if self.pmp == Probe::Answered && self.pmp_request.is_none() {
            let bytes = pmp_map_request(self.internal.port(), self.internal.port(), self.cfg_lifetime());
            self.pmp_request = Some(self.request(bytes.to_vec(), now));
            return;
        }
        if self.pmp == Probe::Asking || self.pmp_request.is_some() {
            return;
        }
        if self.upnp == Probe::Answered && !self.upnp_mapping {
            self.upnp_mapping = true;
            self.upnp_out.push(UpnpCommand::Map {
                internal: self.internal,
                external_port: self.internal.port(),
                lease: self.cfg_lifetime(),
            });
        }
    }

    fn grant(&mut self, protocol: Protocol, external: SocketAddr, lifetime: u32, now: Duration) {
        let fresh = self.mapping.is_none_or(|m| m.external != external);
        let lifetime = Duration::from_secs(u64::from(lifetime));
        self.mapping = Some(Mapping {
            protocol,
            external,
            lifetime,
            granted: now,
        });
        self.next_renew = now + lifetime / 2;
        self.stats.granted += 1;
        if fresh {
            log::info!(
                "port mapping: the router maps {external} to our port ({}, lease {lifetime:?})",
                protocol.name()
            );
        } else {
            log::debug!("port mapping: {} renewed {external} for {lifetime:?}", protocol.name());
        }
    }

    /// Takes what the UPnP thread found.
    pub fn handle_upnp(&mut self, event: UpnpEvent, now: Duration) {
        match event {
            UpnpEvent::Found => {
                self.upnp = Probe::Answered;
                self.next_step(now);
            }
            UpnpEvent::NotFound => self.upnp = Probe::Failed,
            UpnpEvent::Mapped(external) => {
                self.upnp_mapping = false;
                if self.mapping.is_none_or(|m| m.protocol == Protocol::Upnp) {
                    self.grant(Protocol::Upnp, SocketAddr::V4(external), self.cfg_lifetime(), now);
                }
            }
            UpnpEvent::MapFailed => {
                self.upnp_mapping = false;
                if self.mapping.is_some_and(|m| m.protocol == Protocol::Upnp) {
                    self.mapping = None;
                }
                self.upnp = Probe::Failed;
            }
        }
    }

    /// Advances time: sends and retransmits what is due, gives up on silent requests,
    /// renews a mapping at half its lease and forgets one whose lease ran out.
    pub fn update(&mut self, now: Duration) {
        if let Some(m) = self.mapping {
            if now >= m.granted + m.lifetime {
                log::debug!("port mapping: the lease of {} ran out", m.external);
                self.mapping = None;
            } else if now >= self.next_renew && !self.renewing() {
                self.next_renew = now + self.cfg.give_up_after;
                self.renew(m, now);
            }
        }
        let Some(server) = self.server() else {
            return;
        };
        for pcp in [true, false] {
            let slot = if pcp {
                &mut self.pcp_request
            } else {
                &mut self.pmp_request
            };
            let Some(r) = slot else { continue };
            if now < r.next_send {
                continue;
            }
            if now.saturating_sub(r.started) >= self.cfg.give_up_after {
                *slot = None;
                log::debug!(
                    "port mapping: no {} answer from {server}",
                    if pcp { "PCP" } else { "NAT-PMP" }
                );
                if self.mapping.is_none() {
                    if pcp {
                        self.pcp = Probe::Failed;
                    } else {
                        self.pmp = Probe::Failed;
                    }
                }
                self.next_step(now);
                continue;
            }
            self.out.push((server, r.bytes.clone()));
            self.stats.requests_sent += 1;
            let next = now + r.wait;
            r.wait = r.wait.saturating_mul(2);
            r.next_send = next.min(r.started + self.cfg.give_up_after);
        }
    }

    fn renewing(&self) -> bool {
        self.pcp_request.is_some() || self.pmp_request.is_some() || self.upnp_mapping
    }

    fn renew(&mut self, m: Mapping, now: Duration) {
        let lifetime = self.cfg_lifetime();
        match m.protocol {
            Protocol::Pcp => self.pcp_request = Some(self.request(self.pcp_bytes(m.external.port(), lifetime), now)),
            Protocol::NatPmp => {
                let bytes = pmp_map_request(self.internal.port(), m.external.port(), lifetime);
                self.pmp_request = Some(self.request(bytes.to_vec(), now));
            }
            Protocol::Upnp => {
                self.upnp_mapping = true;
                self.upnp_out.push(UpnpCommand::Map {
                    internal: self.internal,
                    external_port: m.external.port(),
                    lease: lifetime,
                });
            }
        }
    }

    /// Deletes the mapping (on leave and on exit): the request goes out with the next
    /// [`PortMapper::drain`] (UDP) or [`PortMapper::poll_upnp`], once, with no retry.
    pub fn release(&mut self) {
        let Some(m) = self.mapping.take() else {
            return;
        };
        self.pcp_request = None;
        self.pmp_request = None;
        log::debug!("port mapping: deleting {} ({})", m.external, m.protocol.name());
        let Some(server) = self.server() else {
            return;
        };
        let bytes = match m.protocol {
            Protocol::Pcp => self.pcp_bytes(0, 0),
            Protocol::NatPmp => pmp_map_request(self.internal.port(), 0, 0).to_vec(),
            Protocol::Upnp => {
                self.upnp_out.push(UpnpCommand::Unmap {
                    external_port: m.external.port(),
                });
                return;
            }
        };
        self.out.push((server, bytes));
        self.stats.requests_sent += 1;
    }

    /// Every datagram to send to the gateway, appended to `into`.
    pub fn drain(&mut self, into: &mut Vec<(SocketAddr, Vec<u8>)>) {
        into.append(&mut self.out);
    }

    /// The next thing the UPnP thread should do, if any.
    pub fn poll_upnp(&mut self) -> Option<UpnpCommand> {
        (!self.upnp_out.is_empty()).then(|| self.upnp_out.remove(0))
    }

    /// When [`PortMapper::update`] is next needed: a retransmission, a give-up, a renewal.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let requests = [&self.pcp_request, &self.pmp_request]
            .into_iter()
            .flatten()
            .map(|r| r.next_send.min(r.started + self.cfg.give_up_after));
        let renewal = self.mapping.map(|m| {
            let expiry = m.granted + m.lifetime;
            if self.renewing() {
                expiry
            } else {
                self.next_renew.min(expiry)
            }
        });
        requests.chain(renewal).min()
    }

    /// The mapping the router granted, if any.
    pub fn mapping(&self) -> Option<Mapping> {
        self.mapping
    }

    /// Whether every protocol answered or was given up (a mapping was made, or none will).
    pub fn done(&self) -> bool {
        self.gateway.is_none()
            || self.mapping.is_some()
            || [self.pcp, self.pmp, self.upnp].iter().all(|p| *p == Probe::Failed)
    }

    /// The gateway asked, if any.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway
    }

    /// Counters so far.
    pub fn stats(&self) -> PortMapStats {
        self.stats
    }
}

#[cfg(test)]
mod tests;
