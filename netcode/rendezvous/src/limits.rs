//! Per-source rate limits: a token bucket per source IP, with a bound on how many sources
//! are tracked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Duration,
}

/// Token buckets by source IP.
#[derive(Debug)]
pub(crate) struct RateLimits {
    rate: f64,
    burst: f64,
    max_sources: usize,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimits {
    pub(crate) fn new(rate: f64, burst: f64, max_sources: usize) -> Self {
        RateLimits {
            rate,
            burst,
            max_sources,
            buckets: HashMap::new(),
        }
    }

    /// Whether a datagram from `ip` at `now` is within its rate (and takes a token).
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Duration) -> bool {
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_sources {
            self.forget_full(now);
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let dt = now.saturating_sub(b.updated).as_secs_f64();
        b.tokens = (b.tokens + dt * rate).min(burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets the sources whose bucket is full again (they are owed nothing).
    pub(crate) fn forget_full(&mut self, now: Duration) {
        let (rate, burst) = (self.rate, self.burst);
        self.buckets
            .retain(|_, b| b.tokens + now.saturating_sub(b.updated).as_secs_f64() * rate < burst);
    }

    pub(crate) fn sources(&self) -> usize {
        self.buckets.len()
    }
}
