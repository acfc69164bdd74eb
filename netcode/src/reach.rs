//! How a member is reached: the one answer ([`Link`]) that events, status lines and HUDs
//! show, and the two facts it is made of.
//!
//! Two layers know part of the answer and each owns its part. The session knows whether
//! its own encrypted link to a member answers, or a member relays, or neither
//! ([`Reach`], from heartbeats). NAT traversal knows which path carries the own link's
//! datagrams ([`Route`]: a direct path of some kind, or the rendezvous service's relay);
//! it reports each change of its choice, and the session puts the two together in
//! [`Link::of`], the only place a [`Link`] is made. A link carried by the service's relay
//! therefore reads `relayed (service)`, never `direct`.

use std::net::{IpAddr, SocketAddr};

/// How a member is reached now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Link {
    /// Our own encrypted link carries its traffic, straight over the network.
    Direct(DirectPath),
    /// Its traffic goes through someone else.
    Relayed(Relayer),
    /// Unreachable.
    Down,
}

/// The kind of a direct path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DirectPath {
    /// To an address on a local network (private, link-local, unique-local IPv6 or
    /// loopback).
    Lan,
    /// To a public address.
    Internet,
    /// To a port the member's router maps for it (PCP, NAT-PMP, UPnP-IGD).
    Mapped,
}

/// Who relays a link's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Relayer {
    /// Another member (our own link to it is down).
    Member,
    /// The rendezvous service's relay (the last resort of NAT traversal: no direct path
    /// answered; our own encrypted link runs through it, end to end).
    Service,
}

/// What the session's heartbeats say of a member (the session's half of a [`Link`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Our own link to it answers.
    Own,
    /// Our own link is down; a member relays.
    Relayed,
    /// Unreachable.
    Down,
}

/// The path NAT traversal chose for our own link's datagrams (its half of a [`Link`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Straight to the member.
    Direct(DirectPath),
    /// Through the rendezvous service's relay.
    Service,
}

impl Link {
    /// The link from the session's reach of a member at session address `addr` and the
    /// route traversal chose for it (`None`: no traversal path, the datagrams go to
    /// `addr` itself).
    pub(crate) fn of(reach: Reach, route: Option<Route>, addr: SocketAddr) -> Link {
        match (reach, route) {
            (Reach::Own, Some(Route::Direct(path))) => Link::Direct(path),
            (Reach::Own, Some(Route::Service)) => Link::Relayed(Relayer::Service),
            (Reach::Own, None) => Link::Direct(DirectPath::to(addr)),
            (Reach::Relayed, _) => Link::Relayed(Relayer::Member),
            (Reach::Down, _) => Link::Down,
        }
    }

    /// `direct`, `relayed` or `down` (for logs, status lines, HUDs).
    pub fn word(self) -> &'static str {
        match self {
            Link::Direct(_) => "direct",
            Link::Relayed(_) => "relayed",
            Link::Down => "down",
        }
    }

    /// The path's word, `None` while down: `lan`, `internet`, `mapped` (direct) or
    /// `member`, `service` (relayed by).
    pub fn path_word(self) -> Option<&'static str> {
        match self {
            Link::Direct(p) => Some(p.word()),
            Link::Relayed(Relayer::Member) => Some("member"),
            Link::Relayed(Relayer::Service) => Some("service"),
            Link::Down => None,
        }
    }

    /// Whether the link is direct (of any kind).
    pub fn is_direct(self) -> bool {
        matches!(self, Link::Direct(_))
    }

    /// Whether the member is reached at all (directly or relayed).
    pub fn is_up(self) -> bool {
        self != Link::Down
    }
}

impl std::fmt::Display for Link {
    /// `direct (lan)`, `relayed (service)`, `down`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path_word() {
            Some(path) => write!(f, "{} ({path})", self.word()),
            None => f.write_str(self.word()),
        }
    }
}

impl DirectPath {
    /// `lan`, `internet` or `mapped`.
    pub fn word(self) -> &'static str {
        match self {
            DirectPath::Lan => "lan",
            DirectPath::Internet => "internet",
            DirectPath::Mapped => "mapped",
        }
    }

    /// The kind of a direct path to `addr`, by its address (a mapped port is only known
    /// from what the member announced: see [`crate::traversal`]).
    pub fn to(addr: SocketAddr) -> DirectPath {
        let local = match addr.ip() {
            IpAddr::V4(ip) => ip.is_private() || ip.is_link_local() || ip.is_loopback(),
            IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local(),
        };
        if local { DirectPath::Lan } else { DirectPath::Internet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_paths_by_address() {
        for (addr, path) in [
            ("10.1.0.2:5000", DirectPath::Lan),
            ("192.168.1.7:5000", DirectPath::Lan),
            ("127.0.0.1:5000", DirectPath::Lan),
            ("169.254.3.4:5000", DirectPath::Lan),
            ("[fd00::1]:5000", DirectPath::Lan),
            ("[fe80::1]:5000", DirectPath::Lan),
            ("198.51.100.11:5000", DirectPath::Internet),
            ("[2001:db8::1]:5000", DirectPath::Internet),
        ] {
            assert_eq!(DirectPath::to(addr.parse().unwrap()), path, "{addr}");
        }
    }

    #[test]
    fn one_link_from_the_two_halves() {
        let public: SocketAddr = "198.51.100.11:5000".parse().unwrap();
        let cases = [
            (
                Reach::Own,
                None,
                Link::Direct(DirectPath::Internet),
                "direct (internet)",
            ),
            (
                Reach::Own,
                Some(Route::Direct(DirectPath::Mapped)),
                Link::Direct(DirectPath::Mapped),
                "direct (mapped)",
            ),
            (
                Reach::Own,
                Some(Route::Service),
                Link::Relayed(Relayer::Service),
                "relayed (service)",
            ),
            (
                Reach::Relayed,
                Some(Route::Service),
                Link::Relayed(Relayer::Member),
                "relayed (member)",
            ),
            (Reach::Relayed, None, Link::Relayed(Relayer::Member), "relayed (member)"),
            (Reach::Down, Some(Route::Direct(DirectPath::Lan)), Link::Down, "down"),
        ];
        for (reach, route, link, shown) in cases {
            assert_eq!(Link::of(reach, route, public), link, "{reach:?} {route:?}");
            assert_eq!(link.to_string(), shown);
        }
        assert!(!Link::Relayed(Relayer::Service).is_direct());
        assert!(Link::Relayed(Relayer::Service).is_up());
        assert!(!Link::Down.is_up());
    }
}
