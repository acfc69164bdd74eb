//! The conditioner: what a peer sends goes through a [`LinkConditions`] model (latency,
//! jitter, loss, bursts, duplicates, reordering: the simulator's), to try a bad network
//! on one machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

use std::collections::BTreeSet;

use rand::rngs::StdRng;

use crate::conditions::LinkConditions;

/// Most datagrams a conditioner holds back at once; beyond, new ones are dropped.
const CONDITIONER_QUEUE: usize = 65_536;

/// A held-back datagram: when it leaves, a sequence number (ties keep their order),
/// where to, and its bytes.
type Held = (Duration, u64, SocketAddr, Vec<u8>);

/// Datagrams held back until their time comes.
pub(super) struct Conditioner {
    conditions: LinkConditions,
    rng: StdRng,
    /// Destinations whose link is in a loss burst.
    in_burst: BTreeSet<SocketAddr>,
    queue: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

impl Conditioner {
    pub(super) fn delay(&mut self, now: Duration, to: SocketAddr, bytes: Vec<u8>) {
        let mut in_burst = self.in_burst.contains(&to);
        let fate = self.conditions.fate(&mut self.rng, &mut in_burst, bytes.len());
        if in_burst {
            self.in_burst.insert(to);
        } else {
            self.in_burst.remove(&to);
        }
        for delay in fate.into_iter().flat_map(|d| d.delays()) {
            if self.queue.len() >= CONDITIONER_QUEUE {
                return;
            }
            self.seq += 1;
            self.queue.push(Reverse((now + delay, self.seq, to, bytes.clone())));
        }
    }

    /// When the next held-back datagram leaves, if any is held.
    pub(super) fn next_due(&self) -> Option<Duration> {
        self.queue.peek().map(|Reverse((at, ..))| *at)
    }

    pub(super) fn due(&mut self, now: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        while self.queue.peek().is_some_and(|Reverse((at, ..))| *at <= now) {
            let Reverse((_, _, to, bytes)) = self.queue.pop().expect("peeked");
            out.push((to, bytes));
        }
        out
    }
}

impl Conditioner {
    /// A conditioner for `conditions`, or none when they change nothing.
    pub(super) fn new(conditions: LinkConditions) -> Option<Conditioner> {
        (!conditions.is_perfect()).then(|| Conditioner {
            conditions,
            rng: rand::make_rng(),
            in_burst: BTreeSet::new(),
            queue: BinaryHeap::new(),
            seq: 0,
        })
    }
}
