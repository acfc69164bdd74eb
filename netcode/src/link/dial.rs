//! Dialing a member, and public addresses of members: where a member known in the session at one address (its
//! session address, often on its home network) is reachable from the internet (its
//! router's mapping of its game socket, or a port its router maps), as an invite code
//! names them for its first member.
//!
//! renetcode's server takes a connect token only if the token lists one of the server's
//! own public addresses, and a member's is its session address. So a dial to a member with
//! a known public address goes to the public address first, with a token that also names
//! the session address: the member's server accepts it, and the netcode client falls back
//! to the session address if the public one never answers (a joiner in the same home,
//! where the router does not loop traffic back to its own public address).
//!
//! A joiner's dial of a contact is the exception: the join tries each of the code's
//! addresses in turn, a contact timeout each (3 s by default), shorter than the netcode
//! client's wait before it falls back (the link timeout, 5 s). So a contact's token names
//! the dialed address first: the turn of the code's home-network address reaches a host
//! in the same home (the NAT lab showed a friend in the host's home never getting in).

//!
//! Once traversal routes a member's session address (a path it punched, or the service's
//! relay), it also hands what arrives from the member's public address to the session
//! under the session address. So a dial then names the session address first (traversal
//! routes it), and a dial already under way to the public address takes what arrives
//! under the session address: in the NAT lab a member that dialed another at its public
//! address never linked once the punch succeeded (its token expired with the first
//! address, before the netcode client fell back to the second).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};

use super::wire::Role;
use super::{LinkEvent, LinkKey, Links};

/// Members' public addresses, and the session addresses the transport routes itself.
#[derive(Debug, Default)]
pub(super) struct MemberAddresses {
    /// Public addresses of members, by session address (see [`Links::add_public`]).
    public: BTreeMap<SocketAddr, SocketAddr>,
    /// Session addresses traversal routes (see [`Links::set_routed`]).
    routed: BTreeSet<SocketAddr>,
    /// Addresses a punch came from that nothing else names, with the join's contacts then
    /// (see [`Links::add_punched`]).
    punched: BTreeMap<SocketAddr, Vec<SocketAddr>>,
}

/// Most server addresses a connect token holds (netcode's limit).
const TOKEN_ADDRESSES: usize = 32;

/// How long an accepted link goes without a payload before a connection request from its
/// address replaces it (see `Links::drop_silent_link_dialing_again`): a live link carries
/// heartbeats many times a second.
const SILENT_BEFORE_REDIAL: Duration = Duration::from_secs(1);

impl Links {
    /// Starts dialing `peer` at `addr` with a connect token made from the session key (at
    /// its public address first, when one is known: see [`Links::add_public`]).
    pub(crate) fn dial(&mut self, peer: impl Into<LinkKey>, addr: SocketAddr) {
        let peer: LinkKey = peer.into();
        let addresses = self.token_addresses(addr, peer == LinkKey::Contact);
        log::debug!("{} dials {peer} at {addresses:?}", self.tag);
        let token = match ConnectToken::generate(
            self.now,
            self.protocol_id,
            self.token_expire_secs,
            self.me.0,
            self.link_timeout_secs,
            addresses,
            None,
            &self.key,
        ) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("{} cannot make a connect token for {peer}: {e}", self.tag);
                self.events.push_back(LinkEvent::DialFailed(peer));
                return;
            }
        };
        match NetcodeClient::new(self.now, ClientAuthentication::Secure { connect_token: token }) {
            Ok(client) => {
                self.dials.insert(peer, client);
                self.fresh_dials.insert(peer);
            }
            Err(e) => {
                log::warn!("{} cannot dial {peer}: {e}", self.tag);
                self.events.push_back(LinkEvent::DialFailed(peer));
            }
        }
    }

    /// Notes that the member known in the session at `session` is reachable at `public`:
    /// later dials to either address go to `public` first, with a token naming both.
    pub(crate) fn add_public(&mut self, session: SocketAddr, public: SocketAddr) {
        if session != public {
            self.addresses.public.insert(session, public);
        }
    }

    /// Notes that a punch came from `addr`, an address no record or code names (a member
    /// behind a router that maps each destination to another port), while the join's
    /// contacts were `contacts`: a dial to it names those and the session addresses of the
    /// members we know of after it, so that whichever member it is takes the token
    /// (renetcode takes a token naming any of its own addresses). The punch may come before
    /// the DHT record: the code's addresses name the host's session address.
    pub(crate) fn add_punched(&mut self, addr: SocketAddr, contacts: Vec<SocketAddr>) {
        self.addresses.punched.insert(addr, contacts);
    }

    /// Notes whether the transport routes datagrams to session address `addr` itself (a
    /// path traversal punched, or the service's relay): a dial to it then names it first.
    pub(crate) fn set_routed(&mut self, addr: SocketAddr, routed: bool) {
        if routed {
            self.addresses.routed.insert(addr);
        } else {
            self.addresses.routed.remove(&addr);
        }
    }

    /// The dial a datagram from `from` answers: the dial to `from`, or to the public
    /// address of session address `from` (traversal hands what arrives from a member's
    /// public address to the session under its session address once it routes it).
    pub(super) fn dial_answering(&self, from: SocketAddr) -> Option<LinkKey> {
        let public = self.addresses.public.get(&from);
        self.dials
            .iter()
            .find(|(_, c)| c.server_addr() == from || Some(&c.server_addr()) == public)
            .map(|(p, _)| *p)
    }

    /// Whether nothing links this peer to anyone yet: no link, no dial, no client of our
    /// server (so nobody holds a token naming our address).
    pub(crate) fn is_idle(&self) -> bool {
        self.links.is_empty() && self.dials.is_empty() && self.server.connected_clients() == 0
    }

    /// Makes `addr` this peer's address while [`Links::is_idle`]: renetcode's server takes
    /// tokens only for the public addresses it was made with, so it is made anew.
    pub(crate) fn readdress(&mut self, addr: SocketAddr) {
        self.server = renetcode::NetcodeServer::new(renetcode::ServerConfig {
            current_time: self.server.current_time(),
            max_clients: self.server.max_clients(),
            protocol_id: self.protocol_id,
            public_addresses: vec![addr],
            authentication: renetcode::ServerAuthentication::Secure { private_key: self.key },
        });
        self.local_addr = addr;
    }

    /// The server addresses of a connect token for a dial to `addr`, in the order the
    /// netcode client tries them: `addr` first when `dialed_first` or when the transport
    /// routes it (see the module docs).
    pub(super) fn token_addresses(&self, addr: SocketAddr, dialed_first: bool) -> Vec<SocketAddr> {
        let public = &self.addresses.public;
        if let Some(public) = public.get(&addr) {
            return if dialed_first || self.addresses.routed.contains(&addr) {
                vec![addr, *public]
            } else {
                vec![*public, addr]
            };
        }
        match public.iter().find(|(_, p)| **p == addr) {
            Some((session, _)) => vec![addr, *session],
            None => match self.addresses.punched.get(&addr) {
                Some(contacts) => {
                    let mut all = vec![addr];
                    for a in contacts.iter().chain(public.keys()) {
                        if !all.contains(a) && all.len() < TOKEN_ADDRESSES {
                            all.push(*a);
                        }
                    }
                    all
                }
                None => vec![addr],
            },
        }
    }
}

impl Links {
    /// A connection request from the address of a link the peer dialed, silent for
    /// [`SILENT_BEFORE_REDIAL`]: the peer dials us again, so its end of that link is gone
    /// (its disconnect was lost). Ours would never end: renetcode refuses the new request
    /// while the old client is connected, and takes each request as a sign of that client's
    /// life. Seen in the simulator after a heal under loss: a member and its host stayed
    /// unlinked for the rest of the run, the host redialing every 5 s. A link that still
    /// carries payloads stays: a replayed request cannot break it.
    pub(super) fn drop_silent_link_dialing_again(&mut self, from: SocketAddr) {
        let now = self.now;
        let silent = self
            .links
            .iter()
            .find(|(_, l)| l.addr == from && l.role == Role::Accepted && now >= l.last_payload + SILENT_BEFORE_REDIAL);
        if let Some((&peer, _)) = silent {
            log::debug!("{} drops its silent link to {peer} at {from}: it dials again", self.tag);
            self.disconnect(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerId;
    use crate::config::SessionConfig;
    use std::time::Duration;

    #[test]
    fn a_dial_names_the_public_address_first_and_the_session_address_too() {
        let at = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let cfg = SessionConfig::default();
        let mut links = Links::new(PeerId(1), at("10.0.2.2:5000"), [3; 32], 9, &cfg, Duration::ZERO);
        let (session, public) = (at("10.0.1.2:5000"), at("198.51.100.11:5000"));
        assert_eq!(links.token_addresses(session, false), vec![session]);
        links.add_public(session, public);
        assert_eq!(links.token_addresses(session, false), vec![public, session]);
        assert_eq!(links.token_addresses(public, false), vec![public, session]);
        let other = at("10.0.3.3:5000");
        assert_eq!(links.token_addresses(other, false), vec![other]);
        // A joiner's contact: the address it dials first, whichever of the two.
        assert_eq!(links.token_addresses(session, true), vec![session, public]);
        assert_eq!(links.token_addresses(public, true), vec![public, session]);
        // A punch from a port nothing names: the known session addresses follow it.
        let punched = at("198.51.100.11:41234");
        assert_eq!(links.token_addresses(punched, true), vec![punched]);
        let code = at("10.0.1.9:5000");
        links.add_punched(punched, vec![code, punched]);
        assert_eq!(links.token_addresses(punched, true), vec![punched, code, session]);
        // Once traversal routes the session address, it goes first.
        links.set_routed(session, true);
        assert_eq!(links.token_addresses(session, false), vec![session, public]);
        links.set_routed(session, false);
        assert_eq!(links.token_addresses(session, false), vec![public, session]);
    }

    /// What the NAT lab showed: `a` dials `b` at `b`'s public address, and traversal (now
    /// routing `b`'s session address) hands `b`'s answers to `a` under `b`'s session
    /// address. The dial takes them and links; before, it never did (its token expired
    /// with the first address, each time it redialed).
    #[test]
    fn a_dial_to_a_public_address_takes_the_answers_traversal_hands_over_under_the_session_address() {
        let at = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let cfg = SessionConfig::default();
        let a_session = at("10.3.0.2:5000");
        let (b_session, b_public) = (at("10.1.0.3:5001"), at("198.51.100.11:5001"));
        let mut a = Links::new(PeerId(1), a_session, [3; 32], 9, &cfg, Duration::ZERO);
        let mut b = Links::new(PeerId(2), b_session, [3; 32], 9, &cfg, Duration::ZERO);
        a.add_public(b_session, b_public);
        a.dial(PeerId(2), b_session);
        let mut linked = false;
        for step in 1..=40u64 {
            let now = Duration::from_millis(50 * step);
            a.update(now);
            b.update(now);
            a.flush(true);
            b.flush(true);
            let mut out = Vec::new();
            a.drain_transmits(&mut out);
            for t in out.drain(..) {
                assert_eq!(t.to, b_public, "the dial goes to the public address");
                // `b`'s traversal knows `a`: it hands this over under `a`'s session address.
                b.handle_datagram(a_session, &mut t.bytes.clone());
            }
            b.drain_transmits(&mut out);
            for t in out.drain(..) {
                assert_eq!(t.to, a_session);
                // `a`'s traversal routes `b` now: what comes from `b_public` arrives as
                // from `b_session`.
                a.handle_datagram(b_session, &mut t.bytes.clone());
            }
            a.set_routed(b_session, true);
            // Each side greets once linked (the session's hello), which confirms the link.
            if a.is_linked(PeerId(2)) {
                a.greet(PeerId(2), vec![1]);
            }
            if b.is_linked(PeerId(1)) {
                b.greet(PeerId(1), vec![2]);
            }
            while let Some(e) = a.poll_event() {
                linked |= matches!(e, LinkEvent::Connected(LinkKey::Peer(PeerId(2))));
            }
        }
        assert!(linked, "a linked to b");
        assert!(a.is_linked(PeerId(2)) && b.is_linked(PeerId(1)), "and the link holds");
    }

    /// `a` dialed `b`; `a` dropped its end and the disconnect never arrived. `a` dials
    /// again: `b` drops its silent link and takes the new one (before, renetcode refused
    /// the requests and took each as a sign of the dead link's life, for ever).
    #[test]
    fn a_silent_link_gives_way_when_its_peer_dials_again() {
        let mut p = super::super::pair::Pair::new();
        p.a.dial(PeerId(2), p.b_addr);
        p.run(20);
        assert!(p.a.is_linked(PeerId(2)) && p.b.is_linked(PeerId(1)), "linked");
        // `a` drops its end; its disconnect is lost on the way.
        p.a.disconnect(PeerId(2));
        p.to_b = false;
        p.run(1);
        p.to_b = true;
        assert!(p.b.is_linked(PeerId(1)), "b does not know yet");
        while p.b.poll_event().is_some() {}
        p.a.dial(PeerId(2), p.b_addr);
        p.run(60);
        assert!(p.a.is_linked(PeerId(2)), "a's second dial linked");
        let mut replaced = false;
        while let Some(e) = p.b.poll_event() {
            replaced |= matches!(e, LinkEvent::Disconnected(LinkKey::Peer(PeerId(1))));
        }
        assert!(replaced, "b dropped the silent link");
        assert!(p.b.is_linked(PeerId(1)), "and took the new one");
    }
}
