//! NAT traversal for one peer, sans-IO: the paths under the session's links.
//!
//! The session dials each member at the one address it is known by in the session (its
//! *session address*: the address the rendezvous service saw it at, or its LAN address).
//! Behind home routers that address is often not where a datagram gets through: two
//! players in one home reach each other only on their LAN addresses (no hairpinning), and
//! a router lets a datagram in only after its side sent one out. [`Traversal`] sits
//! between the session and the socket, as iroh's magic socket does under QUIC: it learns
//! each member's candidate addresses from the rendezvous service or from the member itself
//! through the session (`mesh.rs`), probes them all from the
//! game socket (both sides at once, so both routers open), and once a probe is answered
//! it sends what the session sends to that member on the path that answered, and hands
//! what arrives on it to the session as if from the session address. The netcode
//! handshake and its encryption run unchanged, end to end, on whatever path is chosen.
//!
//! Path order: a LAN path, else a direct internet path, else (decided by the session) a
//! member relaying, else the rendezvous service relaying as a last resort. Probes repeat
//! as keepalives on the chosen path; a path that goes quiet is dropped and punched again.

mod config;
mod mesh;
pub mod probe;
mod probing;
mod service;

pub use config::{Incoming, TraversalConfig, TraversalStats};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::PeerId;
use crate::reach::{DirectPath, Route};
use crate::rendezvous::{Frame, Listed, MAX_CANDIDATES, RendezvousId, Request, SessionSigner, is_rendezvous};
use probe::{ProbeKey, is_probe};

/// Most members whose paths are tracked at once.
const MAX_REMOTES: usize = 64;
/// Senders of punches kept until the driver takes them.
const MAX_PUNCHED: usize = 8;
/// Most candidate addresses kept per member (registered ones, the observed one, latched).
const MAX_CANDIDATES_PER_REMOTE: usize = 16;
/// Datagrams kept per member while no path is known, sent again once one is.
const PENDING_DATAGRAMS: usize = 4;
/// Probes of ours awaiting a reply, at most (the oldest is forgotten first).
const SENT_NONCES: usize = 4096;
/// A reply later than this after its probe is not believed.
const REPLY_WITHIN: Duration = Duration::from_secs(3);
/// Questions to the services remembered (an `Observed` must answer one).
const MAX_ASKED: usize = 16;
/// Addresses latched per member (where its probes came from), at most.
const LATCHED_PER_REMOTE: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Direct {
    addr: SocketAddr,
    kind: DirectPath,
    heard: Duration,
}

#[derive(Debug)]
struct Remote {
    peer: PeerId,
    candidates: Vec<SocketAddr>,
    direct: Option<Direct>,
    /// Since when datagrams go through the service's relay.
    service: Option<Duration>,
    punch_since: Duration,
    next_probe: Duration,
    /// Last datagram of any kind from this member, or listing by the service.
    seen: Duration,
    pending: VecDeque<Vec<u8>>,
    /// Where its probes came from lately (mapped to it in `by_path`), oldest first.
    latched: VecDeque<SocketAddr>,
    /// The service that listed it or relays for it.
    via: Option<SocketAddr>,
    /// What it announced through the session, if it did (see [`Traversal::learn_member`]).
    mesh: Option<mesh::Announced>,
    /// Whether the session hears it directly on its session address (no path of ours
    /// needed: see [`Traversal::note_links`]).
    session_direct: bool,
}

impl Remote {
    /// Adds a candidate; when the list is full, the oldest after the session address
    /// makes room (a NAT that rebinds keeps producing new ones).
    fn add_candidate(&mut self, addr: SocketAddr) {
        if self.candidates.contains(&addr) {
            return;
        }
        if self.candidates.len() >= MAX_CANDIDATES_PER_REMOTE {
            self.candidates.remove(1);
        }
        self.candidates.push(addr);
    }
}

/// One peer's NAT traversal: its rendezvous registrations, the members' candidate
/// addresses, punching and the chosen path of each (see the module docs).
pub struct Traversal {
    cfg: TraversalConfig,
    signer: SessionSigner,
    session: RendezvousId,
    probes: ProbeKey,
    me: PeerId,
    /// What starts our log lines (see [`Traversal::set_log_tag`]).
    tag: crate::LogTag,
    /// Our session address, once known.
    addr: Option<SocketAddr>,
    candidates: Vec<SocketAddr>,
    /// The address the first answering service saw us at.
    observed: Option<SocketAddr>,
    /// The service that answered first: the one relaying for us.
    primary: Option<SocketAddr>,
    registering: bool,
    next_register: Duration,
    remotes: BTreeMap<SocketAddr, Remote>,
    by_path: HashMap<SocketAddr, SocketAddr>,
    by_peer: HashMap<PeerId, SocketAddr>,
    /// Members the service listed to us (after a join).
    listed: Option<Vec<Listed>>,
    /// Whether a join's member list is awaited (only then is [`Traversal::listed`] filled).
    awaiting_members: bool,
    /// Our probes awaiting a reply: nonce -> (where it went, when).
    sent: HashMap<u64, (SocketAddr, Duration)>,
    /// Nonces of [`Frame::Probe`]s to the services, awaiting their `Observed`.
    asked: VecDeque<u64>,
    nonce: u64,
    /// What our relay frames carry (see [`Request::Register`]).
    relay_token: u64,
    out: Vec<(SocketAddr, Vec<u8>)>,
    stats: TraversalStats,
    /// Our NAT's mapping behaviour and whether our router maps our port (see
    /// [`Traversal::set_nat`]).
    nat: mesh::OwnNat,
    /// The route of each member as last reported (see [`Traversal::route_changes`]).
    reported: BTreeMap<SocketAddr, Route>,
    /// Where empty datagrams came from since [`Traversal::take_punched`] (a few at most).
    punched: Vec<SocketAddr>,
    punches: mesh::Punches,
}

impl Traversal {
    /// Starts our log lines with the session's tag ([`crate::Session::log_tag`]).
    pub(crate) fn set_log_tag(&mut self, tag: crate::LogTag) {
        self.tag = tag;
    }

    /// Traversal for peer `me` of the session whose key is `session_key`, with our
    /// `candidates` (interface addresses with the game socket's port); `nonce_seed` makes
    /// this process's nonces unlike another's (any random number).
    pub fn new(
        cfg: TraversalConfig,
        session_key: &[u8; 32],
        me: PeerId,
        candidates: Vec<SocketAddr>,
        nonce_seed: u64,
    ) -> Self {
        let signer = SessionSigner::new(session_key);
        Traversal {
            session: signer.id(),
            signer,
            probes: ProbeKey::new(session_key),
            cfg,
            me,
            tag: crate::LogTag::default(),
            addr: None,
            candidates,
            observed: None,
            primary: None,
            registering: false,
            next_register: Duration::ZERO,
            remotes: BTreeMap::new(),
            by_path: HashMap::new(),
            by_peer: HashMap::new(),
            listed: None,
            awaiting_members: false,
            sent: HashMap::new(),
            asked: VecDeque::new(),
            nonce: derived(nonce_seed, b"netcode nonces v1") >> 1,
            relay_token: derived(nonce_seed, b"netcode relay token v1"),
            out: Vec::new(),
            stats: TraversalStats::default(),
            reported: BTreeMap::new(),
            punched: Vec::new(),
            punches: mesh::Punches::default(),
            nat: mesh::OwnNat::default(),
        }
    }

    /// The address the rendezvous service saw us at, once it answered.
    pub fn observed(&self) -> Option<SocketAddr> {
        self.observed
    }

    /// The members the service listed after [`Traversal::join`], once it answered.
    pub fn listed(&self) -> Option<&[Listed]> {
        self.listed.as_deref()
    }

    /// Counters so far.
    pub fn stats(&self) -> TraversalStats {
        self.stats
    }

    /// Asks every service which address it sees us at (answered as [`Traversal::observed`]).
    pub fn ask_observed(&mut self) {
        let nonce = self.next_nonce();
        if self.asked.len() >= MAX_ASKED {
            self.asked.pop_front();
        }
        self.asked.push_back(nonce);
        self.send_to_services(&Frame::Probe { nonce });
    }

    /// Adds one of our own candidate addresses (a reflexive address a STUN server saw),
    /// named in the next registration or join; ignored when known or when the list is
    /// full.
    pub fn add_candidate(&mut self, addr: SocketAddr) {
        if !self.candidates.contains(&addr) && self.candidates.len() < MAX_CANDIDATES {
            log::debug!("{} candidate {addr} added", self.tag);
            self.candidates.push(addr);
        }
    }

    /// Our own candidate addresses.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// Sets our session address (what members know us by).
    pub fn set_addr(&mut self, addr: SocketAddr) {
        self.addr = Some(addr);
    }

    /// Asks to join: the service lists the members ([`Traversal::listed`]) and tells them
    /// to punch towards us.
    pub fn join(&mut self, now: Duration) {
        self.listed = None;
        self.awaiting_members = true;
        let body = Request::Join {
            addr: self.addr,
            relay_token: self.relay_token,
            candidates: self.candidates.clone(),
        };
        self.request(now, body);
    }

    /// Registers from now on, every [`TraversalConfig::register_every`].
    pub fn start_registering(&mut self, now: Duration) {
        self.registering = true;
        self.awaiting_members = false;
        self.next_register = now;
    }

    /// Tells the services we leave.
    pub fn leave(&mut self, now: Duration) {
        self.registering = false;
        self.request(now, Request::Leave);
    }

    /// The route our datagrams to the member at session address `addr` take, if
    /// traversal chose one: a direct path (`Lan`, `Internet`, `Mapped`) or the service's
    /// relay.
    pub(crate) fn path(&self, addr: SocketAddr) -> Option<Route> {
        route_of(self.remotes.get(&addr)?)
    }

    /// Where punches (empty datagrams, [`Traversal::punch_towards`]) came from since the
    /// last call: a member that read our knock on the DHT opened its router there.
    pub(crate) fn take_punched(&mut self) -> Vec<SocketAddr> {
        std::mem::take(&mut self.punched)
    }

    /// The members whose route changed since the last call, with their route now
    /// (`None`: no path of traversal's own, or forgotten). Traversal decides the routes;
    /// a driver hands each change to [`crate::Session`], which reports the link.
    pub(crate) fn route_changes(&mut self) -> Vec<(SocketAddr, Option<Route>)> {
        let mut changes = Vec::new();
        for (addr, r) in &self.remotes {
            let route = route_of(r);
            if self.reported.get(addr).copied() != route {
                changes.push((*addr, route));
            }
        }
        for addr in self.reported.keys() {
            if !self.remotes.contains_key(addr) {
                changes.push((*addr, None));
            }
        }
        for (addr, route) in &changes {
            match route {
                Some(r) => self.reported.insert(*addr, *r),
                None => self.reported.remove(addr),
            };
        }
        changes
    }

    /// Routes a session datagram to session address `to` onto the wire.
    pub fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        let primary = self.primary;
        let (session, me, token) = (self.session, self.me, self.relay_token);
        let Some(r) = self.remotes.get_mut(&to) else {
            self.out.push((to, bytes));
            return;
        };
        if let Some(d) = r.direct {
            self.out.push((d.addr, bytes));
        } else if let (Some(_), Some(service)) = (r.service, r.via.or(primary)) {
            let frame = Frame::Relay {
                session,
                from: me,
                to: r.peer,
                token,
                payload: bytes,
            };
            if let Ok(wire) = frame.encode() {
                self.stats.service_relayed_out += 1;
                self.out.push((service, wire));
            }
        } else {
            if r.pending.len() >= PENDING_DATAGRAMS {
                r.pending.pop_front();
            }
            r.pending.push_back(bytes.clone());
            self.out.push((to, bytes));
        }
    }

    /// Looks at a datagram from the socket.
    pub fn receive(&mut self, from: SocketAddr, bytes: &[u8], now: Duration) -> Incoming {
        if bytes.is_empty() {
            // A punch (`punch_towards`): it opened the sender's router for us.
            if !self.punched.contains(&from) && self.punched.len() < MAX_PUNCHED {
                self.punched.push(from);
            }
            return Incoming::Consumed;
        }
        if is_probe(bytes) {
            match self.probes.open(bytes) {
                Some(p) if p.session == self.session && p.sender != self.me => self.on_probe(from, p, now),
                _ => log::debug!("{} {from}: a probe that does not open", self.tag),
            }
            return Incoming::Consumed;
        }
        if is_rendezvous(bytes) {
            return self.on_service(from, bytes, now);
        }
        let addr = self.by_path.get(&from).copied().unwrap_or(from);
        if let Some(r) = self.remotes.get_mut(&addr) {
            r.seen = now;
            if let Some(d) = r.direct.as_mut().filter(|d| d.addr == from) {
                d.heard = now;
            }
        }
        Incoming::Session(addr)
    }

    /// Datagrams of traversal's own and routed session datagrams, to put on the wire.
    pub fn drain(&mut self, into: &mut Vec<(SocketAddr, Vec<u8>)>) {
        into.append(&mut self.out);
    }

    /// Advances time: registrations, probes, keepalives, dead paths, the service relay.
    /// `member_relays(peer)` tells whether the session reaches `peer` through a member.
    pub fn update(&mut self, now: Duration, member_relays: impl Fn(PeerId) -> bool) {
        self.repeat_punches(now);
        if self.registering && now >= self.next_register {
            self.next_register = now + self.cfg.register_every;
            let body = Request::Register {
                addr: self.addr,
                relay_token: self.relay_token,
                candidates: self.candidates.clone(),
            };
            self.request(now, body);
        }
        let forget = self.cfg.forget_after;
        let gone: Vec<SocketAddr> = self
            .remotes
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.seen) > forget)
            .map(|(a, _)| *a)
            .collect();
        for addr in gone {
            self.forget(addr);
        }
        let addrs: Vec<SocketAddr> = self.remotes.keys().copied().collect();
        for addr in addrs {
            self.update_remote(addr, now, &member_relays);
        }
    }

    fn update_remote(&mut self, addr: SocketAddr, now: Duration, member_relays: &impl Fn(PeerId) -> bool) {
        let cfg = self.cfg.clone();
        let members_relay = self.remotes.iter().any(|(a, r)| *a != addr && r.direct.is_some());
        let nat = self.nat;
        let Some(r) = self.remotes.get_mut(&addr) else { return };
        // Both ends map per destination and neither has a mapped port: no punch can work,
        // so nothing waits for one.
        let hopeless = mesh::hopeless(nat, r.mesh.as_ref());
        let service_after = if hopeless {
            Duration::ZERO
        } else if members_relay {
            cfg.service_relay_with_members
        } else {
            cfg.service_relay_after
        };
        if let Some(d) = r.direct
            && now.saturating_sub(d.heard) > cfg.path_timeout
        {
            log::debug!("{} path to {addr} at {} went quiet: punching again", self.tag, d.addr);
            r.direct = None;
            r.punch_since = now;
            r.next_probe = now;
        }
        if r.direct.is_some() {
            r.service = None;
        } else if r.service.is_none()
            && now.saturating_sub(r.punch_since) >= service_after
            && self.primary.is_some()
            && !member_relays(r.peer)
        {
            log::debug!("{} no direct path to {addr}: the rendezvous service relays", self.tag);
            r.service = Some(now);
            r.pending.clear();
            self.stats.paths_chosen += 1;
        }
        if now < r.next_probe || (r.direct.is_none() && mesh::quiet(r, now)) {
            return;
        }
        let targets: Vec<SocketAddr> = match r.direct {
            Some(d) => {
                r.next_probe = now + cfg.keepalive_every;
                vec![d.addr]
            }
            None => {
                let fast = now.saturating_sub(r.punch_since) < cfg.punch_burst && !hopeless;
                r.next_probe = now + if fast { cfg.probe_every } else { cfg.slow_probe_every };
                let mut all = r.candidates.clone();
                if !all.contains(&addr) {
                    all.push(addr);
                }
                all
            }
        };
        for to in targets {
            self.send_probe(to, None, now);
        }
    }

    fn forget(&mut self, addr: SocketAddr) {
        if let Some(r) = self.remotes.remove(&addr) {
            self.by_peer.remove(&r.peer);
            self.by_path.retain(|_, a| *a != addr);
        }
    }

    /// Learns a member the service listed, and starts punching towards it if new.
    fn learn(&mut self, listed: &Listed, now: Duration) {
        let addr = listed.session_addr();
        if listed.peer == self.me || Some(addr) == self.addr {
            return;
        }
        let r = self.remote(addr, listed.peer, now);
        let Some(r) = r else { return };
        r.seen = now;
        for c in listed.candidates.iter().chain([&listed.observed]) {
            r.add_candidate(*c);
        }
    }

    /// The member at `addr`, made when new (and when there is room).
    fn remote(&mut self, addr: SocketAddr, peer: PeerId, now: Duration) -> Option<&mut Remote> {
        if !self.remotes.contains_key(&addr) {
            // A member that came back at a new address: the old entry is stale, unless
            // its path still works (then a listing naming another address may be forged,
            // and the old entry stays until it goes quiet).
            if let Some(old) = self.by_peer.get(&peer).copied() {
                let live = self.remotes.get(&old).and_then(|r| r.direct).is_some();
                if !live {
                    self.forget(old);
                }
            }
            if self.remotes.len() >= MAX_REMOTES {
                return None;
            }
            self.remotes.insert(
                addr,
                Remote {
                    peer,
                    candidates: vec![addr],
                    direct: None,
                    service: None,
                    punch_since: now,
                    next_probe: now,
                    seen: now,
                    pending: VecDeque::new(),
                    latched: VecDeque::new(),
                    via: None,
                    mesh: None,
                    session_direct: false,
                },
            );
            self.by_peer.insert(peer, addr);
        }
        self.remotes.get_mut(&addr)
    }
}

/// The route of a member's datagrams: its direct path, else the service's relay.
fn route_of(r: &Remote) -> Option<Route> {
    match (r.direct, r.service) {
        (Some(d), _) => Some(Route::Direct(d.kind)),
        (None, Some(_)) => Some(Route::Service),
        (None, None) => None,
    }
}

/// A number derived from `seed` for one use (`tag`): the first nonce and the relay token
/// come from one seed through different hashes, so the nonces on the wire tell nothing of
/// the token.
fn derived(seed: u64, tag: &[u8]) -> u64 {
    use sha2::{Digest, Sha256};
    let hash = Sha256::new()
        .chain_update(tag)
        .chain_update(seed.to_le_bytes())
        .finalize();
    u64::from_le_bytes(hash[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests;
