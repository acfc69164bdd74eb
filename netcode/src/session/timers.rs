//! The session's own deadlines: when it next sends heartbeats, flushes reliable messages
//! and (as host) dials a former member, when the roster last changed and when it last asked
//! to be let back in. [`Timers::next_due`] tells a driver how long it may wait.

use std::time::Duration;

/// Longest wait [`Timers::next_due`] allows: links need their keep-alives and resends,
/// and failures are noticed by looking at the clock (milliseconds matter there).
pub(super) const MAX_IDLE: Duration = Duration::from_millis(20);

/// The session's timers (session time).
#[derive(Debug, Clone)]
pub(super) struct Timers {
    /// When heartbeats next go out (each link also keeps its own cadence).
    pub(super) heartbeat: Duration,
    /// When every link with reliable messages in flight is next flushed.
    pub(super) reliable_flush: Duration,
    /// When the host next dials a former member.
    pub(super) reunite: Duration,
    /// When the roster last changed (the digest rides every heartbeat for a while).
    pub(super) roster_changed: Duration,
    /// When this peer last asked to be let back in.
    pub(super) rejoin_asked: Option<Duration>,
}

/// Which of the timers run in the session's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Running {
    /// Joining until this deadline, or leaving until it.
    Until(Duration),
    /// A member (`true`: the host).
    Member { host: bool },
    /// Nothing to do but receive.
    Idle,
}

impl Timers {
    /// Every timer due at `now`.
    pub(super) fn new(now: Duration) -> Self {
        Timers {
            heartbeat: now,
            reliable_flush: now,
            reunite: now,
            roster_changed: now,
            rejoin_asked: None,
        }
    }

    /// When the session next needs `update` if no datagram arrives before: the earliest
    /// running timer, and never later than [`MAX_IDLE`] after `now`.
    pub(super) fn next_due(&self, now: Duration, running: Running) -> Duration {
        let cap = now + MAX_IDLE;
        let due = match running {
            Running::Until(deadline) => deadline,
            Running::Member { host } => {
                let reunite = if host { self.reunite } else { cap };
                self.heartbeat.min(self.reliable_flush).min(reunite)
            }
            Running::Idle => cap,
        };
        due.clamp(now, cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn timers() -> Timers {
        let mut t = Timers::new(Duration::ZERO);
        (t.heartbeat, t.reliable_flush, t.reunite) = (100 * MS, 105 * MS, 98 * MS);
        t
    }

    #[test]
    fn a_member_waits_for_its_earliest_timer_the_host_also_for_reunions() {
        let t = timers();
        let now = 90 * MS;
        assert_eq!(t.next_due(now, Running::Member { host: false }), 100 * MS);
        assert_eq!(t.next_due(now, Running::Member { host: true }), 98 * MS);
    }

    #[test]
    fn waits_are_capped_and_never_in_the_past() {
        let t = timers();
        assert_eq!(t.next_due(Duration::ZERO, Running::Member { host: false }), MAX_IDLE);
        assert_eq!(
            t.next_due(200 * MS, Running::Member { host: false }),
            200 * MS,
            "overdue: now"
        );
        assert_eq!(t.next_due(10 * MS, Running::Until(12 * MS)), 12 * MS);
        assert_eq!(t.next_due(10 * MS, Running::Until(5 * MS)), 10 * MS);
        assert_eq!(t.next_due(10 * MS, Running::Idle), 10 * MS + MAX_IDLE);
    }
}
