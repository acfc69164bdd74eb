//! Session configuration, and the one check of every configuration ([`ConfigError`]).

use std::time::Duration;

use thiserror::Error;

/// A configuration value that cannot work, found when the configuration is given (a
/// session, simulator or plugin is made with it), never clamped where it is used.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be above zero is zero.
    #[error("{field} must be above zero")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// A duration outside what the field allows.
    #[error("{field} must be within {min:?}..={max:?}, got {value:?}")]
    Duration {
        /// The field.
        field: &'static str,
        /// Its value.
        value: Duration,
        /// The least it may be.
        min: Duration,
        /// The most it may be.
        max: Duration,
    },
    /// A rate or size below its least value, or not a finite number.
    #[error("{field} must be a finite number of at least {min}, got {value}")]
    TooLow {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The least it may be.
        min: f64,
    },
    /// A count outside what the field allows.
    #[error("{field} must be within {min}..={max}, got {value}")]
    Count {
        /// The field.
        field: &'static str,
        /// Its value.
        value: usize,
        /// The least it may be.
        min: usize,
        /// The most it may be.
        max: usize,
    },
    /// A value that must not be below another field's (a maximum below its minimum).
    #[error("{field} ({value}) must not be below {floor} ({limit})")]
    Below {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The field it must not be below.
        floor: &'static str,
        /// That field's value.
        limit: f64,
    },
}

/// Checks that a duration is above zero.
pub(crate) fn above_zero(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        Err(ConfigError::Zero { field })
    } else {
        Ok(())
    }
}

/// Checks that a rate is a finite number of at least `min`.
pub(crate) fn at_least(field: &'static str, value: f64, min: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value >= min {
        Ok(())
    } else {
        Err(ConfigError::TooLow { field, value, min })
    }
}

/// Checks that a duration is within `min..=max`.
pub(crate) fn within(field: &'static str, value: Duration, min: Duration, max: Duration) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Duration { field, value, min, max })
    }
}

/// Checks that a count is within `min..=max`.
pub(crate) fn count(field: &'static str, value: usize, min: usize, max: usize) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Count { field, value, min, max })
    }
}

/// Checks that `value` (of `field`) is not below `limit` (of `floor`).
pub(crate) fn not_below(field: &'static str, value: f64, floor: &'static str, limit: f64) -> Result<(), ConfigError> {
    if value >= limit {
        Ok(())
    } else {
        Err(ConfigError::Below {
            field,
            value,
            floor,
            limit,
        })
    }
}

/// The most peers a session may have: renetcode's server takes at most 1024 clients.
pub const MAX_PEERS: usize = 1024;

/// Tuning of a [`crate::Session`]. Every field's default is stated in its doc. Build one
/// from [`SessionConfig::default`] and set fields (or chain the setters of the same names);
/// it is checked once, when a session is made with it ([`SessionConfig::validate`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Interval between heartbeats (which carry state). Default: 33 ms (30 Hz).
    pub heartbeat_interval: Duration,
    /// Most heartbeat packets a peer sends per second over all its links: in a large mesh
    /// the heartbeat interval stretches so that each peer's packet rate stays bounded
    /// (up to 8 peers: the full 30 Hz; 16 peers: 16 Hz; 32 peers: about 8 Hz). Default: 240.
    pub heartbeat_budget_pps: f64,
    /// Interval between heartbeats on a *side link*, one between two peers neither of which
    /// hosts, while the session is settled (nobody suspected, roster unchanged for a
    /// second). Links with the host keep `heartbeat_interval`, so a host failure is seen
    /// as fast as ever; a peer that starts suspecting anyone tells every peer at once and
    /// runs every link at the full rate until things settle. Player state on side links
    /// travels at this rate too (interpolation hides it). Default: 100 ms (10 Hz).
    pub side_heartbeat_interval: Duration,
    /// Least silence after which a peer is suspected (at least three heartbeat intervals);
    /// the effective window also adapts to the link's measured inter-arrival jitter.
    /// Default: 150 ms.
    pub suspect_after: Duration,
    /// Largest adaptive suspicion window. Default: 1 s.
    pub suspect_max: Duration,
    /// The suspicion window between the two active members of a session of two (two
    /// friends, or the two on one side of a split), where no third member can corroborate
    /// a silence: a loss burst on the one link would otherwise hand the host role back and
    /// forth (seen in the simulator: 4 to 5 host changes a minute at 1 % loss with bursts).
    /// The cost: the survivor of a session of two hosts this much later. Default: 3 s.
    pub pair_suspect_after: Duration,
    /// Interval between attempts to re-link with a member we have no link to. Default: 1 s.
    pub redial_interval: Duration,
    /// How long a dropped peer's seat (id, entities, score) is held. Default: 60 s.
    pub rejoin_grace: Duration,
    /// How long a leaving peer keeps flushing its last messages. Default: 300 ms.
    pub leave_linger: Duration,
    /// How long a newcomer waits for admission through one contact before trying its next
    /// (the driver gives up on the whole join after `PeerOptions::join_timeout`). Default: 3 s.
    pub contact_timeout: Duration,
    /// Netcode-level link timeout (renet itself has none). Default: 5 s.
    pub link_timeout: Duration,
    /// Lifetime of a connect token: how long one dial keeps trying, and how long a
    /// half-done handshake blocks a new one from the same address at the accepting side
    /// (renetcode keeps the first pending connection per address until its token expires).
    /// Default: 5 s.
    pub token_expire: Duration,
    /// Interval at which renet's reliable traffic (store writes, acks, resends) is flushed
    /// when nothing urgent is queued; control (roster, admission, leave) leaves at once.
    /// Heartbeats and snapshots bypass renet. Default: 100 ms.
    pub reliable_flush_interval: Duration,
    /// Renet reliable resend interval. Default: 150 ms.
    pub reliable_resend: Duration,
    /// Memory per renet channel and link, in bytes. Default: 1 MiB.
    pub channel_memory_bytes: usize,
    /// Most peers in one session. Default: 64.
    pub max_peers: usize,
    /// Least interval between two roster pushes to the same peer. Default: 200 ms.
    pub roster_push_interval: Duration,
    /// Most bytes of a peer's own snapshot stream (its player and the like) in one
    /// heartbeat. Default: 200.
    pub own_budget_bytes: usize,
    /// Most bytes of the shared snapshot stream (the host's) in one heartbeat to one peer.
    /// A world whose changes do not fit is spread over several heartbeats, round robin
    /// (entities then refresh less often). Default: 1000 (with the heartbeat itself, one
    /// datagram).
    pub shared_budget_bytes: usize,
    /// Most messages per second we decode from one peer (a token bucket); beyond, they are
    /// dropped unread and counted (`SessionStats::rate_limited`). Far above an honest peer's
    /// rate: only a flood reaches it. Default: 2000.
    pub max_messages_per_sec: f64,
    /// Burst size of that bucket. Default: 4000.
    pub max_message_burst: f64,
    /// A peer over the limit this long without recovering is dropped as misbehaving.
    /// Default: 2 s.
    pub flood_expel_after: Duration,
    /// Largest jump of the host epoch that a claim may make past the highest epoch we saw.
    /// Every host change adds one, so an honest claim, even from a side that was cut off
    /// for a long time, rises by the number of elections there; a claim beyond this is
    /// forged (it would make its author host for good) and its sender is dropped.
    /// Default: 1000.
    pub max_epoch_leap: u64,
    /// How far the date of a seat proof (a join or rejoin request, signed by the seat's key)
    /// may be from the admitting peer's clock. Together with the roster's record of each
    /// seat's last admitted proof, it keeps a proof from being replayed. Default: 60 s.
    pub seat_proof_window: Duration,
    /// After a host change, how long entries sealed by the previous host in its term are
    /// still accepted (its last writes, in flight or passed on by survivors); after that,
    /// only the current host's seal counts for shared entries. Default: 10 s.
    pub previous_term_grace: Duration,
    /// How often the host dials one former member that no longer is in its roster (round
    /// robin, one dial at a time). Two parts of a split session that dropped each other's
    /// seats find each other this way, and the better roster wins. Default: 5 s.
    pub reunite_interval: Duration,
    /// How long after a member left our roster without a goodbye the host keeps looking
    /// for it (see `reunite_interval`). Default: 10 min.
    pub reunite_window: Duration,
    /// Interval between two shared snapshots to the same peer: the host's heartbeats carry
    /// the shared stream only this often. Each one carries every change since what that
    /// peer acknowledged, so a slower rate costs freshness, never correctness; it is the
    /// knob between the host's upload and how fresh shared entities are. Default: 100 ms
    /// (10 Hz).
    pub shared_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            heartbeat_interval: Duration::from_millis(33),
            heartbeat_budget_pps: 240.0,
            side_heartbeat_interval: Duration::from_millis(100),
            suspect_after: Duration::from_millis(150),
            suspect_max: Duration::from_secs(1),
            pair_suspect_after: Duration::from_secs(3),
            redial_interval: Duration::from_secs(1),
            rejoin_grace: Duration::from_secs(60),
            leave_linger: Duration::from_millis(300),
            contact_timeout: Duration::from_secs(3),
            link_timeout: Duration::from_secs(5),
            token_expire: Duration::from_secs(5),
            reliable_flush_interval: Duration::from_millis(100),
            reliable_resend: Duration::from_millis(150),
            channel_memory_bytes: 1024 * 1024,
            max_peers: 64,
            roster_push_interval: Duration::from_millis(200),
            own_budget_bytes: 200,
            shared_budget_bytes: 1000,
            shared_interval: Duration::from_millis(100),
            max_messages_per_sec: 2000.0,
            max_message_burst: 4000.0,
            flood_expel_after: Duration::from_secs(2),
            max_epoch_leap: 1000,
            seat_proof_window: Duration::from_secs(60),
            previous_term_grace: Duration::from_secs(10),
            reunite_interval: Duration::from_secs(5),
            reunite_window: Duration::from_secs(600),
        }
    }
}

impl SessionConfig {
    /// Checks every field once: durations a timer runs on are above zero, renetcode's
    /// whole seconds are at least one, rates are finite and at least one, the peer count
    /// fits renetcode, the suspicion window's maximum is not below its minimum.
    /// [`crate::Session`]'s constructors call it; a driver's fail with its error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("heartbeat_interval", self.heartbeat_interval),
            ("side_heartbeat_interval", self.side_heartbeat_interval),
            ("suspect_after", self.suspect_after),
            ("contact_timeout", self.contact_timeout),
            ("reliable_resend", self.reliable_resend),
            ("shared_interval", self.shared_interval),
            ("redial_interval", self.redial_interval),
            ("reunite_interval", self.reunite_interval),
        ] {
            above_zero(field, value)?;
        }
        // renetcode counts both in whole seconds (a link timeout as an i32).
        let second = Duration::from_secs(1);
        within(
            "link_timeout",
            self.link_timeout,
            second,
            Duration::from_secs(i32::MAX as u64),
        )?;
        within(
            "token_expire",
            self.token_expire,
            second,
            Duration::from_secs(u32::MAX.into()),
        )?;
        at_least("heartbeat_budget_pps", self.heartbeat_budget_pps, 1.0)?;
        at_least("max_messages_per_sec", self.max_messages_per_sec, 1.0)?;
        at_least("max_message_burst", self.max_message_burst, 1.0)?;
        count("max_peers", self.max_peers, 1, MAX_PEERS)?;
        count("channel_memory_bytes", self.channel_memory_bytes, 1, usize::MAX)?;
        not_below(
            "suspect_max",
            self.suspect_max.as_secs_f64(),
            "suspect_after",
            self.suspect_after.as_secs_f64(),
        )
    }
}

/// Setters named as the fields, for a configuration built in one expression outside this
/// crate (where `#[non_exhaustive]` forbids a struct literal):
/// `SessionConfig::default().heartbeat_interval(Duration::from_millis(50))`.
macro_rules! setters {
    ($ty:ident { $($field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets `", stringify!($field), "` (see the field).")]
                #[must_use]
                pub fn $field(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

setters!(SessionConfig {
    heartbeat_interval: Duration,
    heartbeat_budget_pps: f64,
    side_heartbeat_interval: Duration,
    suspect_after: Duration,
    suspect_max: Duration,
    pair_suspect_after: Duration,
    redial_interval: Duration,
    rejoin_grace: Duration,
    leave_linger: Duration,
    contact_timeout: Duration,
    link_timeout: Duration,
    token_expire: Duration,
    reliable_flush_interval: Duration,
    reliable_resend: Duration,
    channel_memory_bytes: usize,
    max_peers: usize,
    roster_push_interval: Duration,
    own_budget_bytes: usize,
    shared_budget_bytes: usize,
    max_messages_per_sec: f64,
    max_message_burst: f64,
    flood_expel_after: Duration,
    max_epoch_leap: u64,
    seat_proof_window: Duration,
    previous_term_grace: Duration,
    reunite_interval: Duration,
    reunite_window: Duration,
    shared_interval: Duration,
});

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sim::{LinkConditions, MemoryNet, Sim, SimConfig};
    use crate::transport::{Peer, PeerOptions, TransportError};

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(SessionConfig::default().validate(), Ok(()));
        assert_eq!(PeerOptions::default().validate(), Ok(()));
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused_where_it_is_given() {
        let zero = SessionConfig::default().heartbeat_interval(Duration::ZERO);
        let expected = ConfigError::Zero {
            field: "heartbeat_interval",
        };
        assert_eq!(zero.validate(), Err(expected.clone()));
        let sim = Sim::try_new(SimConfig::default().session(zero.clone()));
        assert_eq!(sim.err(), Some(expected.clone()));
        let net = MemoryNet::with_config(1, LinkConditions::default(), zero.clone());
        assert_eq!(net.err(), Some(expected.clone()));
        let options = PeerOptions::default().bind("127.0.0.1:0".parse().unwrap()).config(zero);
        match Peer::host(options) {
            Err(TransportError::Config(e)) => assert_eq!(e, expected),
            other => panic!("expected a config error, got {:?}", other.map(|p| p.local_addr())),
        }
        let flood = SessionConfig::default().max_messages_per_sec(f64::NAN);
        assert!(
            matches!(
                flood.validate(),
                Err(ConfigError::TooLow {
                    field: "max_messages_per_sec",
                    ..
                })
            ),
            "{:?}",
            flood.validate()
        );
        let window = SessionConfig::default().suspect_max(Duration::from_millis(100));
        assert!(matches!(
            window.validate(),
            Err(ConfigError::Below {
                field: "suspect_max",
                floor: "suspect_after",
                ..
            })
        ));
        let crowd = SessionConfig::default().max_peers(MAX_PEERS + 1);
        assert!(matches!(
            crowd.validate(),
            Err(ConfigError::Count { field: "max_peers", .. })
        ));
        let timeout = SessionConfig::default().link_timeout(Duration::from_millis(500));
        let err = timeout.validate().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Duration {
                    field: "link_timeout",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("link_timeout must be within 1s..="),
            "{err}"
        );
    }
}
