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

use std::net::SocketAddr;

use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};

use super::{LinkEvent, LinkKey, Links};

impl Links {
    /// Starts dialing `peer` at `addr` with a connect token made from the session key (at
    /// its public address first, when one is known: see [`Links::add_public`]).
    pub(crate) fn dial(&mut self, peer: impl Into<LinkKey>, addr: SocketAddr) {
        let peer: LinkKey = peer.into();
        let token = match ConnectToken::generate(
            self.now,
            self.protocol_id,
            self.token_expire_secs,
            self.me.0,
            self.link_timeout_secs,
            self.token_addresses(addr, peer == LinkKey::Contact),
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
            self.public.insert(session, public);
        }
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
    /// netcode client tries them: `addr` first when `dialed_first`.
    pub(super) fn token_addresses(&self, addr: SocketAddr, dialed_first: bool) -> Vec<SocketAddr> {
        if let Some(public) = self.public.get(&addr) {
            return if dialed_first {
                vec![addr, *public]
            } else {
                vec![*public, addr]
            };
        }
        match self.public.iter().find(|(_, p)| **p == addr) {
            Some((session, _)) => vec![addr, *session],
            None => vec![addr],
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
    }
}
