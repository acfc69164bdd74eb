//! Two peers' links wired to each other in memory, for the link layer's tests.

use std::net::SocketAddr;
use std::time::Duration;

use super::Links;
use crate::PeerId;
use crate::config::SessionConfig;

/// Peer 1 (`a`, at 10.0.0.1:5000) and peer 2 (`b`, at 10.0.0.2:5000), nothing dialed yet.
pub(super) struct Pair {
    pub(super) a: Links,
    pub(super) b: Links,
    pub(super) a_addr: SocketAddr,
    pub(super) b_addr: SocketAddr,
    /// Whether what `a` sends reaches `b` (what `b` sends always reaches `a`).
    pub(super) to_b: bool,
    /// Whether `b` greets a link once it is up (`a` always does).
    pub(super) greet_b: bool,
    steps: u64,
}

impl Pair {
    pub(super) fn new() -> Self {
        let cfg = SessionConfig::default();
        let (a_addr, b_addr) = ("10.0.0.1:5000".parse().unwrap(), "10.0.0.2:5000".parse().unwrap());
        Pair {
            a: Links::new(PeerId(1), a_addr, [3; 32], 9, &cfg, Duration::ZERO),
            b: Links::new(PeerId(2), b_addr, [3; 32], 9, &cfg, Duration::ZERO),
            a_addr,
            b_addr,
            to_b: true,
            greet_b: true,
            steps: 0,
        }
    }

    /// Runs `steps` steps of 50 ms: both sides advance and flush, their datagrams cross,
    /// each greets a link that is up, and `a` sends a payload on it, as a heartbeat would.
    pub(super) fn run(&mut self, steps: u64) {
        for _ in 0..steps {
            self.steps += 1;
            let now = Duration::from_millis(50 * self.steps);
            let (a, b) = (&mut self.a, &mut self.b);
            a.update(now);
            b.update(now);
            a.flush(true);
            b.flush(true);
            let mut out = Vec::new();
            a.drain_transmits(&mut out);
            for t in out.drain(..).filter(|_| self.to_b) {
                b.handle_datagram(self.a_addr, &mut t.bytes.clone());
            }
            b.drain_transmits(&mut out);
            for t in out.drain(..) {
                a.handle_datagram(self.b_addr, &mut t.bytes.clone());
            }
            if a.is_linked(PeerId(2)) {
                a.greet(PeerId(2), vec![1]);
                a.send_datagram(PeerId(2), &[1]);
            }
            if self.greet_b && b.is_linked(PeerId(1)) {
                b.greet(PeerId(1), vec![2]);
            }
        }
    }
}
