//! What a member signs so that nobody can speak in its name (`docs/design.md`,
//! "Authority"): the hello that opens a link, and the envelope of a relayed message, which
//! a relay can drop or delay but never write.

use super::{MAX_HOPS, Message};
use crate::PeerId;
use crate::identity::{PublicKey, SeatKey, Statement, peer_of};

impl Message {
    /// The hello of the holder of `key` on its link to `to`, in session `session_id`.
    pub fn hello(key: &SeatKey, session_id: u64, to: PeerId) -> Message {
        let peer = key.peer();
        let sig = key.sign_statement(Statement::Hello, session_id, &hello_body(peer, to));
        Message::Hello {
            peer,
            key: key.public(),
            sig,
        }
    }

    /// Whether this is a hello to `to` that proves its sender's seat in session
    /// `session_id`: the key owns the id it names and signed the hello.
    pub(crate) fn hello_holds(&self, session_id: u64, to: PeerId) -> bool {
        let Message::Hello { peer, key, sig } = self else {
            return false;
        };
        peer_of(key) == *peer && Statement::Hello.verify(key, session_id, &hello_body(*peer, to), sig)
    }

    /// `inner` (an encoded message) from the holder of `key` to `dest`, as its
    /// `seq`th forward to `dest`, in `incarnations` (the sender's and `dest`'s), signed
    /// for relays to carry in session `session_id`.
    pub fn signed_forward(
        key: &SeatKey,
        session_id: u64,
        dest: PeerId,
        seq: u64,
        reliable: bool,
        incarnations: [u32; 2],
        inner: Vec<u8>,
    ) -> Message {
        let origin = key.peer();
        let body = forward_body(origin, dest, seq, reliable, incarnations, &inner);
        let sig = key.sign_statement(Statement::Relayed, session_id, &body);
        Message::Forward {
            origin,
            dest,
            ttl: MAX_HOPS - 1,
            seq,
            reliable,
            incarnations,
            inner,
            sig,
        }
    }

    /// Whether this is a forward that the holder of `key` signed in session `session_id`.
    pub(crate) fn forward_holds(&self, key: &PublicKey, session_id: u64) -> bool {
        let Message::Forward {
            origin,
            dest,
            seq,
            reliable,
            incarnations,
            inner,
            sig,
            ..
        } = self
        else {
            return false;
        };
        let body = forward_body(*origin, *dest, *seq, *reliable, *incarnations, inner);
        Statement::Relayed.verify(key, session_id, &body, sig)
    }
}

/// The bytes a hello's signature covers: both ends of the link, the sender first.
fn hello_body(from: PeerId, to: PeerId) -> [u8; 16] {
    let mut body = [0; 16];
    body[..8].copy_from_slice(&from.0.to_le_bytes());
    body[8..].copy_from_slice(&to.0.to_le_bytes());
    body
}

/// The bytes a forward's signature covers: everything but the hop count, which each relay
/// lowers.
fn forward_body(
    origin: PeerId,
    dest: PeerId,
    seq: u64,
    reliable: bool,
    incarnations: [u32; 2],
    inner: &[u8],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(33 + inner.len());
    body.extend_from_slice(&origin.0.to_le_bytes());
    body.extend_from_slice(&dest.0.to_le_bytes());
    body.extend_from_slice(&seq.to_le_bytes());
    body.push(u8::from(reliable));
    body.extend_from_slice(&incarnations[0].to_le_bytes());
    body.extend_from_slice(&incarnations[1].to_le_bytes());
    body.extend_from_slice(inner);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_holds_for_its_sender_and_receiver_only() {
        let key = SeatKey::from_secret(&[8; 32]);
        let hello = Message::hello(&key, 3, PeerId(5));
        assert!(hello.hello_holds(3, PeerId(5)));
        assert!(!hello.hello_holds(3, PeerId(6)), "shown to another peer");
        assert!(!hello.hello_holds(4, PeerId(5)), "another session");
        let Message::Hello { key: pk, sig, .. } = hello else {
            unreachable!()
        };
        let other = SeatKey::from_secret(&[9; 32]);
        let claimed = Message::Hello {
            peer: other.peer(),
            key: pk,
            sig,
        };
        assert!(!claimed.hello_holds(3, PeerId(5)), "another id with our key");
        let borrowed = Message::Hello {
            peer: other.peer(),
            key: other.public(),
            sig,
        };
        assert!(!borrowed.hello_holds(3, PeerId(5)), "another key under our signature");
    }

    #[test]
    fn a_forward_holds_for_its_origin_only_and_only_unchanged() {
        let key = SeatKey::from_secret(&[8; 32]);
        let fwd = Message::signed_forward(&key, 3, PeerId(5), 9, true, [1, 2], vec![1, 2, 3]);
        assert!(fwd.forward_holds(&key.public(), 3));
        assert!(!fwd.forward_holds(&key.public(), 4), "another session");
        let other = SeatKey::from_secret(&[9; 32]);
        assert!(!fwd.forward_holds(&other.public(), 3), "another origin's key");
        let Message::Forward {
            origin,
            dest,
            seq,
            reliable,
            incarnations,
            inner,
            sig,
            ..
        } = fwd.clone()
        else {
            unreachable!()
        };
        let rebuilt = |origin, dest, seq, reliable, incarnations, inner| Message::Forward {
            origin,
            dest,
            ttl: 0,
            seq,
            reliable,
            incarnations,
            inner,
            sig,
        };
        let same = rebuilt(origin, dest, seq, reliable, incarnations, inner.clone());
        assert!(same.forward_holds(&key.public(), 3), "the hop count is not signed");
        for changed in [
            rebuilt(other.peer(), dest, seq, reliable, incarnations, inner.clone()),
            rebuilt(origin, PeerId(6), seq, reliable, incarnations, inner.clone()),
            rebuilt(origin, dest, seq + 1, reliable, incarnations, inner.clone()),
            rebuilt(origin, dest, seq, !reliable, incarnations, inner.clone()),
            rebuilt(origin, dest, seq, reliable, [2, 2], inner.clone()),
            rebuilt(origin, dest, seq, reliable, incarnations, vec![1, 2, 4]),
        ] {
            assert!(!changed.forward_holds(&key.public(), 3), "{changed:?}");
        }
    }
}
