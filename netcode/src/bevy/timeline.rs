//! The migration timeline: for each host change this peer saw, when the old host went
//! silent, when this peer suspected it, when it was declared gone, when the new host
//! claimed the role, and when state from the new host resumed, all in session time and
//! from the session's own events.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bevy_app::{App, PreUpdate};
use bevy_ecs::prelude::*;

use super::messages::NetEvent;
use super::{NetPeer, Step};
use crate::{PeerId, Scope, SessionEvent};

/// Host changes kept in [`MigrationTimeline`].
pub const MIGRATIONS_KEPT: usize = 8;

/// One host change, as this peer saw it (session times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The host before.
    pub old: PeerId,
    /// The host after.
    pub new: PeerId,
    /// The new host's epoch.
    pub epoch: u64,
    /// When anything last arrived here from the old host, if ever.
    pub silent: Option<Duration>,
    /// When this peer first suspected the old host (nothing direct for its window), if it
    /// did before the change (a planned handover has none).
    pub suspected: Option<Duration>,
    /// When the old host was declared gone here (its seat held, or it left), if it was.
    pub declared: Option<Duration>,
    /// When the new host's claim reached this peer.
    pub claimed: Duration,
    /// When state from the new host first arrived here (a shared snapshot or store
    /// entry; at once when this peer is the new host), once it did.
    pub resumed: Option<Duration>,
}

impl Migration {
    /// From the old host's silence (or the claim) to resumed state, once resumed.
    pub fn pause(&self) -> Option<Duration> {
        let start = self.silent.unwrap_or(self.claimed);
        self.resumed.map(|r| r.saturating_sub(start))
    }
}

/// The last [`MIGRATIONS_KEPT`] host changes, newest last.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationTimeline {
    /// The host changes, oldest first.
    pub migrations: VecDeque<Migration>,
    /// The host this peer suspects now, and since when.
    suspected: Option<(PeerId, Duration)>,
    /// Members declared gone lately, and when (a change may follow in a later frame).
    declared: BTreeMap<PeerId, Duration>,
}

pub(super) fn build(app: &mut App) {
    app.init_resource::<MigrationTimeline>()
        .add_systems(PreUpdate, track.in_set(Step::Poll).after(super::session::Received))
        .add_systems(
            PreUpdate,
            (|mut t: ResMut<MigrationTimeline>| *t = MigrationTimeline::default()).run_if(resource_removed::<NetPeer>),
        );
}

/// Follows suspicion, declarations, claims and resumed state.
fn track(net: Res<NetPeer>, mut events: MessageReader<NetEvent>, mut timeline: ResMut<MigrationTimeline>) {
    let session = net.session();
    let now = net.now();
    let host = session.current_host().filter(|h| *h != session.peer_id());
    if let Some(h) = host
        && session.suspected().contains(&h)
        && timeline.suspected.is_none_or(|(p, _)| p != h)
    {
        timeline.suspected = Some((h, now));
    }
    for NetEvent(event) in events.read() {
        match event {
            SessionEvent::PeerAway { peer } | SessionEvent::PeerLeft { peer, .. } => {
                if let Some(m) = timeline
                    .migrations
                    .iter_mut()
                    .rev()
                    .find(|m| m.old == *peer && m.declared.is_none())
                {
                    m.declared = Some(now);
                } else {
                    timeline.declared.insert(*peer, now);
                }
            }
            SessionEvent::HostChanged { old, new, epoch } => {
                let suspected = timeline.suspected.filter(|(p, _)| p == old).map(|(_, t)| t);
                let declared = timeline.declared.remove(old);
                let resumed = (*new == session.peer_id()).then_some(now);
                timeline.migrations.push_back(Migration {
                    old: *old,
                    new: *new,
                    epoch: *epoch,
                    silent: session.last_heard(*old).filter(|_| *old != session.peer_id()),
                    suspected,
                    declared,
                    claimed: now,
                    resumed,
                });
                while timeline.migrations.len() > MIGRATIONS_KEPT {
                    timeline.migrations.pop_front();
                }
                timeline.suspected = None;
            }
            SessionEvent::StoreChanged {
                scope: Scope::Shared, ..
            } => resume(&mut timeline, session.current_host(), now),
            _ => {}
        }
    }
    if let Some((origin, _)) = session.shared_state() {
        resume(&mut timeline, Some(origin), now);
    }
    timeline
        .declared
        .retain(|_, t| now.saturating_sub(*t) < Duration::from_secs(60));
}

/// Marks the newest change to `from` resumed, if it was not yet.
fn resume(timeline: &mut MigrationTimeline, from: Option<PeerId>, now: Duration) {
    if let Some(m) = timeline.migrations.back_mut()
        && m.resumed.is_none()
        && Some(m.new) == from
    {
        m.resumed = Some(now);
    }
}
