//! The seam between a [`Session`] and the network it runs on: the UDP [`Peer`] is one
//! driver, the simulator's in-memory [`crate::sim::MemoryPeer`] another. The Bevy plugin
//! drives whichever it is given.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

use super::{Peer, TransportError};
use crate::{JoinPhase, Session};

/// A session on a network: something that moves its datagrams and tells its time.
///
/// Implement it to run the Bevy plugin (or any driver loop) over another network.
pub trait Driver: Send + Sync + 'static {
    /// Receives what arrived, advances the session to now, and sends what it has to send.
    /// Fails when the join timed out or was refused, or the network failed.
    fn poll(&mut self) -> Result<(), TransportError>;

    /// Session time now (the clock the session runs on: wall clock or virtual).
    fn now(&self) -> Duration;

    /// The session.
    fn session(&self) -> &Session;

    /// The session, to change it.
    fn session_mut(&mut self) -> &mut Session;

    /// The address this peer listens on.
    fn local_addr(&self) -> SocketAddr;

    /// Where a join stands while it is not in the session yet (`None` once in, and for a
    /// host). A driver that runs no step before admission is admitting while joining.
    fn join_phase(&self) -> Option<JoinPhase> {
        self.session().is_joining().then_some(JoinPhase::Admitting)
    }

    /// Leaves gracefully: keep polling until the session reports it left (a join not in
    /// the session yet is given up at once).
    fn leave(&mut self) {
        let now = self.now();
        self.session_mut().leave(now);
    }

    /// The driver itself, to reach what only its type has (a [`Peer`]'s invite code).
    fn as_any(&self) -> &dyn Any;

    /// The driver itself, mutably.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl Driver for Peer {
    fn poll(&mut self) -> Result<(), TransportError> {
        Peer::poll(self)
    }

    fn now(&self) -> Duration {
        Peer::now(self)
    }

    fn session(&self) -> &Session {
        Peer::session(self)
    }

    fn session_mut(&mut self) -> &mut Session {
        Peer::session_mut(self)
    }

    fn local_addr(&self) -> SocketAddr {
        Peer::local_addr(self)
    }

    fn join_phase(&self) -> Option<JoinPhase> {
        Peer::join_phase(self)
    }

    fn leave(&mut self) {
        Peer::leave(self);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
