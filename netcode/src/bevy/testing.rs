//! Several Bevy `App`s in one process, forming a session on the simulator's in-memory
//! network with a virtual clock: the way to test a game's networking deterministically,
//! faults included (a crashed host, cut links, partitions, loss).
//!
//! ```
//! use std::time::Duration;
//! use bevy_app::App;
//! use netcode::bevy::testing::TestSession;
//! use netcode::bevy::{NetState, NetcodePlugin};
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
//! ```

use std::time::Duration;

use bevy_app::App;
use bevy_state::prelude::State;

use super::{NetPeer, NetState};
use crate::sim::{LinkConditions, MemoryNet};
use crate::transport::TransportError;

/// Virtual time between two frames of [`TestSession::step`].
pub const TEST_FRAME: Duration = Duration::from_millis(16);

/// Apps on one [`MemoryNet`]; crashed apps leave a hole (indices stay).
pub struct TestSession {
    /// The network: advance its clock, cut links, split it.
    pub net: MemoryNet,
    apps: Vec<Option<App>>,
    frame: Duration,
}

impl TestSession {
    /// No apps yet, on a network seeded with `seed` whose links behave as `link`.
    pub fn new(seed: u64, link: LinkConditions) -> Self {
        TestSession {
            net: MemoryNet::new(seed, link),
            apps: Vec::new(),
            frame: TEST_FRAME,
        }
    }

    /// Sets the virtual time between frames (default [`TEST_FRAME`]).
    pub fn with_frame(mut self, frame: Duration) -> Self {
        self.frame = frame;
        self
    }

    /// Adds `app` as the peer that creates the session; its index.
    pub fn host(&mut self, mut app: App, name: &str) -> usize {
        app.insert_resource(NetPeer::new(self.net.host(name)));
        self.apps.push(Some(app));
        self.apps.len() - 1
    }

    /// Adds `app` as a peer joining through every live member; its index.
    pub fn join(&mut self, mut app: App, name: &str) -> Result<usize, TransportError> {
        let contacts: Vec<_> = self
            .apps
            .iter()
            .flatten()
            .filter_map(|a| a.world().get_resource::<NetPeer>())
            .filter(|p| p.session().in_session())
            .map(|p| p.local_addr())
            .collect();
        app.insert_resource(NetPeer::new(self.net.join(name, &contacts)?));
        self.apps.push(Some(app));
        Ok(self.apps.len() - 1)
    }

    /// Kills app `i` (no goodbye): its peer vanishes from the network.
    pub fn crash(&mut self, i: usize) {
        if let Some(slot) = self.apps.get_mut(i) {
            *slot = None;
        }
    }

    /// App `i`, if it runs.
    pub fn app(&self, i: usize) -> Option<&App> {
        self.apps.get(i).and_then(Option::as_ref)
    }

    /// App `i`, mutably, if it runs.
    pub fn app_mut(&mut self, i: usize) -> Option<&mut App> {
        self.apps.get_mut(i).and_then(Option::as_mut)
    }

    /// App `i`'s [`NetState`], if it runs.
    pub fn state(&self, i: usize) -> Option<NetState> {
        self.app(i)
            .and_then(|a| a.world().get_resource::<State<NetState>>())
            .map(|s| *s.get())
    }

    /// One frame: every running app updates once, in order, then the clock moves on.
    pub fn step(&mut self) {
        for app in self.apps.iter_mut().flatten() {
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
