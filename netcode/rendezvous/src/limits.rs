//! Per-source rate limits: a token bucket per source IP, with a bound on how many sources
//! are tracked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// A token bucket: `rate` tokens a second, at most `burst` held.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    updated: Duration,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(burst: f64, now: Duration) -> Self {
        Bucket {
            tokens: burst,
            updated: now,
        }
    }

    /// Takes `cost` tokens if there are that many at `now`.
    pub(crate) fn take(&mut self, cost: f64, rate: f64, burst: f64, now: Duration) -> bool {
        let dt = now.saturating_sub(self.updated).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.updated = now;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
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
        self.buckets
            .entry(ip)
            .or_insert(Bucket::full(burst, now))
            .take(1.0, rate, burst, now)
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
