//! The standard game scene of the benchmarks: every peer moves its player continuously;
//! the host owns `objects` shared objects, half of them idle at any moment. Positions are
//! functions of time, so the checks know the true position at any instant.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::PeerId;
use crate::snapshot::ReplicationStats;
use crate::snapshot::delta::{Schema, Snapshot};
use crate::snapshot::interp::InterpolationBuffer;
use crate::snapshot::quant::Quant;

/// Half the arena's width: positions lie within `[-ARENA_HALF, ARENA_HALF]`.
pub const ARENA_HALF: f32 = 50.0;
/// Position resolution on the wire (1/100 unit).
pub const POSITION_STEP: f32 = 0.01;
/// Bits of an object's angle.
pub const ANGLE_BITS: u32 = 9;
/// Simulation rate of the scene: the snapshot tick rate.
pub const SIM_HZ: f64 = crate::snapshot::DEFAULT_TICK_HZ;
/// Entity kind of a player (x, y).
pub const PLAYER: u8 = 0;
/// Entity kind of a shared object (x, y, angle).
pub const OBJECT: u8 = 1;

/// The scene's schema: players and objects.
pub fn schema() -> Schema {
    let pos = Quant::new(-ARENA_HALF, ARENA_HALF, POSITION_STEP).expect("valid position range");
    let mut schema = Schema::default();
    schema.add_kind(vec![pos, pos]).expect("first kind");
    schema
        .add_kind(vec![pos, pos, Quant::angle(ANGLE_BITS).expect("valid angle bits")])
        .expect("second kind");
    schema
}

/// The scene tick at time `t`.
pub fn tick_at(t: Duration) -> u32 {
    (t.as_secs_f64() * SIM_HZ) as u32
}

/// Where player `i` is at time `t` (seconds): a circle of its own radius and speed.
pub fn player_pos(i: usize, t: f64) -> [f32; 2] {
    let radius = 15.0 + (i % 5) as f64 * 6.0;
    let omega = 0.5 + (i % 4) as f64 * 0.15;
    let phase = i as f64 * 0.7;
    let a = omega * t + phase;
    [(radius * a.cos()) as f32, (radius * a.sin()) as f32]
}

/// Object `j` at time `t`: even objects are idle, odd ones drift slowly in small circles.
pub fn object_state(j: usize, t: f64) -> [f32; 3] {
    let gx = (j % 8) as f64 * 12.0 - 42.0;
    let gy = (j / 8 % 8) as f64 * 12.0 - 42.0;
    if j.is_multiple_of(2) {
        return [gx as f32, gy as f32, 0.0];
    }
    let a = 0.3 * t + j as f64;
    [
        (gx + 3.0 * a.cos()) as f32,
        (gy + 3.0 * a.sin()) as f32,
        a.rem_euclid(std::f64::consts::TAU) as f32,
    ]
}

/// Player `i`'s own stream at `tick`.
pub fn own_snapshot(i: usize, tick: u32) -> Snapshot {
    let p = player_pos(i, f64::from(tick) / SIM_HZ);
    let mut entities = BTreeMap::new();
    if let Ok(e) = schema().entity(PLAYER, &p) {
        entities.insert(0, e);
    }
    Snapshot { tick, entities }
}

/// The first host's shared stream at `tick`: objects `0..objects`.
pub fn shared_snapshot(objects: usize, tick: u32) -> Snapshot {
    shared_snapshot_of(0..objects as u32, tick)
}

/// The shared stream at `tick` of the objects `ids` (a new host moves on the objects its
/// replica holds, with their ids).
pub fn shared_snapshot_of(ids: impl IntoIterator<Item = u32>, tick: u32) -> Snapshot {
    let schema = schema();
    let t = f64::from(tick) / SIM_HZ;
    let entities = ids
        .into_iter()
        .filter_map(|id| Some((id, schema.entity(OBJECT, &object_state(id as usize, t)).ok()?)))
        .collect();
    Snapshot { tick, entities }
}

/// The naive way to send the same: every entity in full, as bincode, every send tick.
#[derive(Serialize)]
struct NaiveEntity {
    id: u32,
    kind: u8,
    x: f32,
    y: f32,
    angle: f32,
}

/// Player `i`'s naive entity at time `t`.
fn naive_player(i: usize, t: f64) -> NaiveEntity {
    let p = player_pos(i, t);
    NaiveEntity {
        id: 0,
        kind: PLAYER,
        x: p[0],
        y: p[1],
        angle: 0.0,
    }
}

/// The naive entities of `objects` shared objects at time `t`.
fn naive_objects(objects: usize, t: f64) -> impl Iterator<Item = NaiveEntity> {
    (0..objects).map(move |j| {
        let s = object_state(j, t);
        NaiveEntity {
            id: j as u32,
            kind: OBJECT,
            x: s[0],
            y: s[1],
            angle: s[2],
        }
    })
}

/// Bytes of one naive message: the scene tick at `t` and `entities`, as bincode.
fn naive_message(entities: &[NaiveEntity], t: f64) -> usize {
    let tick = (t * SIM_HZ) as u32;
    bincode::serde::encode_to_vec((tick, entities), bincode::config::standard()).map_or(0, |v| v.len())
}

/// Bytes of the naive full bincode snapshot of a peer's streams (its player, and the
/// shared objects when `objects` is given) in one message.
pub fn naive_bytes(i: usize, objects: Option<usize>, t: f64) -> usize {
    let mut all = vec![naive_player(i, t)];
    all.extend(naive_objects(objects.unwrap_or(0), t));
    naive_message(&all, t)
}

/// Bytes of the naive own stream of player `i` alone (one full bincode message).
pub fn naive_own_bytes(i: usize, t: f64) -> usize {
    naive_message(&[naive_player(i, t)], t)
}

/// Bytes of the naive shared stream of `objects` objects alone (one full bincode message).
pub fn naive_shared_bytes(objects: usize, t: f64) -> usize {
    naive_message(&naive_objects(objects, t).collect::<Vec<_>>(), t)
}

/// Distance between a copy `seen` of shared object `j` and the object's true position at
/// time `t` (seconds), in percent of the arena width; `None` for an idle object (it never
/// moves, so it is left out of the error figures). The one definition of the object error,
/// used by the simulator and by the `vs_replicon` bench alike.
pub fn object_error_pct(j: usize, seen: [f32; 2], t: f64) -> Option<f32> {
    if j.is_multiple_of(2) {
        return None;
    }
    let truth = object_state(j, t);
    let d = ((seen[0] - truth[0]).powi(2) + (seen[1] - truth[1]).powi(2)).sqrt();
    Some(d / (2.0 * ARENA_HALF) * 100.0)
}

/// What one observer holds of one remote player: the newest tick it saw, and its buffer.
type Track = (u32, InterpolationBuffer<[f32; 2]>);

/// What the scene measures beyond the session's own counters.
#[derive(Debug)]
pub struct ArenaMeasure {
    /// Naive bytes that would have been sent: a peer's streams in one full message to every
    /// other member at each of its base heartbeats (the send rate).
    pub naive_bytes: u64,
    /// Naive bytes at the same per-stream rates as ours: one full message of a stream each
    /// time our session sent that stream to a peer (own stream at each heartbeat of that
    /// link, shared stream at each of its shared sends).
    pub naive_same_rate_bytes: u64,
    /// Stream messages (own, shared) each session had sent when last counted, by address
    /// (a restarted process has a new one and counts from zero).
    streams_counted: BTreeMap<SocketAddr, (u64, u64)>,
    schema: Schema,
    /// Rendered-versus-true distance of remote players, in percent of the arena width.
    pub interp_errors_pct: Vec<f32>,
    /// Distance between a peer's latest copy of a moving shared object and the object's
    /// true position at that instant (latency and spreading included), in percent of the
    /// arena width.
    pub object_errors_pct: Vec<f32>,
    buffers: BTreeMap<(usize, PeerId), Track>,
}

impl Default for ArenaMeasure {
    fn default() -> Self {
        ArenaMeasure {
            naive_bytes: 0,
            naive_same_rate_bytes: 0,
            streams_counted: BTreeMap::new(),
            schema: schema(),
            interp_errors_pct: Vec::new(),
            object_errors_pct: Vec::new(),
            buffers: BTreeMap::new(),
        }
    }
}

impl ArenaMeasure {
    /// Feeds what observer `at` received from `peer` (node `peer_index`).
    pub(crate) fn receive(&mut self, at: usize, peer: PeerId, snapshot: &Snapshot, now: Duration) {
        let Some(e) = snapshot.entities.get(&0) else { return };
        let Ok(&[x, y]) = self.schema.values(e).as_deref() else {
            return;
        };
        let entry = self
            .buffers
            .entry((at, peer))
            .or_insert_with(|| (u32::MAX, InterpolationBuffer::default()));
        if entry.0 != snapshot.tick {
            entry.0 = snapshot.tick;
            let sent = Duration::from_secs_f64(f64::from(snapshot.tick) / SIM_HZ);
            entry.1.push(sent, now, [x, y], false);
        }
    }

    /// Adds the naive cost of the stream messages that node `i` (at `addr`, whose
    /// replication counters are `stats`) sent since the last call, at time `t`: its player
    /// for each own-stream message, `objects` objects for each shared one.
    pub(crate) fn count_naive_same_rate(
        &mut self,
        addr: SocketAddr,
        i: usize,
        objects: usize,
        stats: ReplicationStats,
        t: f64,
    ) {
        let now = (stats.own_sent, stats.shared_sent);
        let (own, shared) = self.streams_counted.insert(addr, now).unwrap_or((0, 0));
        let (own, shared) = (now.0.saturating_sub(own), now.1.saturating_sub(shared));
        if own > 0 {
            self.naive_same_rate_bytes += own * naive_own_bytes(i, t) as u64;
        }
        if shared > 0 {
            self.naive_same_rate_bytes += shared * naive_shared_bytes(objects, t) as u64;
        }
    }

    /// Renders observer `at`'s view of `peer` (node `peer_index`) at `now` and records the
    /// error against the true position at the presented time.
    pub(crate) fn render(&mut self, at: usize, peer: PeerId, peer_index: usize, now: Duration) {
        let Some((_, buf)) = self.buffers.get(&(at, peer)) else {
            return;
        };
        let (Some(shown), Some(t)) = (buf.sample(now), buf.presented_time(now)) else {
            return;
        };
        let truth = player_pos(peer_index, t.as_secs_f64());
        let d = ((shown[0] - truth[0]).powi(2) + (shown[1] - truth[1]).powi(2)).sqrt();
        self.interp_errors_pct.push(d / (2.0 * ARENA_HALF) * 100.0);
    }

    /// Compares a peer's copy of the shared objects with the truth at `now`.
    pub(crate) fn objects(&mut self, shared: &Snapshot, now: Duration) {
        let t = now.as_secs_f64();
        for (id, e) in &shared.entities {
            let Ok(&[x, y, _]) = self.schema.values(e).as_deref() else {
                continue;
            };
            if let Some(error) = object_error_pct(*id as usize, [x, y], t) {
                self.object_errors_pct.push(error);
            }
        }
    }

    /// The 99th percentile rendered-player error, in percent of the arena width.
    pub fn interp_error_p99_pct(&self) -> f64 {
        p99(&self.interp_errors_pct)
    }

    /// The 99th percentile shared-object error, in percent of the arena width.
    pub fn object_error_p99_pct(&self) -> f64 {
        p99(&self.object_errors_pct)
    }
}

/// The 99th percentile of `values` (0 when empty).
pub fn p99(values: &[f32]) -> f64 {
    let mut v = values.to_vec();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    f64::from(v[((v.len() - 1) as f64 * 0.99).round() as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Message, TickAck};
    use crate::snapshot::delta::encode;

    /// What a datagram pays beside its message: netcode's prefix byte, a 2-byte sequence
    /// (256 to 65 535 packets on the link) and the 16-byte MAC (the raw-datagram mark is a
    /// bit of the heartbeat frame's first byte).
    const DATAGRAM_BYTES: usize = 1 + 2 + 16;

    #[test]
    fn deltas_beat_naive_on_the_shared_stream_but_not_on_a_lone_player() {
        // The figures docs/figures.md gives for "what our bytes are".
        let (schema, tick) = (schema(), 600);
        let t = f64::from(tick) / SIM_HZ;
        assert_eq!(naive_shared_bytes(64, t), 900);
        assert_eq!(naive_own_bytes(3, t), 18);
        // 100 ms (6 ticks) of drift of the 32 moving objects: about a seventh of naive.
        let shared = encode(
            &schema,
            &shared_snapshot(64, tick + 6),
            Some(&shared_snapshot(64, tick)),
        );
        let shared = shared.expect("encodes").len();
        assert!((110..=130).contains(&shared), "shared delta {shared} bytes");
        // A player after 4 ticks (a host link's ack age): about 10 bytes.
        for i in 0..8 {
            let own = encode(&schema, &own_snapshot(i, tick + 4), Some(&own_snapshot(i, tick)));
            let own = own.expect("encodes");
            assert!((8..=10).contains(&own.len()), "player {i}: {} bytes", own.len());
            let heartbeat = Message::Heartbeat {
                digest: None,
                suspects: Vec::new(),
                acks: [Some(TickAck::of(tick)); 2],
                held_ms: 3,
                own: Some(own.clone()),
                shared: None,
            };
            let fields = heartbeat.encode_heartbeat().expect("encodes").len() - own.len();
            assert_eq!(fields, 7, "heartbeat frame fields around the snapshot");
            let as_message = heartbeat.encode().expect("encodes").len() - own.len();
            assert_eq!(as_message, 13, "the same as a plain message (the frame before)");
            // The datagram alone costs more than the naive message of the whole player.
            assert!(DATAGRAM_BYTES + fields > naive_own_bytes(i, t));
        }
    }
}
