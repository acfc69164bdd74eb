//! The driver's half of discovery on the Mainline DHT: the DHT client (its own socket
//! and threads) under the sans-IO publisher and finder of [`crate::dht`], stepped by
//! `Peer::poll`. Every member runs a publisher (only the host's writes: the session record
//! and, while it hosts, the knocks it reads); a joiner also runs a finder until it is in.
//! A knock makes the host's traversal probe the joiner's candidates (its router then lets
//! the joiner in); a record found gives the joiner its contacts.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngExt;

use super::UdpTransport;
use super::signalling::own_candidates;
use crate::dht::find::{FIRST_KNOCK_WAIT, FindFailure, Finder, FinderEvent};
use crate::dht::item::DhtReply;
use crate::dht::keys::DhtKeys;
use crate::dht::publish::{Publisher, PublisherEvent, SessionFacts};
use crate::dht::record::MemberRecord;
use crate::dht::{DhtClient, DhtConfig, DhtError};
use crate::protocol::{Candidate, CandidateKind, Candidates};
use crate::reach::DirectPath;
use crate::session::{Session, SessionKey};
use crate::stun::NatMapping;

/// Set in the ids of the finder's requests (the publisher's never reach it).
const FINDER: u64 = 1 << 63;

/// What a peer's discovery on the DHT did so far ([`super::Peer::dht_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct DhtCounts {
    /// Puts sent (the session record, a joiner's knocks).
    pub puts: u64,
    /// Gets sent (the record, the knocks the host reads).
    pub gets: u64,
    /// Joiners' knocks seen (while hosting).
    pub knocks: u64,
    /// Values refused as not sealed by a member (or undecodable).
    pub forged: u64,
    /// Values refused as stale or replayed.
    pub stale_or_replayed: u64,
    /// Minutes since the DHT client started.
    pub minutes: f64,
}

/// What a step of the DHT tells the setup.
#[derive(Debug, Default)]
pub(super) struct DhtNews {
    /// Addresses of the session's members, the host's first (from a record found).
    pub contacts: Vec<SocketAddr>,
    /// Each member's home-network address with the address the internet reaches it at
    /// (mapped, else reflexive): a dial to either names both in its token.
    pub aliases: Vec<(SocketAddr, SocketAddr)>,
    /// The lookup gave up.
    pub failed: Option<FindFailure>,
}

/// Discovery on the DHT for one peer (see the module docs).
pub(super) struct DhtDriver {
    client: DhtClient,
    publisher: Publisher,
    finder: Option<Finder>,
    /// The knock candidates the finder has.
    knocking_with: Option<Candidates>,
    /// Knocks seen (while hosting).
    knocks: u64,
}

impl DhtDriver {
    /// Starts the DHT client and the publisher; a joiner (`join_timeout`) also looks the
    /// session up and knocks.
    pub(super) fn start(
        config: DhtConfig,
        key: &SessionKey,
        join_timeout: Option<Duration>,
        now: Duration,
    ) -> Result<DhtDriver, DhtError> {
        let client = DhtClient::new(config)?;
        let keys = DhtKeys::derive(key);
        let mut rng = rand::rng();
        let finder = join_timeout.map(|t| Finder::new(keys.clone(), Candidates::default(), now, t, rng.random()));
        Ok(DhtDriver {
            client,
            publisher: Publisher::new(keys, rng.random()),
            finder,
            knocking_with: None,
            knocks: 0,
        })
    }

    /// One step: replies in, the session's facts to the publisher, requests out, events
    /// acted on (a knock is probed at once); what the setup needs comes back.
    pub(super) fn step(&mut self, session: &Session, transport: &mut UdpTransport, now: Duration) -> DhtNews {
        let unix_ms = unix_ms();
        self.publisher.set_log_tag(session.log_tag());
        if let Some(f) = self.finder.as_mut() {
            f.set_log_tag(session.log_tag());
        }
        for reply in self.client.poll_replies() {
            match (for_finder(reply), self.finder.as_mut()) {
                (Ok(reply), Some(f)) => f.handle_reply(reply, now, unix_ms),
                (Ok(_), None) => {}
                (Err(reply), _) => self.publisher.handle_reply(reply, now, unix_ms),
            }
        }
        let own = own_candidates(transport);
        if let Some(facts) = facts(session, own.as_ref()) {
            self.publisher.set_facts(facts, now);
        }
        while let Some(r) = self.publisher.poll_request(now, unix_ms) {
            self.client.submit(r);
        }
        while let Some(event) = self.publisher.poll_event() {
            self.on_publisher(event, session, transport, now);
        }
        let mut news = DhtNews::default();
        if let Some(f) = self.finder.as_mut() {
            if session.in_session() {
                f.admitted();
            }
            // Our public candidates, once STUN or the router answered; our home-network
            // address alone only if they did not within the first knock's wait.
            let waited = now >= f.started() + FIRST_KNOCK_WAIT;
            let knock = own.or_else(|| waited.then(|| local_only(session.local_addr())));
            if let Some(knock) = knock
                && self.knocking_with.as_ref() != Some(&knock)
            {
                f.set_candidates(knock.clone(), now);
                self.knocking_with = Some(knock);
            }
            while let Some(mut r) = f.poll_request(now, unix_ms) {
                *r.id_mut() |= FINDER;
                self.client.submit(r);
            }
            while let Some(event) = f.poll_event() {
                match event {
                    FinderEvent::Found(record) => {
                        log::debug!(
                            "{} the DHT names host {} (epoch {}) and {} member(s)",
                            session.log_tag(),
                            record.host,
                            record.epoch,
                            record.members.len()
                        );
                        for m in &record.members {
                            let addrs = reachable_first(&m.candidates);
                            let local = m.candidates.addrs.iter().find(|c| c.kind == CandidateKind::Local);
                            if let (Some(local), Some(public)) = (local, addrs.first())
                                && local.addr != *public
                            {
                                news.aliases.push((local.addr, *public));
                            }
                            news.contacts.extend(addrs);
                        }
                    }
                    FinderEvent::Failed(failure) => {
                        log::debug!("{} the DHT lookup gave up: {failure:?}", session.log_tag());
                        news.failed = Some(failure);
                    }
                }
            }
            if f.is_done() {
                self.finder = None;
            }
        }
        news
    }

    /// Stops looking (a join given up).
    pub(super) fn cancel(&mut self) {
        if let Some(f) = self.finder.as_mut() {
            f.cancel();
        }
    }

    /// When the next step is due if nothing arrives (the client's replies come at any
    /// time: a driver that sleeps on its socket wakes at least this often).
    pub(super) fn poll_timeout(&self) -> Option<Duration> {
        let f = self.finder.as_ref().and_then(Finder::poll_timeout);
        [self.publisher.poll_timeout(), f].into_iter().flatten().min()
    }

    /// What it did so far.
    pub(super) fn counts(&self) -> DhtCounts {
        let s = self.client.stats();
        let mut refused = self.publisher.stats();
        if let Some(f) = &self.finder {
            let f = f.stats();
            refused.forged += f.forged;
            refused.undecodable += f.undecodable;
            refused.stale += f.stale;
            refused.replayed += f.replayed;
        }
        DhtCounts {
            puts: s.puts,
            gets: s.gets,
            knocks: self.knocks,
            forged: refused.forged + refused.undecodable,
            stale_or_replayed: refused.stale + refused.replayed,
            minutes: s.uptime.as_secs_f64() / 60.0,
        }
    }

    fn on_publisher(&mut self, event: PublisherEvent, session: &Session, transport: &mut UdpTransport, now: Duration) {
        match event {
            PublisherEvent::Knock { candidates, .. } => {
                self.knocks += 1;
                let addrs: Vec<SocketAddr> = candidates.addrs.iter().map(|c| c.addr).collect();
                log::debug!("{} a joiner knocked on the DHT from {addrs:?}", session.log_tag());
                if let Some(t) = transport.traversal_mut() {
                    t.punch_towards(&addrs, now);
                }
            }
            PublisherEvent::Superseded { epoch, host } => {
                log::debug!(
                    "{} the DHT holds host {host}'s record of epoch {epoch}",
                    session.log_tag()
                );
            }
            PublisherEvent::Published { seq, members, bytes } => {
                log::debug!(
                    "{} published the session on the DHT (seq {seq}, {members} member(s), {bytes} bytes)",
                    session.log_tag()
                );
            }
        }
    }
}

/// The session's facts for the publisher, once it is in (each member with what it
/// announced, else its session address).
fn facts(session: &Session, own: Option<&Candidates>) -> Option<SessionFacts> {
    if !session.in_session() {
        return None;
    }
    let me = session.peer_id();
    let host = session.current_host()?;
    let members = session
        .roster()
        .active()
        .map(|m| {
            let announced = if m.id == me { own } else { session.announced(m.id) };
            MemberRecord {
                id: m.id,
                candidates: announced.cloned().unwrap_or_else(|| at_session_addr(m.addr)),
            }
        })
        .collect();
    Some(SessionFacts {
        me,
        host,
        epoch: session.epoch(),
        members,
        accepting: true,
    })
}

/// A member known only by its session address.
fn at_session_addr(addr: SocketAddr) -> Candidates {
    let kind = match DirectPath::to(addr) {
        DirectPath::Lan => CandidateKind::Local,
        _ => CandidateKind::Reflexive,
    };
    Candidates {
        addrs: vec![Candidate { addr, kind }],
        mapping: NatMapping::Unknown,
    }
}

/// Our own address alone, before STUN or the router told us more.
fn local_only(addr: SocketAddr) -> Candidates {
    Candidates {
        addrs: vec![Candidate {
            addr,
            kind: CandidateKind::Local,
        }],
        mapping: NatMapping::Unknown,
    }
}

/// A member's candidates in the order a joiner dials them: mapped, reflexive, local.
fn reachable_first(c: &Candidates) -> Vec<SocketAddr> {
    let mut addrs: Vec<&Candidate> = c.addrs.iter().collect();
    addrs.sort_by_key(|a| match a.kind {
        CandidateKind::Mapped => 0,
        CandidateKind::Reflexive => 1,
        CandidateKind::Local => 2,
    });
    addrs.into_iter().map(|a| a.addr).collect()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The finder's own id of a reply to one of its requests (`FINDER` set), with that id.
fn for_finder(mut reply: DhtReply) -> Result<DhtReply, DhtReply> {
    let id = reply.id_mut();
    if *id & FINDER == 0 {
        return Err(reply);
    }
    *id &= !FINDER;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dht::item::DhtRequest;

    #[test]
    fn the_finders_replies_are_told_from_the_publishers() {
        let got = |id| DhtReply::Got {
            id,
            found: None,
            took: Duration::ZERO,
        };
        assert_eq!(for_finder(got(7 | FINDER)), Ok(got(7)));
        assert_eq!(for_finder(got(7)), Err(got(7)));
        let mut asked = DhtRequest::Get {
            id: 3,
            item: crate::dht::keys::DhtKeys::derive(&SessionKey { id: 1, key: [2; 32] }).record,
            newer_than: None,
        };
        *asked.id_mut() |= FINDER;
        assert_eq!(*asked.id_mut(), 3 | FINDER);
    }

    #[test]
    fn a_joiner_dials_a_members_mapped_then_reflexive_then_local_addresses() {
        let c = |addr: &str, kind| Candidate {
            addr: addr.parse().unwrap(),
            kind,
        };
        let candidates = Candidates {
            addrs: vec![
                c("10.0.0.2:5000", CandidateKind::Local),
                c("198.51.100.7:5000", CandidateKind::Reflexive),
                c("198.51.100.7:6000", CandidateKind::Mapped),
            ],
            mapping: NatMapping::Unknown,
        };
        let order: Vec<String> = reachable_first(&candidates).iter().map(ToString::to_string).collect();
        assert_eq!(order, ["198.51.100.7:6000", "198.51.100.7:5000", "10.0.0.2:5000"]);
    }
}
