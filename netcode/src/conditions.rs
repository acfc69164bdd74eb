//! How a link treats datagrams: latency, jitter, loss (independent and bursty),
//! duplication, reordering, MTU. One model for the simulator's links ([`crate::sim`]) and
//! for the UDP transport's conditioner (`PeerOptions::conditions`, to try a bad network on
//! one machine).

use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;
use thiserror::Error;

/// Longest latency, jitter or reorder delay [`LinkConditions::validate`] accepts.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// A value of [`LinkConditions`] out of its range.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConditionsError {
    /// A probability outside 0..=1 (or not a number).
    #[error("{field} must be a probability within 0..=1, got {value}")]
    Probability {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A delay longer than [`MAX_DELAY`].
    #[error("{field} must be at most {max:?}, got {value:?}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its value.
        value: Duration,
        /// The limit.
        max: Duration,
    },
    /// A delay in milliseconds that is not a number of milliseconds (negative, NaN).
    #[error("{field} must be a number of milliseconds, got {value}")]
    NotMillis {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A mean burst length below one datagram (or not a number).
    #[error("burst_len must be at least 1, got {0}")]
    BurstLength(f64),
}

/// How one direction of a link treats datagrams. Every field's default is in its doc;
/// build one from the default with setters named as the fields
/// (`LinkConditions::default().latency(Duration::from_millis(40)).loss(0.05)`), and check
/// it with [`LinkConditions::validate`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LinkConditions {
    /// One-way base latency. Default: 20 ms.
    pub latency: Duration,
    /// Each datagram's delay varies uniformly within ±`jitter` around the latency
    /// (never below zero). Default: 0.
    pub jitter: Duration,
    /// Independent loss probability per datagram. Default: 0.
    pub loss: f64,
    /// Probability per datagram of entering a loss burst (Gilbert-Elliott). Default: 0.
    pub burst_loss: f64,
    /// Mean number of datagrams lost in one burst. Default: 8.
    pub burst_len: f64,
    /// Probability of delivering a datagram twice. Default: 0.
    pub duplicate: f64,
    /// Probability of holding a datagram back by `reorder_delay` (so later ones overtake it).
    /// Default: 0.
    pub reorder: f64,
    /// Extra delay of a reordered datagram. Default: 30 ms.
    pub reorder_delay: Duration,
    /// Largest datagram carried; larger ones are dropped. Default: 1400 bytes.
    pub mtu: usize,
}

crate::config::setters!(LinkConditions {
    latency: Duration,
    jitter: Duration,
    loss: f64,
    burst_loss: f64,
    burst_len: f64,
    duplicate: f64,
    reorder: f64,
    reorder_delay: Duration,
    mtu: usize,
});

impl Default for LinkConditions {
    fn default() -> Self {
        LinkConditions {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            loss: 0.0,
            burst_loss: 0.0,
            burst_len: 8.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(30),
            mtu: 1400,
        }
    }
}

impl LinkConditions {
    /// A link that changes nothing: no delay, no loss, no size limit (the UDP transport's
    /// default; the simulator's default is [`LinkConditions::default`]).
    pub fn perfect() -> Self {
        LinkConditions {
            latency: Duration::ZERO,
            burst_len: 1.0,
            reorder_delay: Duration::ZERO,
            mtu: usize::MAX,
            ..LinkConditions::default()
        }
    }

    /// Whether these conditions change nothing (see [`LinkConditions::perfect`]).
    pub fn is_perfect(&self) -> bool {
        self.latency.is_zero()
            && self.jitter.is_zero()
            && self.loss <= 0.0
            && self.burst_loss <= 0.0
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.mtu == usize::MAX
    }

    /// Perfect conditions but for a latency and jitter in milliseconds and a loss
    /// probability, checked (errors start with the field's name: `latency`, `jitter`,
    /// `loss`).
    pub fn from_millis(latency_ms: f64, jitter_ms: f64, loss: f64) -> Result<Self, ConditionsError> {
        let ms = |field: &'static str, value: f64| {
            Duration::try_from_secs_f64(value / 1000.0).map_err(|_| ConditionsError::NotMillis { field, value })
        };
        let conditions = LinkConditions {
            latency: ms("latency", latency_ms)?,
            jitter: ms("jitter", jitter_ms)?,
            loss,
            ..LinkConditions::perfect()
        };
        conditions.validate()?;
        Ok(conditions)
    }

    /// Checks every field's range: probabilities within 0..=1, delays up to [`MAX_DELAY`].
    pub fn validate(&self) -> Result<(), ConditionsError> {
        for (field, value) in [
            ("loss", self.loss),
            ("burst_loss", self.burst_loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConditionsError::Probability { field, value });
            }
        }
        for (field, value) in [
            ("latency", self.latency),
            ("jitter", self.jitter),
            ("reorder_delay", self.reorder_delay),
        ] {
            if value > MAX_DELAY {
                return Err(ConditionsError::TooLong {
                    field,
                    value,
                    max: MAX_DELAY,
                });
            }
        }
        if self.burst_len.is_nan() || self.burst_len < 1.0 {
            return Err(ConditionsError::BurstLength(self.burst_len));
        }
        Ok(())
    }

    /// The fate of one datagram of `len` bytes: `None` when the link drops it, else the
    /// delay of each copy delivered (two when duplicated). `in_burst` is the link's
    /// Gilbert-Elliott state (entered with `burst_loss`, left after `burst_len` datagrams
    /// on average), kept by the caller per link.
    pub(crate) fn fate(&self, rng: &mut StdRng, in_burst: &mut bool, len: usize) -> Option<Delivery> {
        if len > self.mtu {
            return None;
        }
        if *in_burst {
            if rng.random_bool((1.0 / self.burst_len.max(1.0)).clamp(0.0, 1.0)) {
                *in_burst = false;
            }
            return None;
        }
        if self.burst_loss > 0.0 && rng.random_bool(self.burst_loss.clamp(0.0, 1.0)) {
            *in_burst = true;
            return None;
        }
        if self.loss > 0.0 && rng.random_bool(self.loss.clamp(0.0, 1.0)) {
            return None;
        }
        let copies = if self.duplicate > 0.0 && rng.random_bool(self.duplicate.clamp(0.0, 1.0)) {
            2
        } else {
            1
        };
        let delay = |rng: &mut StdRng| {
            let mut delay = self.latency;
            if !self.jitter.is_zero() {
                let j = self.jitter.as_secs_f64();
                let offset = rng.random_range(-j..=j);
                delay = Duration::from_secs_f64((delay.as_secs_f64() + offset).max(0.0));
            }
            if self.reorder > 0.0 && rng.random_bool(self.reorder.clamp(0.0, 1.0)) {
                delay += self.reorder_delay;
            }
            delay
        };
        let first = delay(rng);
        let second = if copies == 2 { Some(delay(rng)) } else { None };
        Some(Delivery { first, second })
    }
}

/// When the copies of a delivered datagram arrive, relative to its sending: one copy, or
/// two when the link duplicated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivery {
    first: Duration,
    second: Option<Duration>,
}

impl Delivery {
    /// The delay of each copy.
    pub(crate) fn delays(self) -> impl Iterator<Item = Duration> {
        std::iter::once(self.first).chain(self.second)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn perfect_conditions_deliver_everything_at_once() {
        let perfect = LinkConditions::perfect();
        assert!(perfect.is_perfect() && perfect.validate().is_ok());
        assert!(
            !LinkConditions::default().is_perfect(),
            "the simulator's default has latency"
        );
        let mut rng = StdRng::seed_from_u64(1);
        let mut burst = false;
        for len in [1, 1500, 65_000] {
            let delays: Vec<Duration> = perfect
                .fate(&mut rng, &mut burst, len)
                .expect("delivered")
                .delays()
                .collect();
            assert_eq!(delays, vec![Duration::ZERO]);
        }
    }

    #[test]
    fn out_of_range_values_are_named() {
        let bad = LinkConditions {
            loss: 1.5,
            ..LinkConditions::perfect()
        };
        assert_eq!(
            bad.validate(),
            Err(ConditionsError::Probability {
                field: "loss",
                value: 1.5
            })
        );
        let nan = LinkConditions {
            duplicate: f64::NAN,
            ..LinkConditions::perfect()
        };
        assert!(matches!(
            nan.validate(),
            Err(ConditionsError::Probability { field: "duplicate", .. })
        ));
        let err = LinkConditions::from_millis(-1.0, 0.0, 0.0).unwrap_err();
        assert_eq!(err.to_string(), "latency must be a number of milliseconds, got -1");
        let ok = LinkConditions::from_millis(100.0, 5.0, 0.1).expect("in range");
        assert_eq!(ok.latency, Duration::from_millis(100));
        let slow = LinkConditions {
            jitter: Duration::from_secs(11),
            ..LinkConditions::perfect()
        };
        assert!(matches!(
            slow.validate(),
            Err(ConditionsError::TooLong { field: "jitter", .. })
        ));
    }

    #[test]
    fn loss_bursts_and_duplicates_follow_their_probabilities() {
        let cond = LinkConditions {
            loss: 0.2,
            duplicate: 0.1,
            ..LinkConditions::perfect()
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut burst = false;
        let fates: Vec<_> = (0..10_000).map(|_| cond.fate(&mut rng, &mut burst, 100)).collect();
        let lost = fates.iter().filter(|f| f.is_none()).count();
        let doubled = fates
            .iter()
            .filter(|f| f.is_some_and(|d| d.delays().count() == 2))
            .count();
        assert!((1_800..2_200).contains(&lost), "{lost}");
        assert!((650..950).contains(&doubled), "{doubled}");
        let small = LinkConditions {
            mtu: 100,
            ..LinkConditions::perfect()
        };
        assert_eq!(small.fate(&mut rng, &mut burst, 101), None);
    }
}
