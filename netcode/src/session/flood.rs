//! A rate limit per peer on what we decode: a token bucket of messages. A peer over the
//! limit has its messages dropped (and counted) unread; one that stays over it for
//! `SessionConfig::flood_expel_after` is dropped as misbehaving. The limit is far above
//! what an honest peer sends (30 heartbeats a second, relays, store writes), so only a
//! flood trips it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{PeerId, SessionConfig};

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Decode it.
    Yes,
    /// Drop it unread.
    Drop,
    /// The peer has flooded too long: drop it as misbehaving.
    Expel,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Duration,
    /// Since when this peer has been over the limit without recovering.
    over_since: Option<Duration>,
}

/// The buckets of every peer we hear.
#[derive(Debug, Default)]
pub(crate) struct FloodGuard {
    buckets: BTreeMap<PeerId, Bucket>,
}

impl FloodGuard {
    /// Takes one token of `peer`'s bucket at `now`.
    pub(crate) fn admit(&mut self, peer: PeerId, now: Duration, cfg: &SessionConfig) -> Admit {
        let burst = cfg.max_message_burst;
        let b = self.buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            last: now,
            over_since: None,
        });
        let refill = now.saturating_sub(b.last).as_secs_f64() * cfg.max_messages_per_sec;
        b.tokens = (b.tokens + refill).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            if b.tokens >= burst / 2.0 {
                b.over_since = None;
            }
            return Admit::Yes;
        }
        let since = *b.over_since.get_or_insert(now);
        if now.saturating_sub(since) >= cfg.flood_expel_after {
            Admit::Expel
        } else {
            Admit::Drop
        }
    }

    /// Forgets a peer (its link went away).
    pub(crate) fn forget(&mut self, peer: PeerId) {
        self.buckets.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_bucket_is_dropped_and_a_long_flood_expelled() {
        let cfg = SessionConfig::default();
        let mut g = FloodGuard::default();
        let p = PeerId(7);
        let t0 = Duration::from_secs(1);
        let burst = cfg.max_message_burst as usize;
        assert!((0..burst).all(|_| g.admit(p, t0, &cfg) == Admit::Yes));
        assert_eq!(g.admit(p, t0, &cfg), Admit::Drop);
        // An honest rate refills: after a second, a second's worth goes through again.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(g.admit(p, t1, &cfg), Admit::Yes);
        // Keeps flooding for longer than the expel delay.
        let mut t = t1;
        let mut verdict = Admit::Yes;
        while t < t1 + cfg.flood_expel_after + Duration::from_secs(1) {
            for _ in 0..(cfg.max_messages_per_sec as usize * 2 / 100) {
                verdict = g.admit(p, t, &cfg);
            }
            t += Duration::from_millis(10);
        }
        assert_eq!(verdict, Admit::Expel);
        // Another peer is not affected.
        assert_eq!(g.admit(PeerId(8), t, &cfg), Admit::Yes);
    }
}
