//! Connection setup as a sans-IO phase of a [`super::Peer`], advanced by `Peer::poll`:
//! the questions to the rendezvous services (where they see us, then the session's
//! members), the first punching towards the members listed, and the admission's timeout.
//! `Peer::host`, `join` and `rejoin` only bind and start it; nothing here waits.
//!
//! The session exists from the start. A host's session address becomes the address the
//! service saw (`Session::readdress`, while it is still alone); a joiner's session is
//! made joining with no contact (`Session::join_later`), takes the observed address the
//! same way, and gets its contacts when the lookup (and the punching) gave them
//! (`Session::add_contacts`).

use std::net::SocketAddr;
use std::time::Duration;

use super::{JoinHint, RendezvousQuestion, TransportError, UdpTransport};
use crate::dht::find::FindFailure;
use crate::portmap::PortMapper;
use crate::session::{JoinPhase, Session};
use crate::stun::{NatMapping, StunClient};
use crate::traversal::Traversal;

/// How often a question to the rendezvous services is asked again while no answer came.
const ASK_EVERY: Duration = Duration::from_millis(250);
/// How long a joiner punches towards the members the service listed before it asks one
/// to admit it: long enough for a punch through ordinary NATs (a few round trips), so
/// that a member it reaches directly is asked first; the session tries one contact at a
/// time, `SessionConfig::contact_timeout` each.
const PUNCH_FIRST: Duration = Duration::from_secs(1);
/// How long a joiner with a rendezvous service waits for its router's port mapping before
/// the lookup, so that the join request names the mapped address (members punch towards
/// it at once). A router that maps answers within a round trip on the home network.
const MAPPING_WAIT: Duration = Duration::from_millis(500);

/// What a setup is for, and its timing.
#[derive(Debug, Clone)]
pub(super) struct SetupPlan {
    /// Whether this peer hosts (a host only asks where the services see it).
    pub host: bool,
    /// The rendezvous services asked.
    pub services: Vec<SocketAddr>,
    /// A joiner's contacts from its invite (the first member's public addresses first),
    /// tried after the members the services list.
    pub fallback: Vec<SocketAddr>,
    /// Whether `PeerOptions::advertise` fixed our address (the observed one is not taken).
    pub fixed_addr: bool,
    /// Each question's wait (`PeerOptions::rendezvous_timeout`).
    pub rendezvous_timeout: Duration,
    /// The admission's wait (`PeerOptions::join_timeout`).
    pub join_timeout: Duration,
}

/// Where the setup stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Asking the services where they see us (since, next question).
    Observing { since: Duration, next_ask: Duration },
    /// Asking the services for the members (since, next question).
    LookingUp { since: Duration, next_ask: Duration },
    /// Punching towards the members listed until one answers or `until`.
    Punching { until: Duration, contacts: Vec<SocketAddr> },
    /// The session asks the contacts `tried`, until `deadline`.
    Admitting { deadline: Duration, tried: Vec<SocketAddr> },
    /// Set up: a host's address is settled, a joiner is in.
    Done,
    /// Given up by the player (`Peer::leave` while joining): nothing more is done.
    Cancelled,
}

/// The setup of one peer (see the module docs).
#[derive(Debug)]
pub(super) struct Setup {
    plan: SetupPlan,
    stage: Stage,
    /// The time of the last step.
    now: Duration,
    /// The phase last reported to the session.
    reported: Option<JoinPhase>,
    /// Whether a join request went to the services (they list us: a cancel tells them).
    asked_members: bool,
    /// Why the DHT lookup gave up, if it did (for the error's hint).
    dht_failure: Option<FindFailure>,
}

impl Setup {
    /// Starts the setup of `plan` at `now`: a joiner without a service asks its invite's
    /// addresses at once, anyone with a service asks it where it sees us.
    pub(super) fn start(plan: SetupPlan, session: &mut Session, transport: &mut UdpTransport, now: Duration) -> Self {
        let stage = if !plan.services.is_empty() {
            if let Some(t) = transport.traversal_mut() {
                t.ask_observed();
            }
            Stage::Observing {
                since: now,
                next_ask: now + ASK_EVERY,
            }
        } else if plan.host {
            Stage::Done
        } else {
            session.add_contacts(plan.fallback.clone(), now);
            Stage::Admitting {
                deadline: now + plan.join_timeout,
                tried: plan.fallback.clone(),
            }
        };
        let mut setup = Setup {
            plan,
            stage,
            now,
            reported: None,
            asked_members: false,
            dht_failure: None,
        };
        setup.report(session, transport);
        setup
    }

    /// Whether the setup still runs (a host's address is not settled, a joiner not in).
    pub(super) fn running(&self) -> bool {
        !matches!(self.stage, Stage::Done | Stage::Cancelled)
    }

    /// Whether the player gave the join up.
    pub(super) fn cancelled(&self) -> bool {
        self.stage == Stage::Cancelled
    }

    /// Gives the setup up; whether the services were asked to list us (and should hear
    /// that we leave).
    pub(super) fn cancel(&mut self) -> bool {
        self.stage = Stage::Cancelled;
        self.asked_members
    }

    /// Contacts found another way while joining (the DHT's record): tried too, within the
    /// join's timeout from its start (the player was told how long a join takes).
    pub(super) fn more_contacts(&mut self, session: &mut Session, contacts: Vec<SocketAddr>) {
        let me = session.local_addr();
        let fresh: Vec<SocketAddr> = contacts.into_iter().filter(|a| *a != me).collect();
        match &mut self.stage {
            Stage::Admitting { tried, .. } => {
                let new: Vec<SocketAddr> = fresh.iter().copied().filter(|a| !tried.contains(a)).collect();
                if new.is_empty() {
                    return;
                }
                tried.splice(0..0, new.iter().copied());
                session.add_contacts(new, self.now);
            }
            Stage::Done | Stage::Cancelled => {}
            _ => {
                for a in fresh.into_iter().rev() {
                    if !self.plan.fallback.contains(&a) {
                        self.plan.fallback.insert(0, a);
                    }
                }
            }
        }
    }

    /// The DHT lookup gave up: the reason goes into the error's hint if nobody answers.
    pub(super) fn dht_gave_up(&mut self, failure: FindFailure) {
        self.dht_failure = Some(failure);
    }

    /// Stops asking anything (a host that leaves before its address settled).
    pub(super) fn cancel_questions(&mut self) {
        if self.running() {
            self.stage = Stage::Done;
        }
    }

    /// The phase a joiner is in (`None` for a host, and once set up).
    pub(super) fn phase(&self, transport: &UdpTransport) -> Option<JoinPhase> {
        if self.plan.host {
            return None;
        }
        match self.stage {
            Stage::Observing { since, .. } if self.awaits_mapping(transport, since) => Some(JoinPhase::Mapping),
            Stage::Observing { .. } => Some(JoinPhase::AskingStun),
            Stage::LookingUp { .. } => Some(JoinPhase::LookingUp),
            Stage::Punching { .. } => Some(JoinPhase::Punching),
            Stage::Admitting { .. } => Some(JoinPhase::Admitting),
            Stage::Done | Stage::Cancelled => None,
        }
    }

    /// Whether a joiner still waits for its router's port mapping (asked since `since`).
    fn awaits_mapping(&self, transport: &UdpTransport, since: Duration) -> bool {
        let pending = transport.portmap().is_some_and(|p| p.mapping().is_none() && !p.done());
        pending && self.elapsed_since(since) < MAPPING_WAIT
    }

    fn elapsed_since(&self, since: Duration) -> Duration {
        self.now.saturating_sub(since)
    }

    /// Advances the setup to `now` (after the socket was read); fails when a join cannot
    /// go on: a silent service, nobody listed, or no member let us in in time.
    pub(super) fn step(
        &mut self,
        session: &mut Session,
        transport: &mut UdpTransport,
        now: Duration,
    ) -> Result<(), TransportError> {
        self.now = now;
        match self.stage.clone() {
            Stage::Observing { since, next_ask } => self.observe(session, transport, since, next_ask)?,
            Stage::LookingUp { since, next_ask } => self.look_up(session, transport, since, next_ask)?,
            Stage::Punching { until, contacts } => self.punch(session, transport, until, contacts),
            Stage::Admitting { deadline, tried } => {
                if session.in_session() && !session.receiving_store() {
                    self.stage = Stage::Done;
                } else if now >= deadline {
                    return Err(TransportError::JoinTimedOut {
                        hint: self.hint(&tried, transport),
                        addrs: tried,
                        secs: self.plan.join_timeout.as_secs(),
                    });
                }
            }
            Stage::Done | Stage::Cancelled => {}
        }
        self.report(session, transport);
        Ok(())
    }
}

impl Setup {
    /// Asks the services where they see us until one answers; then a host settles its
    /// address and registers, a joiner (once its port mapping answered, or after
    /// [`MAPPING_WAIT`]) looks the members up.
    fn observe(
        &mut self,
        session: &mut Session,
        transport: &mut UdpTransport,
        since: Duration,
        next_ask: Duration,
    ) -> Result<(), TransportError> {
        let now = self.now;
        let Some(t) = transport.traversal_mut() else {
            self.stage = Stage::Done;
            return Ok(());
        };
        let observed = t.observed();
        let silent = observed.is_none() && now >= since + self.plan.rendezvous_timeout;
        if observed.is_none() && !silent {
            if now >= next_ask {
                t.ask_observed();
                self.stage = Stage::Observing {
                    since,
                    next_ask: now + ASK_EVERY,
                };
            }
            return Ok(());
        }
        if let Some(seen) = observed.filter(|_| !self.plan.fixed_addr) {
            if !session.readdress(seen) {
                log::warn!(
                    "{} the rendezvous service sees us at {seen}, but a peer reached us at {} already: keeping that address",
                    session.log_tag(),
                    session.local_addr()
                );
            }
            t.set_addr(session.local_addr());
        }
        if self.plan.host {
            if silent {
                log::warn!(
                    "{} the rendezvous service at {} did not answer: hosting at {}; only players on your network can join until it does",
                    session.log_tag(),
                    super::list(&self.plan.services),
                    session.local_addr()
                );
            }
            t.start_registering(now);
            self.stage = Stage::Done;
            return Ok(());
        }
        if silent {
            return self.without_services(session);
        }
        if !self.awaits_mapping(transport, since) {
            super::peer::share_reflexive(transport);
            if let Some(t) = transport.traversal_mut() {
                t.join(now);
            }
            self.asked_members = true;
            self.stage = Stage::LookingUp {
                since: now,
                next_ask: now + ASK_EVERY,
            };
        }
        Ok(())
    }

    /// No service answered where it sees us: a joiner tries its invite's addresses
    /// (with a warning), or fails when the invite names none.
    fn without_services(&mut self, session: &mut Session) -> Result<(), TransportError> {
        if self.plan.fallback.is_empty() {
            return Err(self.silent(RendezvousQuestion::Address));
        }
        log::warn!(
            "{} the rendezvous service at {} did not answer: trying the invite's addresses",
            session.log_tag(),
            super::list(&self.plan.services)
        );
        self.admit(session, Vec::new());
        Ok(())
    }

    fn silent(&self, question: RendezvousQuestion) -> TransportError {
        TransportError::RendezvousSilent {
            addrs: self.plan.services.clone(),
            secs: self.plan.rendezvous_timeout.as_secs(),
            question,
        }
    }

    /// Asks the services for the members until they list them; then punches towards them.
    fn look_up(
        &mut self,
        session: &mut Session,
        transport: &mut UdpTransport,
        since: Duration,
        next_ask: Duration,
    ) -> Result<(), TransportError> {
        let now = self.now;
        let Some(t) = transport.traversal_mut() else {
            self.admit(session, Vec::new());
            return Ok(());
        };
        let Some(listed) = t.listed() else {
            if now >= since + self.plan.rendezvous_timeout {
                return Err(self.silent(RendezvousQuestion::Members));
            }
            if now >= next_ask {
                t.join(now);
                self.stage = Stage::LookingUp {
                    since,
                    next_ask: now + ASK_EVERY,
                };
            }
            return Ok(());
        };
        let me = session.local_addr();
        let contacts: Vec<SocketAddr> = listed.iter().map(|m| m.session_addr()).filter(|a| *a != me).collect();
        if contacts.is_empty() && self.plan.fallback.is_empty() {
            return Err(TransportError::NobodyListed);
        }
        self.stage = Stage::Punching {
            until: now + PUNCH_FIRST,
            contacts,
        };
        Ok(())
    }

    /// Punches (the traversal does, in `Peer::poll`) until a member listed answers or
    /// [`PUNCH_FIRST`] passed; then asks to be admitted, the members reached directly first.
    fn punch(
        &mut self,
        session: &mut Session,
        transport: &UdpTransport,
        until: Duration,
        mut contacts: Vec<SocketAddr>,
    ) {
        let Some(t) = transport.traversal() else {
            self.admit(session, contacts);
            return;
        };
        if self.now >= until || contacts.iter().any(|c| t.path(*c).is_some()) {
            contacts.sort_by_key(|c| t.path(*c).is_none());
            self.admit(session, contacts);
        }
    }

    /// Hands the session its contacts (`listed`, then the invite's) and waits for its
    /// admission.
    fn admit(&mut self, session: &mut Session, listed: Vec<SocketAddr>) {
        let mut tried = listed;
        for a in &self.plan.fallback {
            if !tried.contains(a) && *a != session.local_addr() {
                tried.push(*a);
            }
        }
        session.add_contacts(tried.clone(), self.now);
        self.stage = Stage::Admitting {
            deadline: self.now + self.plan.join_timeout,
            tried,
        };
    }

    /// Tells the session a phase it moved to (as a [`crate::SessionEvent::JoinProgress`]).
    fn report(&mut self, session: &mut Session, transport: &UdpTransport) {
        let phase = self.phase(transport);
        if phase != self.reported {
            if let Some(p) = phase {
                log::debug!("{} joining: {}", session.log_tag(), p.word());
                session.report_join_phase(p);
            }
            self.reported = phase;
        }
    }

    /// What the addresses a join tried, and what this peer learned of its own network,
    /// tell about why nobody answered.
    fn hint(&self, tried: &[SocketAddr], transport: &UdpTransport) -> JoinHint {
        let services = !self.plan.services.is_empty();
        let mapped = transport.portmap().and_then(PortMapper::mapping).is_some();
        let mapping = transport.stun().map_or(NatMapping::Unknown, StunClient::mapping);
        let paths = transport.traversal().map_or(0, |t| t.stats().paths_chosen);
        let listed = transport.traversal().and_then(Traversal::listed).map_or(0, <[_]>::len);
        let by_addresses = JoinHint::for_addresses(tried, services);
        let dht = match self.dht_failure {
            Some(FindFailure::DhtSilent { .. }) => Some(JoinHint::DhtSilent),
            Some(FindFailure::NothingFound { .. }) => Some(JoinHint::DhtNothingFound),
            Some(FindFailure::NotAnswered { .. }) => Some(JoinHint::DhtUnanswered),
            None => None,
        };
        if let Some(hint) = dht.filter(|_| paths == 0) {
            hint
        } else if by_addresses == JoinHint::HomeNetworkOnly {
            by_addresses
        } else if mapping == NatMapping::EndpointDependent && !mapped && paths == 0 {
            JoinHint::SymmetricWithoutMapping
        } else if services && listed > 0 && paths == 0 {
            JoinHint::NoPath { listed }
        } else {
            by_addresses
        }
    }
}
