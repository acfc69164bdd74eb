//! Delta snapshots: each sender encodes against the last snapshot *that receiver*
//! acknowledged, falling back to a full snapshot; unchanged entities are not sent at all,
//! changed ones send only their changed fields.
//!
//! Wire layout (bit-packed with [`BitWriter`]): tick (32), baseline flag (1) and baseline
//! tick (32), count of listed entities (16), then per entity its id (32), a new-entity flag
//! (1) with its kind (8) when new, and per field a changed flag (1) plus the field's code;
//! then the count of removed entities (16) and their ids (32 each).

use std::collections::{BTreeMap, VecDeque};

use thiserror::Error;

use super::quant::{BitReader, BitWriter, Quant, QuantError};

/// Snapshots a sender or receiver keeps as possible baselines.
pub const HISTORY: usize = 64;
/// Most entities one snapshot may list (changed plus removed).
pub const MAX_ENTITIES: usize = 4096;

/// Errors of snapshot decoding; none is applied, every one is counted by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SnapshotError {
    /// The bytes are not a well-formed snapshot of this schema.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// A delta against a snapshot this receiver does not hold.
    #[error("delta against unknown baseline tick {0}")]
    UnknownBaseline(u32),
    /// An entity kind the schema does not know.
    #[error("unknown entity kind {0}")]
    UnknownKind(u8),
    /// A changed field of an entity that is not in the baseline.
    #[error("entity {0} is neither new nor in the baseline")]
    UnknownEntity(u32),
    /// More entities than [`MAX_ENTITIES`].
    #[error("too many entities")]
    TooMany,
    /// Bytes left after the snapshot (beyond the last byte's padding).
    #[error("trailing bytes after snapshot")]
    Trailing,
    /// State for entities the sender does not own (shared state from a non-host).
    #[error("state for entities the sender does not own")]
    NotOwner,
}

/// The fields of each entity kind, in order, with their quantisation.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    kinds: Vec<Vec<Quant>>,
}

impl Schema {
    /// Declares a kind with its fields; returns its kind id (at most 256 kinds).
    pub fn add_kind(&mut self, fields: Vec<Quant>) -> Result<u8, QuantError> {
        let id = u8::try_from(self.kinds.len()).map_err(|_| QuantError::InvalidSpec("at most 256 entity kinds"))?;
        self.kinds.push(fields);
        Ok(id)
    }

    fn fields(&self, kind: u8) -> Result<&[Quant], SnapshotError> {
        self.kinds
            .get(usize::from(kind))
            .map(Vec::as_slice)
            .ok_or(SnapshotError::UnknownKind(kind))
    }
}

/// One entity's quantised state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityState {
    /// Its kind in the [`Schema`].
    pub kind: u8,
    /// One code per field of its kind.
    pub codes: Vec<u32>,
}

/// The replicated world at one tick.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Simulation tick.
    pub tick: u32,
    /// Entities by id.
    pub entities: BTreeMap<u32, EntityState>,
}

/// Encodes `snapshot`, as a delta against `baseline` when given.
pub fn encode(schema: &Schema, snapshot: &Snapshot, baseline: Option<&Snapshot>) -> Result<Vec<u8>, SnapshotError> {
    let mut w = BitWriter::new();
    w.write(snapshot.tick, 32);
    w.write_bool(baseline.is_some());
    w.write(baseline.map_or(0, |b| b.tick), 32);
    let changed: Vec<(&u32, &EntityState)> = snapshot
        .entities
        .iter()
        .filter(|(id, e)| baseline.and_then(|b| b.entities.get(id)) != Some(*e))
        .collect();
    let removed: Vec<u32> = baseline
        .map(|b| {
            b.entities
                .keys()
                .filter(|id| !snapshot.entities.contains_key(id))
                .copied()
                .collect()
        })
        .unwrap_or_default();
    if changed.len() + removed.len() > MAX_ENTITIES {
        return Err(SnapshotError::TooMany);
    }
    w.write(changed.len() as u32, 16);
    for (id, entity) in changed {
        let fields = schema.fields(entity.kind)?;
        let before = baseline
            .and_then(|b| b.entities.get(id))
            .filter(|b| b.kind == entity.kind);
        w.write(*id, 32);
        w.write_bool(before.is_none());
        if before.is_none() {
            w.write(u32::from(entity.kind), 8);
        }
        for (i, quant) in fields.iter().enumerate() {
            let code = entity.codes.get(i).copied().unwrap_or(0);
            let same = before.and_then(|b| b.codes.get(i)) == Some(&code);
            w.write_bool(!same);
            if !same {
                w.write(code, quant.bits());
            }
        }
    }
    w.write(removed.len() as u32, 16);
    for id in removed {
        w.write(id, 32);
    }
    Ok(w.finish())
}

/// The tick and baseline tick a snapshot's header names (to find the baseline).
pub fn peek_header(bytes: &[u8]) -> Result<(u32, Option<u32>), SnapshotError> {
    let mut r = BitReader::new(bytes);
    let tick = r.read(32)?;
    let has_baseline = r.read_bool()?;
    let baseline = r.read(32)?;
    Ok((tick, has_baseline.then_some(baseline)))
}

/// Decodes a snapshot; `baseline` must be the snapshot its header names.
pub fn decode(schema: &Schema, bytes: &[u8], baseline: Option<&Snapshot>) -> Result<Snapshot, SnapshotError> {
    let mut r = BitReader::new(bytes);
    let tick = r.read(32)?;
    let has_baseline = r.read_bool()?;
    let baseline_tick = r.read(32)?;
    let base = match (has_baseline, baseline) {
        (false, _) => None,
        (true, Some(b)) if b.tick == baseline_tick => Some(b),
        (true, _) => return Err(SnapshotError::UnknownBaseline(baseline_tick)),
    };
    let mut entities = base.map(|b| b.entities.clone()).unwrap_or_default();
    let listed = r.read(16)? as usize;
    if listed > MAX_ENTITIES {
        return Err(SnapshotError::TooMany);
    }
    for _ in 0..listed {
        let id = r.read(32)?;
        let is_new = r.read_bool()?;
        let kind = if is_new {
            u8::try_from(r.read(8)?).map_err(|_| SnapshotError::UnknownKind(u8::MAX))?
        } else {
            base.and_then(|b| b.entities.get(&id))
                .ok_or(SnapshotError::UnknownEntity(id))?
                .kind
        };
        let fields = schema.fields(kind)?;
        let before = if is_new {
            None
        } else {
            base.and_then(|b| b.entities.get(&id))
        };
        let mut codes = Vec::with_capacity(fields.len());
        for (i, quant) in fields.iter().enumerate() {
            if r.read_bool()? {
                let code = r.read(quant.bits())?;
                quant.decode(code)?;
                codes.push(code);
            } else {
                codes.push(
                    before
                        .and_then(|b| b.codes.get(i))
                        .copied()
                        .ok_or(SnapshotError::UnknownEntity(id))?,
                );
            }
        }
        entities.insert(id, EntityState { kind, codes });
    }
    let removed = r.read(16)? as usize;
    if listed + removed > MAX_ENTITIES {
        return Err(SnapshotError::TooMany);
    }
    for _ in 0..removed {
        entities.remove(&r.read(32)?);
    }
    if r.remaining_bits() >= 8 {
        return Err(SnapshotError::Trailing);
    }
    Ok(Snapshot { tick, entities })
}

/// The sending side of one link: remembers what it sent and what the receiver acknowledged.
#[derive(Debug, Default)]
pub struct DeltaSender {
    sent: VecDeque<Snapshot>,
    acked: Option<u32>,
}

impl DeltaSender {
    /// Encodes `snapshot` against the receiver's last acknowledged one (full if none is
    /// still in the history), and remembers it.
    pub fn encode(&mut self, schema: &Schema, snapshot: &Snapshot) -> Result<Vec<u8>, SnapshotError> {
        let baseline = self.acked.and_then(|t| self.sent.iter().find(|s| s.tick == t));
        let bytes = encode(schema, snapshot, baseline)?;
        self.sent.push_back(snapshot.clone());
        if self.sent.len() > HISTORY {
            self.sent.pop_front();
        }
        Ok(bytes)
    }

    /// The receiver acknowledged `tick`.
    pub fn ack(&mut self, tick: u32) {
        if self.sent.iter().any(|s| s.tick == tick) && self.acked.is_none_or(|a| tick > a) {
            self.acked = Some(tick);
        }
    }
}

/// The receiving side of one link: resolves deltas against what it received.
#[derive(Debug, Default)]
pub struct DeltaReceiver {
    received: VecDeque<Snapshot>,
}

impl DeltaReceiver {
    /// The newest tick received (what to acknowledge).
    pub fn last_tick(&self) -> Option<u32> {
        self.received.back().map(|s| s.tick)
    }

    /// Decodes a snapshot (full or delta), remembers it, and returns it; the caller
    /// acknowledges its tick to the sender.
    pub fn decode(&mut self, schema: &Schema, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let (_, baseline_tick) = peek_header(bytes)?;
        let baseline = baseline_tick.and_then(|t| self.received.iter().find(|s| s.tick == t));
        let snapshot = decode(schema, bytes, baseline)?;
        self.received.push_back(snapshot.clone());
        if self.received.len() > HISTORY {
            self.received.pop_front();
        }
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> (Schema, u8) {
        let mut s = Schema::default();
        let pos = Quant::new(-50.0, 50.0, 0.01).unwrap();
        let kind = s.add_kind(vec![pos, pos, Quant::angle(9).unwrap()]).unwrap();
        (s, kind)
    }

    fn world(tick: u32, kind: u8, moving: u32, idle: u32) -> Snapshot {
        let mut entities = BTreeMap::new();
        for id in 0..moving + idle {
            let x = if id < moving { tick * 3 + id } else { id };
            entities.insert(
                id,
                EntityState {
                    kind,
                    codes: vec![x % 10_000, id, id % 512],
                },
            );
        }
        Snapshot { tick, entities }
    }

    #[test]
    fn deltas_against_acked_baselines_round_trip_and_are_small() {
        let (schema, kind) = schema();
        let (mut tx, mut rx) = (DeltaSender::default(), DeltaReceiver::default());
        let full = tx.encode(&schema, &world(1, kind, 32, 32)).unwrap();
        assert_eq!(rx.decode(&schema, &full).unwrap(), world(1, kind, 32, 32));
        tx.ack(1);
        let delta = tx.encode(&schema, &world(2, kind, 32, 32)).unwrap();
        assert_eq!(rx.decode(&schema, &delta).unwrap(), world(2, kind, 32, 32));
        assert!(
            delta.len() * 2 < full.len(),
            "idle entities cost nothing: {} vs {}",
            delta.len(),
            full.len()
        );
        // Nothing changed at all: tick, baseline flag and tick, two counts = 97 bits.
        tx.ack(2);
        let mut same = world(2, kind, 32, 32);
        same.tick = 3;
        assert_eq!(tx.encode(&schema, &same).unwrap().len(), 13);
    }

    #[test]
    fn removed_entities_and_unknown_baselines() {
        let (schema, kind) = schema();
        let a = world(1, kind, 2, 2);
        let mut b = world(2, kind, 2, 2);
        b.entities.remove(&3);
        let bytes = encode(&schema, &b, Some(&a)).unwrap();
        assert_eq!(decode(&schema, &bytes, Some(&a)).unwrap(), b);
        assert_eq!(decode(&schema, &bytes, None), Err(SnapshotError::UnknownBaseline(1)));
        let mut rx = DeltaReceiver::default();
        assert_eq!(rx.decode(&schema, &bytes), Err(SnapshotError::UnknownBaseline(1)));
    }

    #[test]
    fn hostile_snapshots_are_errors() {
        let (schema, kind) = schema();
        let bytes = encode(&schema, &world(1, kind, 3, 0), None).unwrap();
        for n in 0..bytes.len() {
            assert!(decode(&schema, &bytes[..n], None).is_err(), "truncated at {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&schema, &longer, None), Err(SnapshotError::Trailing));
        // An out-of-range position code (beyond 10 000) is refused.
        let mut bad = world(1, kind, 1, 0);
        bad.entities.get_mut(&0).unwrap().codes[0] = 16_000;
        let bytes = encode(&schema, &bad, None).unwrap();
        assert_eq!(
            decode(&schema, &bytes, None),
            Err(SnapshotError::Quant(QuantError::OutOfRange))
        );
    }
}
