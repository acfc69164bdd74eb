//! What the fuzz targets share: the snapshot schema they decode with, the layout of the
//! inputs that carry more than one piece (a baseline and a delta, a stream of packets),
//! and an allocator that refuses any single allocation beyond [`MAX_ALLOC_BYTES`].
//!
//! The seed generator (`examples/seeds.rs`) writes inputs in the same layouts, from valid
//! encodings, so the fuzzer starts from bytes an honest peer sends.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::io::Write;

use netcode::snapshot::delta::{self, EntityState, Schema, Snapshot};
use netcode::snapshot::quant::Quant;

/// Largest single allocation a target may make, in bytes (16 MiB).
///
/// libFuzzer's `-malloc_limit_mb` only works through a sanitizer's malloc hooks, and the
/// targets run without one (see docs/fuzzing.md), so this allocator enforces the limit
/// instead: no decoder of a message of at most 256 KiB has a reason to ask for more,
/// while a length prefix trusted too early asks for far more, often without touching
/// the pages (which `-rss_limit_mb` alone would miss).
pub const MAX_ALLOC_BYTES: usize = 16 << 20;

/// The system allocator, aborting (a crash libFuzzer records, with the input) on any
/// allocation larger than [`MAX_ALLOC_BYTES`].
pub struct CappedAlloc;

#[cold]
fn too_large(size: usize) -> ! {
    // Small allocations only from here on, which this allocator grants.
    let trace = std::backtrace::Backtrace::force_capture();
    let _ = writeln!(
        std::io::stderr(),
        "==netcode-fuzz== allocation of {size} bytes exceeds the limit of {MAX_ALLOC_BYTES} bytes\n{trace}"
    );
    std::process::abort()
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the contract; the
// only addition is a size check that aborts before forwarding.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOC_BYTES {
            too_large(layout.size());
        }
        // SAFETY: the caller's `layout` is passed on as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOC_BYTES {
            too_large(layout.size());
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOC_BYTES {
            too_large(new_size);
        }
        // SAFETY: the caller's pointer, layout and size are passed on as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

/// Raw bytes as text, the way a pasted string or a file read with a lossy conversion
/// arrives (invalid UTF-8 becomes U+FFFD, so every input reaches the parser).
pub fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The schema every snapshot target decodes with: the game's kind (two positions and an
/// angle), an angle-only kind, a kind with no field at all and one with a full 32-bit field.
pub fn schema() -> Schema {
    let mut s = Schema::default();
    let pos = Quant::new(-50.0, 50.0, 0.01).expect("valid quantisation");
    let angle = Quant::angle(9).expect("valid angle");
    s.add_kind(vec![pos, pos, angle]).expect("kind 0");
    s.add_kind(vec![angle]).expect("kind 1");
    s.add_kind(Vec::new()).expect("kind 2");
    s.add_kind(vec![Quant::new(0.0, 4.0e9, 1.0).expect("32-bit field")])
        .expect("kind 3");
    s
}

/// A small world of [`schema`] at `tick`, moving with it (for seeds).
pub fn world(tick: u32, entities: u32) -> Snapshot {
    let mut snapshot = Snapshot {
        tick,
        entities: Default::default(),
    };
    for id in 0..entities {
        let state = match id % 4 {
            0 => EntityState {
                kind: 0,
                codes: vec![
                    tick.wrapping_mul(7).wrapping_add(id) % 10_001,
                    id * 13 % 10_001,
                    tick.wrapping_add(id) % 512,
                ],
            },
            1 => EntityState {
                kind: 1,
                codes: vec![tick.wrapping_mul(3).wrapping_add(id) % 512],
            },
            2 => EntityState {
                kind: 2,
                codes: Vec::new(),
            },
            _ => EntityState {
                kind: 3,
                codes: vec![tick.wrapping_mul(2_654_435_761) % 4_000_000_001],
            },
        };
        // Sparse ids, so gaps of every width appear.
        snapshot.entities.insert(id * id * 37, state);
    }
    snapshot
}

/// Splits a `snapshot_delta` input: a 2-byte little-endian length, a full snapshot of that
/// many bytes (the baseline), then the delta. `None` when the input is too short or the
/// baseline part does not decode.
pub fn split_delta_input(data: &[u8]) -> Option<(Snapshot, &[u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    if rest.len() < len {
        return None;
    }
    let (base, delta) = rest.split_at(len);
    let baseline = delta::decode(&schema(), base, None).ok()?;
    Some((baseline, delta))
}

/// Builds a `snapshot_delta` input (for seeds).
pub fn delta_input(baseline_full: &[u8], delta: &[u8]) -> Vec<u8> {
    let len = u16::try_from(baseline_full.len()).expect("baseline under 64 KiB");
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(baseline_full);
    out.extend_from_slice(delta);
    out
}

/// Splits a `delta_receiver` input into packets: each is a 2-byte little-endian length and
/// that many bytes (the last one is cut to what is left).
pub fn packets(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (len, rest) = data.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        let (packet, tail) = rest.split_at(len);
        data = tail;
        Some(packet)
    })
}

/// Builds a `delta_receiver` input from packets (for seeds).
pub fn packets_input<'a>(packets: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        let len = u16::try_from(p.len()).expect("packet under 64 KiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Sources the network targets take datagrams from: two ports of one IPv4 host, another
/// IPv4 host, an IPv6 host, two LAN hosts, a carrier-NAT address and a loopback one.
pub const SOURCES: [&str; 8] = [
    "198.51.100.1:4000",
    "198.51.100.1:4001",
    "203.0.113.9:5000",
    "[2001:db8::5]:6000",
    "192.168.1.20:40001",
    "10.0.0.7:40002",
    "100.64.0.3:7000",
    "127.0.0.1:9000",
];

/// The [`SOURCES`] entry `i` (modulo their number).
pub fn source(i: u8) -> std::net::SocketAddr {
    SOURCES[usize::from(i) % SOURCES.len()].parse().expect("source address")
}

/// How far a control byte's top two bits move the clock: from a millisecond to past a
/// minute, so that rate limits refill, paths time out and members expire.
const ADVANCE_MS: [u64; 4] = [1, 100, 5_000, 61_000];

/// One step of a stream target (`rendezvous_service`, `traversal`), read from the control
/// byte that starts each packet: bits 0-2 the source ([`source`]), bits 3-4 the mode (what
/// the target makes of the rest of the packet, its own meaning per target), bit 5 a flag
/// (its own meaning per target), bits 6-7 how far the clock moves first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Where the datagram comes from.
    pub from: std::net::SocketAddr,
    /// 0 to 3.
    pub mode: u8,
    /// Bit 5.
    pub flag: bool,
    /// How far the clock moves before the datagram arrives.
    pub advance: std::time::Duration,
}

impl Step {
    /// The step a packet starts with, and the rest of the packet; `None` for an empty one.
    pub fn split(packet: &[u8]) -> Option<(Step, &[u8])> {
        let (&control, rest) = packet.split_first()?;
        let step = Step {
            from: source(control & 7),
            mode: (control >> 3) & 3,
            flag: control & (1 << 5) != 0,
            advance: std::time::Duration::from_millis(ADVANCE_MS[usize::from(control >> 6)]),
        };
        Some((step, rest))
    }

    /// The control byte of a step (for seeds): source `from`, `mode`, `flag` and advance
    /// index `advance` (0 to 3: 1 ms, 100 ms, 5 s, 61 s).
    pub fn control(from: u8, mode: u8, flag: bool, advance: u8) -> u8 {
        (from & 7) | (mode & 3) << 3 | u8::from(flag) << 5 | (advance & 3) << 6
    }
}

/// What a game built on the Bevy plugin sends: messages of the shapes games use and
/// replicated components, one with entity references (for the `net_message` and
/// `replicated_component` targets and their seeds).
pub mod game {
    use bevy_ecs::prelude::*;
    use netcode::bevy::entity_ref;
    use serde::{Deserialize, Serialize};

    /// A message with text, an option, a sequence and floats in its variants.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub enum Chat {
        /// Text to everyone or to one peer.
        Say {
            /// What is said.
            text: String,
            /// To whom (a peer id), or everyone.
            to: Option<u64>,
        },
        /// An emote by number.
        Emote(u8),
        /// Ready to start.
        Ready,
        /// Items used: (item, count).
        Items(Vec<(u32, i16)>),
        /// A shot.
        Fire {
            /// Where to.
            at: [f32; 2],
            /// How hard.
            power: f64,
        },
    }

    /// The demo's knockback as a message: who is pushed, how far, its number.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct Knock {
        /// The peer pushed.
        pub peer: u64,
        /// The push.
        pub dx: f32,
        /// The push.
        pub dy: f32,
        /// Its number.
        pub seq: u32,
    }

    /// A fieldless enum leaf.
    #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
    pub enum Mode {
        /// Still.
        Idle,
        /// After its target.
        Chase,
        /// Away from it.
        Flee,
    }

    /// A replicated component of every leaf kind and two entity references.
    #[derive(Component, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
    pub struct Homing {
        /// A float pair.
        pub pos: [f32; 2],
        /// A small integer.
        pub speed: u8,
        /// A signed integer.
        pub level: i32,
        /// A bool.
        pub armed: bool,
        /// An enum.
        pub mode: Mode,
        /// What it chases (another replicated entity).
        #[entities]
        #[serde(with = "entity_ref")]
        pub target: Entity,
        /// What it chases next.
        #[entities]
        #[serde(with = "entity_ref")]
        pub fallback: Entity,
    }

    /// A bare float component.
    #[derive(Component, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
    pub struct Spot(pub f32);
}
