//! The service's state machine: datagrams and time in, datagrams out.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use netcode::PeerId;
use netcode::rendezvous::{
    Frame, Listed, MAX_CANDIDATES, MAX_LISTED, RendezvousError, RendezvousId, ReplayGuard, Request, Signed, is_relay,
};

use crate::limits::{Bucket, RateLimits};

/// Tuning of the service. Every field's default is in its doc.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// How long a member stays listed without a request. Default: 60 s (peers register
    /// every few seconds, which also keeps their NAT mapping to us open).
    pub member_ttl: Duration,
    /// Most sessions kept; a request for a new one beyond it is refused. Default: 10 000.
    pub max_sessions: usize,
    /// Most members one session lists. Default: [`MAX_LISTED`] (32).
    pub max_members: usize,
    /// Datagrams per second one source IP may send. Default: 20.
    pub rate_per_source: f64,
    /// Burst above that rate. Default: 40.
    pub burst_per_source: f64,
    /// Most sources whose rate is tracked at once. Default: 65 536.
    pub max_sources: usize,
    /// Bytes per second the last-resort relay forwards for one session, over all its
    /// members. Default: 256 KiB/s (a two-player game over the relay takes ~30 KiB/s).
    pub relay_bytes_per_session: f64,
    /// Burst above that rate, in bytes. Default: 64 KiB.
    pub relay_burst_bytes: f64,
    /// Relay frames per second one source IP may send (apart from its request budget: a
    /// game sends tens of datagrams a second). Default: 1000.
    pub relay_rate_per_source: f64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            member_ttl: Duration::from_secs(60),
            max_sessions: 10_000,
            max_members: MAX_LISTED,
            rate_per_source: 20.0,
            burst_per_source: 40.0,
            max_sources: 65_536,
            relay_bytes_per_session: 256.0 * 1024.0,
            relay_burst_bytes: 64.0 * 1024.0,
            relay_rate_per_source: 1000.0,
        }
    }
}

/// What the service has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Sessions known now.
    pub sessions: usize,
    /// Members listed now, over all sessions.
    pub members: usize,
    /// Source IPs whose rate is tracked now.
    pub sources: usize,
    /// Requests accepted.
    pub accepted: u64,
    /// Datagrams that were not rendezvous frames, or malformed ones.
    pub malformed: u64,
    /// Requests whose signature did not hold.
    pub bad_signatures: u64,
    /// Requests dated too far from our clock, or seen before.
    pub replayed_or_stale: u64,
    /// Datagrams dropped unread because their source went over its rate.
    pub rate_limited: u64,
    /// Requests refused because the session or member table was full.
    pub full: u64,
    /// Datagrams relayed between members.
    pub relayed: u64,
    /// Payload bytes relayed between members.
    pub relayed_bytes: u64,
    /// Relay frames refused: not from a member's registered address, to no member, or
    /// over the session's relay cap.
    pub relay_refused: u64,
}

#[derive(Debug, Clone)]
struct Member {
    observed: SocketAddr,
    addr: Option<SocketAddr>,
    relay_token: u64,
    candidates: Vec<SocketAddr>,
    last_seen: Duration,
}

/// One session: its members and its relay budget.
#[derive(Debug)]
struct Session {
    members: BTreeMap<PeerId, Member>,
    relay: Bucket,
}

/// The rendezvous service, sans-IO.
#[derive(Debug)]
pub struct Server {
    cfg: ServerConfig,
    sessions: HashMap<RendezvousId, Session>,
    guard: ReplayGuard,
    limits: RateLimits,
    relay_limits: RateLimits,
    stats: ServerStats,
}

/// Datagrams to send: (destination, bytes).
pub type Replies = Vec<(SocketAddr, Vec<u8>)>;

impl Server {
    /// A service with no sessions.
    pub fn new(cfg: ServerConfig) -> Self {
        let limits = RateLimits::new(cfg.rate_per_source, cfg.burst_per_source, cfg.max_sources);
        let relay_rate = cfg.relay_rate_per_source;
        let relay_limits = RateLimits::new(relay_rate, 2.0 * relay_rate, cfg.max_sources);
        Server {
            cfg,
            sessions: HashMap::new(),
            guard: ReplayGuard::default(),
            limits,
            relay_limits,
            stats: ServerStats::default(),
        }
    }

    /// Counters and sizes now.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            sessions: self.sessions.len(),
            members: self.sessions.values().map(|s| s.members.len()).sum(),
            sources: self.limits.sources(),
            ..self.stats
        }
    }

    /// Takes one datagram from `from` at `now` (the service's monotonic clock) and
    /// `unix_ms` (its wall clock, which requests are dated by); returns the answers.
    pub fn handle(&mut self, from: SocketAddr, bytes: &[u8], now: Duration, unix_ms: u64) -> Replies {
        if is_relay(bytes) {
            return self.relay(from, bytes, now);
        }
        if !self.limits.allow(from.ip(), now) {
            self.stats.rate_limited += 1;
            return Vec::new();
        }
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(e) => {
                log::debug!("{from}: {e}");
                self.stats.malformed += 1;
                return Vec::new();
            }
        };
        match frame {
            Frame::Probe { nonce } => encoded(from, &Frame::Observed { nonce, addr: from }),
            Frame::Signed { signed, sig } => self.on_signed(from, signed, &sig, now, unix_ms),
            _ => {
                self.stats.malformed += 1;
                Vec::new()
            }
        }
    }

    /// Forgets members not heard within `member_ttl`, sessions left empty, and senders
    /// whose requests are all past the clock window; `unix_ms` is the wall clock.
    pub fn expire(&mut self, now: Duration, unix_ms: u64) {
        let ttl = self.cfg.member_ttl;
        for (id, session) in &mut self.sessions {
            let before = session.members.len();
            session.members.retain(|_, m| now.saturating_sub(m.last_seen) <= ttl);
            if session.members.len() < before && session.members.is_empty() {
                log::info!("session {id} expired");
            }
        }
        self.sessions.retain(|_, s| !s.members.is_empty());
        self.limits.forget_full(now);
        self.relay_limits.forget_full(now);
        self.guard.prune(unix_ms);
    }

    fn on_signed(
        &mut self,
        from: SocketAddr,
        signed: Signed,
        sig: &[[u8; 32]; 2],
        now: Duration,
        unix_ms: u64,
    ) -> Replies {
        if let Err(e) = signed.verify(sig, unix_ms).and_then(|()| self.guard.admit(&signed)) {
            log::debug!("{from}: refused: {e}");
            match e {
                RendezvousError::BadSignature => self.stats.bad_signatures += 1,
                _ => self.stats.replayed_or_stale += 1,
            }
            return Vec::new();
        }
        let id = signed.session_id();
        match signed.body {
            Request::Leave => {
                if let Some(session) = self.sessions.get_mut(&id) {
                    session.members.remove(&signed.peer);
                    if session.members.is_empty() {
                        self.sessions.remove(&id);
                        log::info!("session {id} ended (its last member left)");
                    }
                }
                self.stats.accepted += 1;
                Vec::new()
            }
            Request::Register {
                addr,
                relay_token,
                candidates,
            } => {
                let me = member(from, addr, relay_token, candidates, now);
                self.upsert(id, signed.peer, me, false)
            }
            Request::Join {
                addr,
                relay_token,
                candidates,
            } => {
                let me = member(from, addr, relay_token, candidates, now);
                self.upsert(id, signed.peer, me, true)
            }
        }
    }

    /// Forwards a relay frame from a member's registered address to another member of
    /// the same session, within the session's relay cap. Answers nothing else.
    fn relay(&mut self, from: SocketAddr, bytes: &[u8], now: Duration) -> Replies {
        if !self.relay_limits.allow(from.ip(), now) {
            self.stats.rate_limited += 1;
            return Vec::new();
        }
        let (rate, burst) = (self.cfg.relay_bytes_per_session, self.cfg.relay_burst_bytes);
        let forward = match Frame::decode(bytes) {
            Ok(Frame::Relay {
                session,
                from: sender,
                to,
                token,
                payload,
            }) => self.sessions.get_mut(&session).and_then(|s| {
                let known = s
                    .members
                    .get(&sender)
                    .is_some_and(|m| m.observed == from && m.relay_token == token);
                let target = s.members.get(&to).filter(|_| to != sender).map(|m| m.observed)?;
                (known && s.relay.take(payload.len() as f64, rate, burst, now))
                    .then_some((session, sender, target, payload))
            }),
            _ => None,
        };
        let Some((session, sender, target, payload)) = forward else {
            self.stats.relay_refused += 1;
            return Vec::new();
        };
        self.stats.relayed += 1;
        self.stats.relayed_bytes += payload.len() as u64;
        let relayed = Frame::Relayed {
            session,
            from: sender,
            payload,
        };
        encoded(target, &relayed)
    }

    /// Lists `peer` at `from` in session `id`, answers with the others, and for a join
    /// tells each other member to punch towards the joiner.
    fn upsert(&mut self, id: RendezvousId, peer: PeerId, me: Member, join: bool) -> Replies {
        let (from, now) = (me.observed, me.last_seen);
        if !self.sessions.contains_key(&id) {
            if self.sessions.len() >= self.cfg.max_sessions {
                self.stats.full += 1;
                return Vec::new();
            }
            log::info!("session {id} registered by {peer} from {from}");
        }
        let burst = self.cfg.relay_burst_bytes;
        let session = self.sessions.entry(id).or_insert_with(|| Session {
            members: BTreeMap::new(),
            relay: Bucket::full(burst, now),
        });
        let members = &mut session.members;
        if !members.contains_key(&peer) && members.len() >= self.cfg.max_members {
            self.stats.full += 1;
            return Vec::new();
        }
        members.insert(peer, me.clone());
        self.stats.accepted += 1;
        // The most recently heard first: a joiner tries live members before one that
        // crashed and has not expired yet.
        let mut others: Vec<(&PeerId, &Member)> = members.iter().filter(|(p, _)| **p != peer).collect();
        others.sort_by_key(|(p, m)| (std::cmp::Reverse(m.last_seen), **p));
        let others: Vec<Listed> = others.into_iter().map(|(p, m)| listed(*p, m)).collect();
        let mut out: Replies = members_frames(id, from, &others)
            .iter()
            .flat_map(|f| encoded(from, f))
            .collect();
        if join {
            let punch = Frame::Punch {
                session: id,
                peer: listed(peer, &me),
            };
            for other in &others {
                out.extend(encoded(other.observed, &punch));
            }
        }
        out
    }
}

/// The members as [`Frame::Members`] frames that each fit one datagram (a frame always
/// goes, empty if nobody else is listed).
fn members_frames(session: RendezvousId, observed: SocketAddr, others: &[Listed]) -> Vec<Frame> {
    let frame = |members: Vec<Listed>| Frame::Members {
        session,
        observed,
        members,
    };
    let mut frames = Vec::new();
    let mut current: Vec<Listed> = Vec::new();
    for m in others {
        current.push(m.clone());
        if frame(current.clone()).encode().is_err() && current.len() > 1 {
            let last = current.pop().expect("one at least");
            frames.push(frame(std::mem::replace(&mut current, vec![last])));
        }
    }
    if !current.is_empty() || frames.is_empty() {
        frames.push(frame(current));
    }
    frames
}

fn listed(peer: PeerId, m: &Member) -> Listed {
    Listed {
        peer,
        observed: m.observed,
        addr: m.addr,
        candidates: m.candidates.clone(),
    }
}

fn member(
    observed: SocketAddr,
    addr: Option<SocketAddr>,
    relay_token: u64,
    mut candidates: Vec<SocketAddr>,
    now: Duration,
) -> Member {
    candidates.truncate(MAX_CANDIDATES);
    Member {
        observed,
        addr,
        relay_token,
        candidates,
        last_seen: now,
    }
}

fn encoded(to: SocketAddr, frame: &Frame) -> Replies {
    match frame.encode() {
        Ok(bytes) => vec![(to, bytes)],
        Err(e) => {
            log::warn!("cannot encode an answer to {to}: {e}");
            Vec::new()
        }
    }
}
