//! The conditioner: added latency, jitter and loss on what a peer sends, to try a bad
//! network on one machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

/// Largest added latency or jitter accepted from the command line, in ms.
const MAX_CONDITION_MS: f64 = 10_000.0;
/// Most datagrams a conditioner holds back at once; beyond, new ones are dropped.
const CONDITIONER_QUEUE: usize = 65_536;

/// Conditions the conditioner adds to every datagram this peer sends.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Conditions {
    /// Added one-way latency. Default: none.
    pub latency: Duration,
    /// Uniform jitter around the latency (±). Default: none.
    pub jitter: Duration,
    /// Probability that a datagram is dropped. Default: 0.
    pub loss: f64,
}

impl Conditions {
    /// Conditions from command-line values (`--sim-latency MS --sim-jitter MS --sim-loss P`),
    /// with an error naming the flag that is out of range.
    pub fn from_flags(latency_ms: f64, jitter_ms: f64, loss: f64) -> Result<Conditions, String> {
        let ms = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=MAX_CONDITION_MS).contains(&v) {
                Ok(Duration::from_secs_f64(v / 1000.0))
            } else {
                Err(format!("--{name} must be within 0..={MAX_CONDITION_MS} ms, got {v}"))
            }
        };
        if !(0.0..=1.0).contains(&loss) {
            return Err(format!("--sim-loss must be within 0..=1, got {loss}"));
        }
        Ok(Conditions {
            latency: ms("sim-latency", latency_ms)?,
            jitter: ms("sim-jitter", jitter_ms)?,
            loss,
        })
    }

    /// Whether these conditions change anything.
    pub fn is_perfect(&self) -> bool {
        self.latency.is_zero() && self.jitter.is_zero() && self.loss <= 0.0
    }
}

/// A held-back datagram: when it leaves, a sequence number (ties keep their order),
/// where to, and its bytes.
type Held = (Duration, u64, SocketAddr, Vec<u8>);

/// Datagrams held back until their time comes.
pub(super) struct Conditioner {
    conditions: Conditions,
    rng: StdRng,
    queue: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

impl Conditioner {
    pub(super) fn delay(&mut self, now: Duration, to: SocketAddr, bytes: Vec<u8>) {
        let c = self.conditions;
        if self.rng.random_bool(c.loss.clamp(0.0, 1.0)) || self.queue.len() >= CONDITIONER_QUEUE {
            return;
        }
        let jitter = c.jitter.as_secs_f64();
        let offset = if jitter > 0.0 {
            self.rng.random_range(-jitter..=jitter)
        } else {
            0.0
        };
        let delay = (c.latency.as_secs_f64() + offset).max(0.0);
        self.seq += 1;
        self.queue
            .push(Reverse((now + Duration::from_secs_f64(delay), self.seq, to, bytes)));
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
    pub(super) fn new(conditions: Conditions) -> Option<Conditioner> {
        (!conditions.is_perfect()).then(|| Conditioner {
            conditions,
            rng: rand::make_rng(),
            queue: BinaryHeap::new(),
            seq: 0,
        })
    }
}
