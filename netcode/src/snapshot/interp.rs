//! Interpolation of remote entities: a buffer of timed samples per entity, presented at
//! `now - delay`, where the delay adapts to the measured jitter and send interval; bounded
//! extrapolation when samples are late; snapping on teleports the game marks.

use std::collections::VecDeque;
use std::time::Duration;

/// Weight of a new sample in the jitter and interval averages.
const EWMA_WEIGHT: f64 = 0.1;

/// Values that can be blended between two samples.
pub trait Interpolate: Clone {
    /// The value at fraction `t` (0 = `self`, 1 = `other`; beyond 1 extrapolates).
    fn interpolate(&self, other: &Self, t: f32) -> Self;
}

impl Interpolate for f32 {
    fn interpolate(&self, other: &Self, t: f32) -> Self {
        self + (other - self) * t
    }
}

impl<const N: usize> Interpolate for [f32; N] {
    fn interpolate(&self, other: &Self, t: f32) -> Self {
        std::array::from_fn(|i| self[i].interpolate(&other[i], t))
    }
}

/// Tuning of an [`InterpolationBuffer`]. Every field's default is in its doc.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InterpConfig {
    /// Least presentation delay. Default: 20 ms.
    pub min_delay: Duration,
    /// Largest presentation delay. Default: 300 ms.
    pub max_delay: Duration,
    /// Jitter deviations added to the send interval to make the delay. Default: 2.5.
    pub jitter_factor: f64,
    /// How far past the newest sample the buffer extrapolates. Default: 100 ms.
    pub max_extrapolation: Duration,
    /// Samples kept. Default: 32.
    pub capacity: usize,
}

impl Default for InterpConfig {
    fn default() -> Self {
        InterpConfig {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(300),
            jitter_factor: 2.5,
            max_extrapolation: Duration::from_millis(100),
            capacity: 32,
        }
    }
}

impl InterpConfig {
    /// Checks the tuning once, when it is given: the least delay is not above the
    /// largest, the jitter factor is a finite number of at least 0, at least two samples
    /// are kept.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        use crate::config::{at_least, count, not_below};
        not_below(
            "max_delay",
            self.max_delay.as_secs_f64(),
            "min_delay",
            self.min_delay.as_secs_f64(),
        )?;
        at_least("jitter_factor", self.jitter_factor, 0.0)?;
        count("capacity", self.capacity, 2, usize::MAX)
    }
}

crate::config::setters!(InterpConfig {
    min_delay: Duration,
    max_delay: Duration,
    jitter_factor: f64,
    max_extrapolation: Duration,
    capacity: usize,
});

#[derive(Debug, Clone)]
struct Sample<T> {
    /// Sender's time of the state.
    at: f64,
    value: T,
    teleport: bool,
}

/// Timed samples of one remote entity.
#[derive(Debug, Clone)]
pub struct InterpolationBuffer<T> {
    cfg: InterpConfig,
    samples: VecDeque<Sample<T>>,
    /// Smallest `arrival - sent` seen (one-way latency plus clock offset), in seconds.
    offset: Option<f64>,
    jitter: f64,
    interval: f64,
}

impl<T> Default for InterpolationBuffer<T> {
    /// An empty buffer of the default tuning.
    fn default() -> Self {
        InterpolationBuffer {
            cfg: InterpConfig::default(),
            samples: VecDeque::new(),
            offset: None,
            jitter: 0.0,
            interval: 0.0,
        }
    }
}

impl<T: Interpolate> InterpolationBuffer<T> {
    /// An empty buffer of tuning `cfg`, once it holds ([`InterpConfig::validate`]).
    pub fn new(cfg: InterpConfig) -> Result<Self, crate::ConfigError> {
        cfg.validate()?;
        Ok(InterpolationBuffer {
            cfg,
            ..InterpolationBuffer::default()
        })
    }

    /// Forgets every sample and what they taught (a new source starts afresh); keeps the
    /// tuning.
    pub fn clear(&mut self) {
        *self = InterpolationBuffer {
            cfg: self.cfg.clone(),
            ..InterpolationBuffer::default()
        };
    }

    /// Adds the state the sender had at `sent` (its clock), received at `arrived` (ours).
    /// `teleport` marks a jump the renderer must not smooth over. Late or duplicate
    /// samples (not newer than the newest) are ignored.
    pub fn push(&mut self, sent: Duration, arrived: Duration, value: T, teleport: bool) {
        let (sent, arrived) = (sent.as_secs_f64(), arrived.as_secs_f64());
        if self.samples.back().is_some_and(|s| sent <= s.at) {
            return;
        }
        let lag = arrived - sent;
        let offset = self.offset.map_or(lag, |o| o.min(lag));
        self.offset = Some(offset);
        self.jitter += EWMA_WEIGHT * ((lag - offset) - self.jitter);
        if let Some(prev) = self.samples.back() {
            self.interval += EWMA_WEIGHT * ((sent - prev.at) - self.interval);
        }
        self.samples.push_back(Sample {
            at: sent,
            value,
            teleport,
        });
        while self.samples.len() > self.cfg.capacity {
            self.samples.pop_front();
        }
    }

    /// The current presentation delay: one send interval plus a margin for jitter.
    pub fn delay(&self) -> Duration {
        let d = self.interval + self.cfg.jitter_factor * self.jitter;
        Duration::from_secs_f64(d.max(0.0)).clamp(self.cfg.min_delay, self.cfg.max_delay)
    }

    /// The sender-clock time presented at local time `now`.
    pub fn presented_time(&self, now: Duration) -> Option<Duration> {
        let t = now.as_secs_f64() - self.offset? - self.delay().as_secs_f64();
        Some(Duration::from_secs_f64(t.max(0.0)))
    }

    /// The value to render at local time `now`, if any sample arrived yet.
    pub fn sample(&self, now: Duration) -> Option<T> {
        let t = self.presented_time(now)?.as_secs_f64();
        let first = self.samples.front()?;
        if t <= first.at {
            return Some(first.value.clone());
        }
        let pairs = self.samples.iter().zip(self.samples.iter().skip(1));
        for (a, b) in pairs {
            if t <= b.at {
                if b.teleport {
                    return Some(a.value.clone());
                }
                let f = ((t - a.at) / (b.at - a.at)) as f32;
                return Some(a.value.interpolate(&b.value, f));
            }
        }
        // Past the newest sample: extrapolate along the last motion, for a bounded time.
        let last = self.samples.back()?;
        let Some(prev) = self.samples.iter().rev().nth(1) else {
            return Some(last.value.clone());
        };
        if last.teleport {
            return Some(last.value.clone());
        }
        let ahead = (t - last.at).min(self.cfg.max_extrapolation.as_secs_f64());
        let f = 1.0 + (ahead / (last.at - prev.at)) as f32;
        Some(prev.value.interpolate(&last.value, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// A sender moving at 1 unit/s, sending every 33 ms; arrivals 40 ms later plus jitter.
    fn feed(buf: &mut InterpolationBuffer<f32>, jitter: &[u64]) {
        for (i, j) in jitter.iter().enumerate() {
            let sent = ms(33 * i as u64);
            buf.push(sent, sent + ms(40 + j), sent.as_secs_f32(), false);
        }
    }

    #[test]
    fn a_capacity_below_two_is_refused_with_its_field() {
        let err = InterpolationBuffer::<f32>::new(InterpConfig::default().capacity(1)).unwrap_err();
        assert!(err.to_string().contains("capacity"), "{err}");
        assert_eq!(err, InterpConfig::default().capacity(1).validate().unwrap_err());
        // Two samples are enough to blend, and the buffer keeps no more.
        let mut buf = InterpolationBuffer::new(InterpConfig::default().capacity(2)).unwrap();
        for i in 0..5u32 {
            buf.push(ms(u64::from(i) * 50), ms(u64::from(i) * 50 + 30), i as f32, false);
        }
        assert_eq!(buf.samples.len(), 2);
        buf.clear();
        assert!(buf.samples.is_empty() && buf.offset.is_none());
        assert_eq!(buf.cfg.capacity, 2, "the tuning stays");
    }

    #[test]
    fn smooth_under_jitter_and_delay_adapts() {
        let calm: Vec<u64> = vec![0; 60];
        let rough: Vec<u64> = (0..60).map(|i| (i * 37 % 41) as u64).collect();
        let mut a = InterpolationBuffer::default();
        let mut b = InterpolationBuffer::default();
        feed(&mut a, &calm);
        feed(&mut b, &rough);
        assert!(
            b.delay() > a.delay(),
            "more jitter, more delay: {:?} vs {:?}",
            b.delay(),
            a.delay()
        );
    }

    #[test]
    fn adaptive_delay_rarely_needs_extrapolation() {
        // Arrivals with up to 40 ms of jitter, rendered every 5 ms as they come in.
        let jitter: Vec<u64> = (0..300).map(|i| (i * 37 % 41) as u64).collect();
        let arrivals: Vec<(Duration, Duration)> = jitter
            .iter()
            .enumerate()
            .map(|(i, j)| (ms(33 * i as u64), ms(33 * i as u64 + 40 + j)))
            .collect();
        let mut buf = InterpolationBuffer::default();
        let (mut frames, mut beyond, mut next) = (0, 0, 0);
        let mut pending: Vec<(Duration, Duration)> = Vec::new();
        for step in 0..2000u64 {
            let now = ms(step * 5);
            while next < arrivals.len() && arrivals[next].1 <= now {
                pending.push(arrivals[next]);
                next += 1;
            }
            pending.sort();
            for (sent, arrived) in pending.drain(..) {
                buf.push(sent, arrived, sent.as_secs_f32(), false);
            }
            if step < 400 || next == arrivals.len() {
                continue; // warm-up, and the end of the stream
            }
            frames += 1;
            let t = buf.presented_time(now).unwrap().as_secs_f64();
            if t > buf.samples.back().unwrap().at {
                beyond += 1;
            }
            let v = buf.sample(now).unwrap();
            assert!((f64::from(v) - t).abs() < 1e-3, "rendered {v} at presented time {t}");
        }
        assert!(frames > 500);
        assert!(beyond * 100 <= frames * 2, "{beyond} of {frames} frames extrapolated");
    }

    #[test]
    fn extrapolation_is_bounded_and_teleports_snap() {
        let mut buf = InterpolationBuffer::default();
        feed(&mut buf, &[0; 10]);
        let last_sent = 33.0 * 9.0 / 1000.0;
        let far = buf.sample(ms(10_000)).unwrap();
        assert!(
            (far - (last_sent + 0.1)).abs() < 1e-3,
            "stops 100 ms past the last sample: {far}"
        );
        let mut jump = InterpolationBuffer::default();
        jump.push(ms(0), ms(40), 0.0, false);
        jump.push(ms(33), ms(73), 100.0, true);
        jump.push(ms(66), ms(106), 100.0, false);
        // Halfway between the samples around the teleport: no smear towards 100.
        let half = jump.presented_time(ms(73)).unwrap();
        assert!(half < ms(33));
        assert_eq!(jump.sample(ms(73)), Some(0.0));
        // Late and duplicate samples are ignored.
        jump.push(ms(33), ms(200), -5.0, false);
        assert_eq!(jump.samples.len(), 3);
    }
}
