//! LAN discovery: a host that opts in announces its session on its local networks, and a
//! menu lists the games it hears ("games on your network").
//!
//! A beacon is one UDP broadcast datagram a second, to every IPv4 interface's broadcast
//! address and to 255.255.255.255, on [`DEFAULT_LAN_PORT`] (or another port both sides
//! agree on). It carries the host's name, the number of players and the invite code:
//! announcing a game on a network lets everyone on that network join it, as a LAN game
//! does; a host that does not want that does not announce. Beacons start with
//! [`LAN_MAGIC`] (`0xFF` first, so no netcode packet starts like one) and are bounded.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// First bytes of every beacon.
pub const LAN_MAGIC: [u8; 4] = [0xFF, b'N', b'C', b'L'];
/// Version of the beacon format (the byte after [`LAN_MAGIC`]).
const VERSION: u8 = 1;
/// The UDP port beacons go to when nobody says otherwise.
pub const DEFAULT_LAN_PORT: u16 = 47_777;
/// How often a host announces.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);
/// A game not heard for this long leaves the list.
pub const FORGET_AFTER: Duration = Duration::from_secs(3);
/// Largest beacon (a name, a count and an invite code fit easily).
const MAX_BEACON_BYTES: usize = 800;
/// Most games a listener lists at once.
const MAX_GAMES: usize = 32;

/// Why LAN discovery failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LanError {
    /// A socket failed (for a listener: most often, another program holds the port).
    #[error("LAN discovery: {0}")]
    Io(#[from] io::Error),
    /// Bytes that are not a beacon, or a malformed one.
    #[error("not a LAN beacon: {0}")]
    NotABeacon(&'static str),
}

/// What a host announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    /// The host's display name.
    pub name: String,
    /// Players in the session.
    pub players: u8,
    /// The invite code that joins it.
    pub invite: String,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_BEACON_BYTES>()
}

impl Beacon {
    /// The beacon's bytes: magic, version, bincode.
    pub fn encode(&self) -> Result<Vec<u8>, LanError> {
        let mut out = LAN_MAGIC.to_vec();
        out.push(VERSION);
        bincode::serde::encode_into_std_write(self, &mut out, config())
            .map_err(|_| LanError::NotABeacon("does not encode"))?;
        if out.len() > MAX_BEACON_BYTES {
            return Err(LanError::NotABeacon("too large"));
        }
        Ok(out)
    }

    /// Decodes a beacon from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Beacon, LanError> {
        let rest = bytes.strip_prefix(&LAN_MAGIC).ok_or(LanError::NotABeacon("no magic"))?;
        let (&version, body) = rest.split_first().ok_or(LanError::NotABeacon("no version"))?;
        if version != VERSION || bytes.len() > MAX_BEACON_BYTES {
            return Err(LanError::NotABeacon("another version, or too large"));
        }
        let (beacon, used): (Beacon, usize) =
            bincode::serde::decode_from_slice(body, config()).map_err(|_| LanError::NotABeacon("does not decode"))?;
        if used != body.len() {
            return Err(LanError::NotABeacon("trailing bytes"));
        }
        Ok(beacon)
    }
}

/// Sends beacons: when [`Announcer::due`], make the beacon and [`Announcer::announce`]
/// it (every [`ANNOUNCE_EVERY`]). Dropping it stops the beacons.
pub struct Announcer {
    socket: UdpSocket,
    port: u16,
    next: Option<Instant>,
}

impl Announcer {
    /// An announcer to `port` (normally [`DEFAULT_LAN_PORT`]).
    pub fn new(port: u16) -> Result<Announcer, LanError> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        socket.set_broadcast(true)?;
        socket.set_nonblocking(true)?;
        Ok(Announcer {
            socket,
            port,
            next: None,
        })
    }

    /// Whether it is time to announce.
    pub fn due(&self) -> bool {
        self.next.is_none_or(|t| Instant::now() >= t)
    }

    /// Announces `beacon` now.
    pub fn announce(&mut self, beacon: &Beacon) {
        self.next = Some(Instant::now() + ANNOUNCE_EVERY);
        let Ok(bytes) = beacon.encode() else {
            log::debug!("a beacon too large to send");
            return;
        };
        for ip in broadcast_addresses() {
            if let Err(e) = self.socket.send_to(&bytes, (ip, self.port))
                && e.kind() != ErrorKind::WouldBlock
            {
                log::debug!("beacon to {ip}: {e}");
            }
        }
    }
}

/// Every IPv4 interface's broadcast address, and the limited broadcast address.
fn broadcast_addresses() -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.addr {
            // An address set without its broadcast address: the subnet's own.
            if_addrs::IfAddr::V4(v4) => Some(
                v4.broadcast
                    .unwrap_or_else(|| Ipv4Addr::from(u32::from(v4.ip) | !u32::from(v4.netmask))),
            ),
            if_addrs::IfAddr::V6(_) => None,
        })
        .collect();
    out.push(Ipv4Addr::BROADCAST);
    out.sort();
    out.dedup();
    out
}

/// A game heard on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanGame {
    /// Where its beacon came from.
    pub from: IpAddr,
    /// What it announced.
    pub beacon: Beacon,
}

/// Hears beacons and keeps the list of games heard lately.
pub struct Listener {
    socket: UdpSocket,
    games: BTreeMap<String, (LanGame, Instant)>,
    buf: Vec<u8>,
}

impl Listener {
    /// Listens on `port` (normally [`DEFAULT_LAN_PORT`]); fails when another program on
    /// this machine holds it.
    pub fn bind(port: u16) -> Result<Listener, LanError> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))?;
        socket.set_nonblocking(true)?;
        Ok(Listener {
            socket,
            games: BTreeMap::new(),
            buf: vec![0; 2048],
        })
    }

    /// Reads what arrived; returns the games heard within [`FORGET_AFTER`], by name.
    pub fn poll(&mut self) -> Vec<LanGame> {
        let now = Instant::now();
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, from)) => match Beacon::decode(&self.buf[..n]) {
                    Ok(beacon) if self.games.len() < MAX_GAMES || self.games.contains_key(&beacon.invite) => {
                        let game = LanGame {
                            from: from.ip(),
                            beacon,
                        };
                        self.games.insert(game.beacon.invite.clone(), (game, now));
                    }
                    Ok(_) => {}
                    Err(e) => log::debug!("{from}: {e}"),
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::debug!("LAN listener: {e}");
                    break;
                }
            }
        }
        self.games
            .retain(|_, (_, seen)| now.duration_since(*seen) <= FORGET_AFTER);
        let mut games: Vec<LanGame> = self.games.values().map(|(g, _)| g.clone()).collect();
        games.sort_by(|a, b| (&a.beacon.name, &a.beacon.invite).cmp(&(&b.beacon.name, &b.beacon.invite)));
        games
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beacon() -> Beacon {
        Beacon {
            name: "Mira".into(),
            players: 3,
            invite: "nc1-abc".into(),
        }
    }

    #[test]
    fn beacons_round_trip_and_garbage_is_an_error() {
        let bytes = beacon().encode().unwrap();
        assert_eq!(Beacon::decode(&bytes).unwrap(), beacon());
        for n in 0..bytes.len() {
            assert!(Beacon::decode(&bytes[..n]).is_err(), "cut at {n}");
        }
        assert!(Beacon::decode(&[0x11; 30]).is_err());
        let huge = Beacon {
            name: "x".repeat(1000),
            ..beacon()
        };
        assert!(huge.encode().is_err());
    }

    #[test]
    fn a_listener_lists_what_it_hears_once_per_game() {
        let mut listener = Listener::bind(0).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let bytes = beacon().encode().unwrap();
        for _ in 0..3 {
            sender.send_to(&bytes, ("127.0.0.1", port)).unwrap();
        }
        sender.send_to(b"not a beacon", ("127.0.0.1", port)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let games = loop {
            let games = listener.poll();
            if !games.is_empty() || Instant::now() > deadline {
                break games;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(games.len(), 1);
        assert_eq!(games[0].beacon, beacon());
        assert_eq!(games[0].from, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
