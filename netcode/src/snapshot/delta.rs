//! Delta snapshots: each sender encodes against the last snapshot *that receiver*
//! acknowledged, falling back to a full snapshot; unchanged entities are not sent at all,
//! changed ones send only their changed fields.
//!
//! The wire layout is documented on [`encode`].

use std::collections::{BTreeMap, VecDeque};

use thiserror::Error;

use super::quant::{BitReader, BitWriter, Quant, QuantError};

/// Snapshots a sender or receiver keeps as possible baselines.
pub const HISTORY: usize = 64;
/// Most entities one snapshot may list (changed plus removed).
pub const MAX_ENTITIES: usize = 4096;

/// Errors of snapshot decoding; none is applied, every one is counted by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes are not a well-formed snapshot of this schema.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// A delta against a snapshot this receiver does not hold (its tick's low 16 bits).
    #[error("delta against unknown baseline tick {0} (low 16 bits)")]
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
    /// A delta where only a full snapshot may come (the reliable full shared snapshot).
    #[error("a delta where a full snapshot was due")]
    NotFull,
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

    /// Quantises one entity's field values (in the order its kind declared them) into
    /// the state a snapshot carries: games never handle codes themselves.
    pub fn entity(&self, kind: u8, values: &[f32]) -> Result<EntityState, SnapshotError> {
        let fields = self.fields(kind)?;
        if values.len() != fields.len() {
            return Err(SnapshotError::Quant(QuantError::InvalidSpec(
                "one value per field of the kind",
            )));
        }
        let codes = fields.iter().zip(values).map(|(q, v)| q.encode(*v)).collect();
        Ok(EntityState { kind, codes })
    }

    /// The field values of a received entity (each within half a step of what was sent).
    pub fn values(&self, entity: &EntityState) -> Result<Vec<f32>, SnapshotError> {
        let fields = self.fields(entity.kind)?;
        fields
            .iter()
            .zip(&entity.codes)
            .map(|(q, c)| q.decode(*c).map_err(SnapshotError::from))
            .collect()
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

/// Bits of a small signed change of a field against its baseline value.
const SMALL_DELTA_BITS: u32 = 6;
/// Widths of an id gap or a count, chosen by a 2-bit selector.
const GAP_WIDTHS: [u32; 4] = [4, 8, 16, 32];

/// Writes a non-negative number in the narrowest of [`GAP_WIDTHS`].
fn write_gap(w: &mut BitWriter, n: u32) {
    let sel = GAP_WIDTHS.iter().position(|b| *b == 32 || n < (1 << b)).unwrap_or(3);
    w.write(sel as u32, 2);
    w.write(n, GAP_WIDTHS[sel]);
}

fn read_gap(r: &mut BitReader<'_>) -> Result<u32, SnapshotError> {
    let sel = r.read(2)? as usize;
    Ok(r.read(GAP_WIDTHS[sel])?)
}

/// Sorted ids as gaps from the previous one.
fn write_ids(w: &mut BitWriter, ids: impl Iterator<Item = u32>) {
    let mut next = 0u32;
    for id in ids {
        write_gap(w, id - next);
        next = id.saturating_add(1);
    }
}

fn read_id(r: &mut BitReader<'_>, next: &mut u32) -> Result<u32, SnapshotError> {
    let id = next
        .checked_add(read_gap(r)?)
        .ok_or(SnapshotError::Quant(QuantError::OutOfRange))?;
    *next = id.saturating_add(1);
    Ok(id)
}

/// Encodes `snapshot`, as a delta against `baseline` when given (a baseline more than
/// 65 535 ticks old is ignored: full snapshot).
///
/// Layout (bit-packed): a baseline flag (1); then for a delta the baseline's tick by its
/// low 16 bits and the snapshot's age over it (a gap), for a full snapshot the tick (32);
/// the count of
/// listed entities; per listed entity its id (as a gap from the previous id), a new-entity
/// flag with its kind (8) when new, and per field a changed flag, then either a small
/// change against the baseline (flag + 6 bits) or the full code; the count of removed
/// entities and their ids (gaps). Counts and gaps take 2 + 4, 8, 16 or 32 bits.
pub fn encode(schema: &Schema, snapshot: &Snapshot, baseline: Option<&Snapshot>) -> Result<Vec<u8>, SnapshotError> {
    let baseline = baseline.filter(|b| snapshot.tick.wrapping_sub(b.tick) <= u32::from(u16::MAX));
    let mut w = BitWriter::new();
    w.write_bool(baseline.is_some());
    match baseline {
        Some(b) => {
            w.write(b.tick & u32::from(u16::MAX), 16);
            write_gap(&mut w, snapshot.tick.wrapping_sub(b.tick));
        }
        None => w.write(snapshot.tick, 32),
    }
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
    write_gap(&mut w, changed.len() as u32);
    let mut next = 0u32;
    for (id, entity) in changed {
        let fields = schema.fields(entity.kind)?;
        let before = baseline
            .and_then(|b| b.entities.get(id))
            .filter(|b| b.kind == entity.kind);
        write_gap(&mut w, id - next);
        next = id.saturating_add(1);
        w.write_bool(before.is_none());
        if before.is_none() {
            w.write(u32::from(entity.kind), 8);
        }
        for (i, quant) in fields.iter().enumerate() {
            let code = entity.codes.get(i).copied().unwrap_or(0);
            let old = before.and_then(|b| b.codes.get(i)).copied();
            w.write_bool(old != Some(code));
            if old == Some(code) {
                continue;
            }
            if let Some(old) = old {
                let delta = i64::from(code) - i64::from(old);
                let half = 1i64 << (SMALL_DELTA_BITS - 1);
                let small = (-half..half).contains(&delta);
                w.write_bool(small);
                if small {
                    w.write((delta + half) as u32, SMALL_DELTA_BITS);
                    continue;
                }
            }
            w.write(code, quant.bits());
        }
    }
    write_gap(&mut w, removed.len() as u32);
    write_ids(&mut w, removed.into_iter());
    Ok(w.finish())
}

/// Bits an entity's entry costs at most (id gap at its widest, flags, kind, fields).
fn entity_bits(fields: &[Quant], entity: &EntityState, before: Option<&EntityState>) -> usize {
    let mut bits = 2 + 32 + 1 + if before.is_none() { 8 } else { 0 };
    for (i, quant) in fields.iter().enumerate() {
        let code = entity.codes.get(i).copied().unwrap_or(0);
        let old = before.and_then(|b| b.codes.get(i)).copied();
        bits += 1;
        if old == Some(code) {
            continue;
        }
        let small = old.is_some_and(|o| (i64::from(code) - i64::from(o)).abs() < 1 << (SMALL_DELTA_BITS - 1));
        bits += match (old, small) {
            (Some(_), true) => 1 + SMALL_DELTA_BITS as usize,
            (Some(_), false) => 1 + quant.bits() as usize,
            (None, _) => quant.bits() as usize,
        };
    }
    bits
}

/// The result of [`encode_within`].
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The wire bytes.
    pub bytes: Vec<u8>,
    /// What the receiver will hold after decoding them: the baseline plus the entities that
    /// fitted. A sender must remember this as sent.
    pub effective: Snapshot,
    /// Where the next round robin starts: after the last entity that fitted, or 0 when
    /// everything did.
    pub next_start: u32,
}

/// Encodes within `max_bytes` (the header and the removed ids always go, so a budget
/// smaller than they are is exceeded by them alone): when `snapshot` differs from
/// `baseline` in more than fits, the changed entities from id `start` on (wrapping around)
/// go first and the rest wait for a later tick.
pub fn encode_within(
    schema: &Schema,
    snapshot: &Snapshot,
    baseline: Option<&Snapshot>,
    max_bytes: usize,
    start: u32,
) -> Result<Encoded, SnapshotError> {
    let baseline = baseline.filter(|b| snapshot.tick.wrapping_sub(b.tick) <= u32::from(u16::MAX));
    let base_entities = baseline.map(|b| b.entities.clone()).unwrap_or_default();
    let removed = base_entities
        .keys()
        .filter(|id| !snapshot.entities.contains_key(id))
        .count();
    // Header, two counts, removed ids: all at their widest.
    let mut budget = (max_bytes * 8).saturating_sub(1 + 16 + 34 + 2 * 34 + removed * 34);
    let changed = snapshot.entities.range(start..).chain(snapshot.entities.range(..start));
    let mut effective = Snapshot {
        tick: snapshot.tick,
        entities: base_entities,
    };
    effective.entities.retain(|id, _| snapshot.entities.contains_key(id));
    let mut next_start = 0;
    for (&id, entity) in changed {
        let before = baseline
            .and_then(|b| b.entities.get(&id))
            .filter(|b| b.kind == entity.kind);
        if before == Some(entity) {
            continue;
        }
        let cost = entity_bits(schema.fields(entity.kind)?, entity, before);
        if cost > budget {
            next_start = id;
            break;
        }
        budget -= cost;
        effective.entities.insert(id, entity.clone());
    }
    let bytes = encode(schema, &effective, baseline)?;
    Ok(Encoded {
        bytes,
        effective,
        next_start,
    })
}

/// What a snapshot's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A full snapshot of `tick`.
    Full {
        /// Its tick.
        tick: u32,
    },
    /// A delta against the baseline whose tick ends in `baseline_low`, `age` ticks newer.
    Delta {
        /// The baseline's tick, low 16 bits.
        baseline_low: u16,
        /// Ticks from the baseline to this snapshot.
        age: u32,
    },
}

impl Header {
    /// Whether `tick` is the baseline this header names (a full snapshot names none).
    pub fn names_baseline(&self, tick: u32) -> bool {
        matches!(self, Header::Delta { baseline_low, .. } if tick as u16 == *baseline_low)
    }
}

fn read_header(r: &mut BitReader<'_>) -> Result<Header, SnapshotError> {
    Ok(if r.read_bool()? {
        let baseline_low = r.read(16)? as u16;
        let age = read_gap(r)?;
        if age > u32::from(u16::MAX) {
            return Err(SnapshotError::Quant(QuantError::OutOfRange));
        }
        Header::Delta { baseline_low, age }
    } else {
        Header::Full { tick: r.read(32)? }
    })
}

/// Reads a snapshot's header (to find its baseline).
pub fn peek_header(bytes: &[u8]) -> Result<Header, SnapshotError> {
    read_header(&mut BitReader::new(bytes))
}

/// Decodes a snapshot; `baseline` must be the snapshot its header names.
pub fn decode(schema: &Schema, bytes: &[u8], baseline: Option<&Snapshot>) -> Result<Snapshot, SnapshotError> {
    let mut r = BitReader::new(bytes);
    let (tick, base) = match read_header(&mut r)? {
        Header::Full { tick } => (tick, None),
        Header::Delta { baseline_low, age } => match baseline {
            Some(b) if b.tick as u16 == baseline_low => (b.tick.wrapping_add(age), Some(b)),
            _ => return Err(SnapshotError::UnknownBaseline(u32::from(baseline_low))),
        },
    };
    let mut entities = base.map(|b| b.entities.clone()).unwrap_or_default();
    let listed = read_gap(&mut r)? as usize;
    if listed > MAX_ENTITIES {
        return Err(SnapshotError::TooMany);
    }
    let mut next = 0u32;
    for _ in 0..listed {
        let id = read_id(&mut r, &mut next)?;
        let is_new = r.read_bool()?;
        let before = if is_new {
            None
        } else {
            base.and_then(|b| b.entities.get(&id))
        };
        let kind = match (is_new, before) {
            (true, _) => u8::try_from(r.read(8)?).map_err(|_| SnapshotError::UnknownKind(u8::MAX))?,
            (false, Some(b)) => b.kind,
            (false, None) => return Err(SnapshotError::UnknownEntity(id)),
        };
        let fields = schema.fields(kind)?;
        let mut codes = Vec::with_capacity(fields.len());
        for (i, quant) in fields.iter().enumerate() {
            let old = before.and_then(|b| b.codes.get(i)).copied();
            let code = match (r.read_bool()?, old) {
                (false, Some(old)) => old,
                (false, None) => return Err(SnapshotError::UnknownEntity(id)),
                (true, Some(old)) if r.read_bool()? => {
                    let half = 1i64 << (SMALL_DELTA_BITS - 1);
                    let delta = i64::from(r.read(SMALL_DELTA_BITS)?) - half;
                    u32::try_from(i64::from(old) + delta).map_err(|_| QuantError::OutOfRange)?
                }
                (true, _) => r.read(quant.bits())?,
            };
            quant.decode(code)?;
            codes.push(code);
        }
        entities.insert(id, EntityState { kind, codes });
    }
    let removed = read_gap(&mut r)? as usize;
    if listed + removed > MAX_ENTITIES {
        return Err(SnapshotError::TooMany);
    }
    let mut next = 0u32;
    for _ in 0..removed {
        let id = read_id(&mut r, &mut next)?;
        entities.remove(&id);
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
    next_start: u32,
    /// Tick of a full snapshot sent reliably and not yet acknowledged.
    pending_full: Option<u32>,
}

impl DeltaSender {
    /// Encodes `snapshot` against the receiver's last acknowledged one (full if none is
    /// still in the history), and remembers it.
    pub fn encode(&mut self, schema: &Schema, snapshot: &Snapshot) -> Result<Vec<u8>, SnapshotError> {
        self.encode_within(schema, snapshot, usize::MAX / 16)
    }

    /// Like [`DeltaSender::encode`], within `max_bytes`: what does not fit waits, and the
    /// next call starts after the last entity that fitted, so every entity gets its turn.
    pub fn encode_within(
        &mut self,
        schema: &Schema,
        snapshot: &Snapshot,
        max_bytes: usize,
    ) -> Result<Vec<u8>, SnapshotError> {
        let baseline = self.acked.and_then(|t| self.sent.iter().find(|s| s.tick == t));
        let encoded = encode_within(schema, snapshot, baseline, max_bytes, self.next_start)?;
        self.next_start = encoded.next_start;
        self.sent.push_back(encoded.effective);
        if self.sent.len() > HISTORY {
            self.sent.pop_front();
        }
        Ok(encoded.bytes)
    }

    /// Encodes `snapshot` whole, for a reliable channel, and remembers it: deltas follow
    /// against it once the receiver acknowledges it.
    pub fn encode_full(&mut self, schema: &Schema, snapshot: &Snapshot) -> Result<Vec<u8>, SnapshotError> {
        let bytes = encode(schema, snapshot, None)?;
        self.pending_full = Some(snapshot.tick);
        self.sent.push_back(snapshot.clone());
        if self.sent.len() > HISTORY {
            self.sent.pop_front();
        }
        Ok(bytes)
    }

    /// Whether nothing was sent yet (the receiver has no baseline).
    pub fn is_fresh(&self) -> bool {
        self.sent.is_empty()
    }

    /// Whether a full snapshot sent reliably still waits for its acknowledgement.
    pub fn awaiting_full(&self) -> bool {
        self.pending_full.is_some()
    }

    /// Ticks of the snapshots still kept as possible baselines, oldest first.
    pub fn sent_ticks(&self) -> impl DoubleEndedIterator<Item = u32> + '_ {
        self.sent.iter().map(|s| s.tick)
    }

    /// The receiver acknowledged `tick`.
    pub fn ack(&mut self, tick: u32) {
        if self.pending_full.is_some_and(|t| tick >= t) {
            self.pending_full = None;
        }
        if self.sent.iter().any(|s| s.tick == tick) && self.acked.is_none_or(|a| tick > a) {
            self.acked = Some(tick);
        }
    }
}

/// The receiving side of one link: resolves deltas against what it received.
///
/// A sender that spreads a world too large for one packet over several ticks encodes each
/// snapshot against the last one the receiver acknowledged, which need not hold what the
/// snapshots in between carried: an entity can step back to an older value until its turn
/// comes again. Worlds that fit the budget (see [`crate::SessionConfig`]) never do.
#[derive(Debug, Default)]
pub struct DeltaReceiver {
    received: VecDeque<Snapshot>,
    /// Tick of the newest snapshot (late ones are kept as baselines only).
    newest: Option<u32>,
}

impl DeltaReceiver {
    /// The newest tick received (what to acknowledge).
    pub fn last_tick(&self) -> Option<u32> {
        self.newest
    }

    /// Decodes a snapshot (full or delta) and remembers it; returns it when it is the
    /// newest so far (a late one is kept as a possible baseline only). The caller
    /// acknowledges [`DeltaReceiver::last_tick`] to the sender.
    pub fn decode(&mut self, schema: &Schema, bytes: &[u8]) -> Result<Option<Snapshot>, SnapshotError> {
        let header = peek_header(bytes)?;
        let baseline = self.received.iter().rev().find(|s| header.names_baseline(s.tick));
        let snapshot = decode(schema, bytes, baseline)?;
        let tick = snapshot.tick;
        self.received.push_back(snapshot.clone());
        if self.received.len() > HISTORY {
            self.received.pop_front();
        }
        if self.newest.is_some_and(|t| tick <= t) {
            return Ok(None);
        }
        self.newest = Some(tick);
        Ok(Some(snapshot))
    }
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
