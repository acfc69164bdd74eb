//! Several Bevy `App`s in one process, forming a session on the simulator's in-memory
//! network with a virtual clock: the way to test a game's networking deterministically,
//! faults included (a crashed host, cut links, partitions, loss, a peer that leaves or
//! crashes and takes its seat back). Bevy's `Time` of every App follows the same virtual
//! clock (each step sets its `TimeUpdateStrategy`), so game systems that move by
//! `Time::delta` are deterministic too, and no test sleeps.
//!
//! ```
//! use std::time::Duration;
//! use bevy_app::App;
//! use netcode::bevy::testing::TestSession;
//! use netcode::bevy::{NetPeer, NetState, NetcodePlugin};
//! use netcode::sim::LinkConditions;
//!
//! let app = || {
//!     let mut app = App::new();
//!     app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin));
//!     app
//! };
//! let mut session = TestSession::new(1, LinkConditions::default());
//! let host = session.host(app(), "host");
//! let guests: Vec<usize> = (0..2).map(|i| session.join(app(), &format!("guest{i}")).unwrap()).collect();
//! assert!(session.run_until(Duration::from_secs(5), |s| s.state(guests[1]) == Some(NetState::Member)));
//! session.crash(host);
//! assert!(session.run_until(Duration::from_secs(5), |s| guests.iter().any(|g| s.state(*g) == Some(NetState::Hosting))));
//! // The old host's process restarts and takes its seat back, under the same id.
//! session.rejoin(host, app()).unwrap();
//! assert!(session.run_until(Duration::from_secs(5), |s| s.state(host) == Some(NetState::Member)));
//! let id = session.app(host).unwrap().world().resource::<NetPeer>().session().peer_id();
//! assert_eq!(session.peer_id(host), Some(id));
//! ```

use std::time::{Duration, Instant};

use bevy_app::App;
use bevy_state::prelude::State;
use bevy_time::TimeUpdateStrategy;

use super::{NetPeer, NetState};
use crate::sim::{LinkConditions, MemoryNet, MemoryPeer};
use crate::transport::TransportError;
use crate::{Credentials, PeerId};

/// Virtual time between two frames of [`TestSession::step`].
pub const TEST_FRAME: Duration = Duration::from_millis(16);

/// One peer of the session: its App while it runs, and what takes its seat back.
struct Slot {
    app: Option<App>,
    name: String,
    credentials: Credentials,
}

/// Apps on one [`MemoryNet`]; crashed apps leave a hole (indices stay), and a rejoin
/// fills it again.
pub struct TestSession {
    /// The network: advance its clock, cut links, split it.
    pub net: MemoryNet,
    slots: Vec<Slot>,
    frame: Duration,
    /// The `Instant` that stands for virtual time zero in every App's `Time`.
    epoch: Instant,
}

impl TestSession {
    /// No apps yet, on a network seeded with `seed` whose links behave as `link`.
    pub fn new(seed: u64, link: LinkConditions) -> Self {
        Self::on(MemoryNet::new(seed, link))
    }

    /// No apps yet, on `net` (e.g. [`MemoryNet::with_config`] for a tuned session).
    pub fn on(net: MemoryNet) -> Self {
        TestSession {
            net,
            slots: Vec::new(),
            frame: TEST_FRAME,
            epoch: Instant::now(),
        }
    }

    /// Sets the virtual time between frames (default [`TEST_FRAME`]).
    pub fn with_frame(mut self, frame: Duration) -> Self {
        self.frame = frame;
        self
    }

    /// Adds `app` with `peer`; its index.
    fn add(&mut self, mut app: App, name: &str, peer: MemoryPeer) -> usize {
        use crate::transport::Driver;
        let credentials = peer.session().credentials();
        app.insert_resource(NetPeer::new(peer));
        self.slots.push(Slot {
            app: Some(app),
            name: name.to_owned(),
            credentials,
        });
        self.slots.len() - 1
    }

    /// Adds `app` as the peer that creates the session; its index.
    pub fn host(&mut self, app: App, name: &str) -> usize {
        let peer = self.net.host(name);
        self.add(app, name, peer)
    }

    /// Adds `app` as a peer joining through every live member; its index.
    pub fn join(&mut self, app: App, name: &str) -> Result<usize, TransportError> {
        let peer = self.net.join(name, &self.contacts())?;
        Ok(self.add(app, name, peer))
    }

    /// The addresses of the running apps that are in the session.
    fn contacts(&self) -> Vec<std::net::SocketAddr> {
        self.slots
            .iter()
            .filter_map(|s| s.app.as_ref())
            .filter_map(|a| a.world().get_resource::<NetPeer>())
            .filter(|p| p.session().in_session())
            .map(|p| p.local_addr())
            .collect()
    }

    /// Kills app `i` (no goodbye): its peer vanishes from the network; the other members
    /// hold its seat for the rejoin grace period.
    pub fn crash(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            slot.app = None;
        }
    }

    /// App `i` leaves the session gracefully ([`crate::transport::Driver::leave`]): it
    /// keeps running (its goodbye goes out in the next steps) and turns
    /// [`NetState::Offline`]; the others release its seat.
    pub fn leave(&mut self, i: usize) {
        if let Some(mut peer) = self
            .app_mut(i)
            .and_then(|a| a.world_mut().get_resource_mut::<NetPeer>())
        {
            peer.leave();
        }
    }

    /// Restarts peer `i` as `app`: its old App, if it still runs, is dropped (a crash),
    /// and `app` takes the seat back through every live member, from a new address, as
    /// App `i`. Once admitted it has the same [`PeerId`], its own store entries and its
    /// place in the succession. Fails as [`crate::sim::MemoryNet::rejoin`] does, and
    /// with [`crate::SessionError::NotInSession`] when there never was a peer `i`.
    pub fn rejoin(&mut self, i: usize, mut app: App) -> Result<(), TransportError> {
        self.crash(i);
        let contacts = self.contacts();
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(TransportError::Session(crate::SessionError::NotInSession));
        };
        let peer = self.net.rejoin(&slot.name, slot.credentials, &contacts)?;
        app.insert_resource(NetPeer::new(peer));
        slot.app = Some(app);
        Ok(())
    }

    /// App `i`, if it runs.
    pub fn app(&self, i: usize) -> Option<&App> {
        self.slots.get(i).and_then(|s| s.app.as_ref())
    }

    /// App `i`, mutably, if it runs.
    pub fn app_mut(&mut self, i: usize) -> Option<&mut App> {
        self.slots.get_mut(i).and_then(|s| s.app.as_mut())
    }

    /// The id of peer `i` (kept across its crash and rejoin).
    pub fn peer_id(&self, i: usize) -> Option<PeerId> {
        self.slots.get(i).map(|s| s.credentials.peer)
    }

    /// App `i`'s [`NetState`], if it runs.
    pub fn state(&self, i: usize) -> Option<NetState> {
        self.app(i)
            .and_then(|a| a.world().get_resource::<State<NetState>>())
            .map(|s| *s.get())
    }

    /// One frame: every running app updates once, in order, its Bevy `Time` at the
    /// virtual clock's time; then the clock moves on by the frame.
    pub fn step(&mut self) {
        let at = self.epoch + self.net.now();
        for app in self.slots.iter_mut().filter_map(|s| s.app.as_mut()) {
            app.insert_resource(TimeUpdateStrategy::ManualInstant(at));
            app.update();
        }
        self.net.advance(self.frame);
    }

    /// Steps for `duration` of virtual time.
    pub fn run(&mut self, duration: Duration) {
        let until = self.net.now() + duration;
        while self.net.now() < until {
            self.step();
        }
    }

    /// Steps until `done` (checked after each frame) or `limit` of virtual time passed;
    /// whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let until = self.net.now() + limit;
        while self.net.now() < until {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }
}
