//! An in-memory network for real drivers: several [`MemoryPeer`]s (one per Bevy `App` in a
//! test, say) share one [`MemoryNet`], a seeded [`SimNetwork`] with a virtual clock that
//! the test advances. Runs are deterministic: the same seed and the same calls give the
//! same datagrams at the same virtual times.
//!
//! Dropping a [`MemoryPeer`] is a crash (no goodbye): datagrams to it vanish from then on.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{LinkConditions, NetStats, SimNetwork};
use crate::config::ConfigError;
use crate::session::{Credentials, PeerSetup, Session, SessionKey};
use crate::transport::{Driver, TransportError};
use crate::{SessionConfig, Transmit};

/// How long a [`MemoryPeer`] tries to join before its poll fails (virtual time).
pub const MEMORY_JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Port of every address on a [`MemoryNet`] (the hosts differ).
const MEMORY_PORT: u16 = 7000;

/// What the peers of one [`MemoryNet`] share.
struct Hub {
    net: SimNetwork,
    now: Duration,
    inboxes: BTreeMap<SocketAddr, VecDeque<(SocketAddr, Vec<u8>)>>,
    next_host: u16,
    rng: StdRng,
    key: SessionKey,
    config: SessionConfig,
}

impl Hub {
    /// Moves every datagram due by now into its receiver's inbox.
    fn deliver(&mut self) {
        while let Some(dg) = self.net.pop_due(self.now) {
            if let Some(inbox) = self.inboxes.get_mut(&dg.to) {
                inbox.push_back((dg.from, dg.bytes));
            }
        }
    }
}

/// A shared in-memory network with a virtual clock; clone it to hand it to each peer.
#[derive(Clone)]
pub struct MemoryNet(Arc<Mutex<Hub>>);

impl MemoryNet {
    /// A network whose links all behave as `link`, seeded for reproducibility; its peers
    /// run sessions with the default [`SessionConfig`].
    pub fn new(seed: u64, link: LinkConditions) -> Self {
        Self::build(seed, link, SessionConfig::default())
    }

    /// A network whose peers' sessions are tuned by `config` (checked here, once).
    pub fn with_config(seed: u64, link: LinkConditions, config: SessionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::build(seed, link, config))
    }

    fn build(seed: u64, link: LinkConditions, config: SessionConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut key = [0u8; 32];
        rng.fill(&mut key[..]);
        let key = SessionKey { id: rng.random(), key };
        let net = SimNetwork::new(rng.random(), link);
        MemoryNet(Arc::new(Mutex::new(Hub {
            net,
            now: Duration::ZERO,
            inboxes: BTreeMap::new(),
            next_host: 1,
            rng,
            key,
            config,
        })))
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        // A test that panicked while holding the lock leaves consistent data behind.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Virtual time now.
    pub fn now(&self) -> Duration {
        self.hub().now
    }

    /// Moves the virtual clock forward by `dt`.
    pub fn advance(&self, dt: Duration) {
        self.hub().now += dt;
    }

    /// Counters of the network so far.
    pub fn stats(&self) -> NetStats {
        self.hub().net.stats()
    }

    /// Changes the network itself: cut links, partitions, per-link conditions.
    pub fn with_network<R>(&self, change: impl FnOnce(&mut SimNetwork) -> R) -> R {
        change(&mut self.hub().net)
    }

    /// A fresh address, plugged in, and the setup of a peer named `name` on it.
    fn open(&self, name: &str) -> (SocketAddr, PeerSetup, StdRng, Duration) {
        let mut hub = self.hub();
        let host = hub.next_host;
        hub.next_host = hub.next_host.wrapping_add(1).max(1);
        let addr = SocketAddr::from(([10, 1, (host >> 8) as u8, (host & 0xff) as u8], MEMORY_PORT));
        hub.net.attach(addr);
        hub.inboxes.insert(addr, VecDeque::new());
        let rng = StdRng::seed_from_u64(hub.rng.random());
        let setup = PeerSetup {
            config: hub.config.clone(),
            name: name.to_owned(),
            addr,
            session: hub.key.clone(),
            public: Vec::new(),
        };
        (addr, setup, rng, hub.now)
    }

    /// Creates the session: a peer that hosts it.
    pub fn host(&self, name: &str) -> MemoryPeer {
        let (addr, setup, mut rng, now) = self.open(name);
        let session = Session::host_with(setup, Credentials::draw(&mut rng), now)
            .expect("the configuration was checked when the network was made");
        MemoryPeer::new(self.clone(), session, addr, None)
    }

    /// A new peer joining through `contacts` (members' [`MemoryPeer::local_addr`]).
    pub fn join(&self, name: &str, contacts: &[SocketAddr]) -> Result<MemoryPeer, TransportError> {
        let (addr, setup, mut rng, now) = self.open(name);
        let session = Session::join_with(setup, Credentials::draw(&mut rng), contacts.to_vec(), now)?;
        Ok(MemoryPeer::new(
            self.clone(),
            session,
            addr,
            Some((now + MEMORY_JOIN_TIMEOUT, contacts.to_vec())),
        ))
    }

    /// A restarted peer taking its seat back (its old [`Session::credentials`]) through
    /// `contacts`, from a new address.
    pub fn rejoin(
        &self,
        name: &str,
        credentials: Credentials,
        contacts: &[SocketAddr],
    ) -> Result<MemoryPeer, TransportError> {
        let (addr, setup, _, now) = self.open(name);
        let session = Session::rejoin(setup, credentials, contacts.to_vec(), now)?;
        Ok(MemoryPeer::new(
            self.clone(),
            session,
            addr,
            Some((now + MEMORY_JOIN_TIMEOUT, contacts.to_vec())),
        ))
    }

    /// Unplugs `addr`: datagrams to it vanish.
    fn detach(&self, addr: SocketAddr) {
        let mut hub = self.hub();
        hub.net.detach(addr);
        hub.inboxes.remove(&addr);
    }
}

/// A session on a [`MemoryNet`]: the in-memory counterpart of the UDP
/// [`crate::transport::Peer`], driven through the same [`Driver`] trait.
pub struct MemoryPeer {
    net: MemoryNet,
    session: Session,
    addr: SocketAddr,
    /// While joining: when to give up, and the contacts tried.
    join_deadline: Option<(Duration, Vec<SocketAddr>)>,
    out: Vec<Transmit>,
}

impl MemoryPeer {
    fn new(
        net: MemoryNet,
        session: Session,
        addr: SocketAddr,
        join_deadline: Option<(Duration, Vec<SocketAddr>)>,
    ) -> Self {
        MemoryPeer {
            net,
            session,
            addr,
            join_deadline,
            out: Vec::new(),
        }
    }

    /// The network this peer is on.
    pub fn network(&self) -> &MemoryNet {
        &self.net
    }
}

impl Drop for MemoryPeer {
    fn drop(&mut self) {
        self.net.detach(self.addr);
    }
}

impl Driver for MemoryPeer {
    fn poll(&mut self) -> Result<(), TransportError> {
        let mut hub = self.net.hub();
        hub.deliver();
        let now = hub.now;
        if let Some(inbox) = hub.inboxes.get_mut(&self.addr) {
            for (from, mut bytes) in inbox.drain(..) {
                self.session.handle_datagram(from, &mut bytes);
            }
        }
        self.session.update(now);
        self.session.drain_transmits(&mut self.out);
        for t in self.out.drain(..) {
            hub.net.send(now, t.from, t.to, t.bytes);
        }
        drop(hub);
        if let Some(reason) = self.session.refusal() {
            return Err(TransportError::Refused(reason));
        }
        if let Some((deadline, contacts)) = &self.join_deadline {
            if self.session.in_session() && !self.session.receiving_store() {
                self.join_deadline = None;
            } else if now >= *deadline {
                return Err(TransportError::JoinTimedOut {
                    addrs: contacts.clone(),
                    secs: MEMORY_JOIN_TIMEOUT.as_secs(),
                    hint: crate::transport::JoinHint::Unanswered,
                });
            }
        }
        Ok(())
    }

    fn now(&self) -> Duration {
        self.net.now()
    }

    fn session(&self) -> &Session {
        &self.session
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
