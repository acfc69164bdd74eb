//! Receive-side packet loss of a link, from the netcode sequence numbers of what arrives.
//!
//! Every netcode packet after the handshake (keep-alive, payload, disconnect) carries its
//! sender's sequence number in clear, as its nonce, and the sender counts up by one per
//! packet on that connection. renet's own loss figure counts only renet's packets, which
//! a link barely uses once snapshots and heartbeats travel as raw datagrams beside renet
//! (and ack-only packets, never acknowledged, read as lost): so the links measure loss
//! from the sequence numbers instead.

/// Sequence numbers remembered: the loss is over the last this many the sender used.
pub(crate) const WINDOW: u64 = 128;

/// The netcode packet types that carry a sequence number after the handshake.
const KEEP_ALIVE: u8 = 4;
const PAYLOAD: u8 = 5;
const DISCONNECT: u8 = 6;
/// The packet type's bits of a netcode prefix byte; the others give the sequence's length.
const TYPE_MASK: u8 = 0x0F;
const LENGTH_SHIFT: u32 = 4;
/// The longest sequence number, in bytes.
const MAX_SEQUENCE_BYTES: usize = 8;

/// The sequence number of a netcode packet after the handshake, read from its clear header.
pub(crate) fn sequence(datagram: &[u8]) -> Option<u64> {
    let (&prefix, rest) = datagram.split_first()?;
    if !matches!(prefix & TYPE_MASK, KEEP_ALIVE | PAYLOAD | DISCONNECT) {
        return None;
    }
    let len = usize::from(prefix >> LENGTH_SHIFT);
    if len > MAX_SEQUENCE_BYTES || rest.len() < len {
        return None;
    }
    let mut bytes = [0u8; MAX_SEQUENCE_BYTES];
    bytes[..len].copy_from_slice(&rest[..len]);
    Some(u64::from_le_bytes(bytes))
}

/// Which of the sender's last [`WINDOW`] sequence numbers arrived.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arrivals {
    /// The newest sequence number seen, and the first one.
    newest: Option<u64>,
    first: u64,
    /// Bit `i` set: `newest - i` arrived.
    seen: u128,
}

impl Arrivals {
    /// Records an arrival (duplicates and numbers older than the window count once, or not).
    pub(crate) fn record(&mut self, seq: u64) {
        let Some(newest) = self.newest else {
            (self.newest, self.first, self.seen) = (Some(seq), seq, 1);
            return;
        };
        if seq > newest {
            let ahead = seq - newest;
            self.seen = if ahead >= WINDOW { 0 } else { self.seen << ahead };
            self.seen |= 1;
            self.newest = Some(seq);
        } else if newest - seq < WINDOW {
            self.seen |= 1 << (newest - seq);
        }
        self.first = self.first.min(seq);
    }

    /// The share of the sender's last sequence numbers (up to [`WINDOW`]) that did not
    /// arrive; `None` before anything arrived.
    pub(crate) fn loss(&self) -> Option<f64> {
        let newest = self.newest?;
        let span = (newest - self.first + 1).min(WINDOW);
        let arrived = u64::from(self.seen.count_ones());
        Some(1.0 - arrived.min(span) as f64 / span as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sequence_of_post_handshake_packets_only() {
        // A payload (type 5) with a two-byte sequence 0x0102.
        assert_eq!(sequence(&[0x25, 0x02, 0x01, 0xAA]), Some(0x0102));
        // Sequence 0 takes no bytes.
        assert_eq!(sequence(&[0x04, 0xAA]), Some(0));
        // A connection request (type 0) and a response (3) have none.
        assert_eq!(sequence(&[0x00, 1, 2, 3]), None);
        assert_eq!(sequence(&[0x13, 1, 2]), None);
        // A header longer than the datagram, or than eight bytes.
        assert_eq!(sequence(&[0x35, 1]), None);
        assert_eq!(sequence(&[0x95, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
        assert_eq!(sequence(&[]), None);
    }

    #[test]
    fn loss_counts_the_gaps_of_the_window() {
        let mut a = Arrivals::default();
        assert_eq!(a.loss(), None);
        for seq in 10..20 {
            a.record(seq);
        }
        assert_eq!(a.loss(), Some(0.0));
        // Every other number of the next 100 lost: 49 gaps among 10..=118.
        for seq in (20..120).step_by(2) {
            a.record(seq);
        }
        let loss = a.loss().unwrap();
        assert!((loss - 49.0 / 109.0).abs() < 1e-9, "{loss}");
        // Late arrivals fill their gaps; duplicates change nothing.
        a.record(21);
        a.record(21);
        a.record(20);
        assert!((a.loss().unwrap() - 48.0 / 109.0).abs() < 1e-9);
    }

    #[test]
    fn the_window_forgets_old_losses_and_a_long_jump() {
        let mut a = Arrivals::default();
        for seq in (0..100).step_by(2) {
            a.record(seq);
        }
        for seq in 100..100 + WINDOW {
            a.record(seq);
        }
        assert_eq!(a.loss(), Some(0.0), "the lossy stretch left the window");
        a.record(10_000);
        let loss = a.loss().unwrap();
        assert!((loss - (1.0 - 1.0 / WINDOW as f64)).abs() < 1e-9, "{loss}");
        // Far older than the window: ignored.
        a.record(5);
        assert!((a.loss().unwrap() - loss).abs() < 1e-12);
    }
}
