//! The heartbeat datagram: the one message that travels beside renet, once per link and
//! send tick, so every byte of its framing is paid on every link many times a second.
//!
//! Instead of bincode's enum tag and one marker byte per optional field, a heartbeat frame
//! starts with one flags byte saying which fields follow; absent fields cost nothing (an
//! unset `held_ms` is 0, no suspects an empty list). The fields that follow are bincode, as
//! in [`Message::encode`], and the frame is validated like any message: a decoder never
//! panics, refuses unknown flags and trailing bytes, and bounds every field. A heartbeat too
//! large for one datagram goes through renet with [`Message::encode`] instead.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{MAX_MESSAGE_BYTES, Message, ProtocolError, TickAck, config};

/// A roster digest follows.
const DIGEST: u8 = 1;
/// A list of suspects follows.
const SUSPECTS: u8 = 1 << 1;
/// The acknowledgement of the receiver's own stream follows (2 bytes).
const ACK_OWN: u8 = 1 << 2;
/// The acknowledgement of the shared stream follows (2 bytes).
const ACK_SHARED: u8 = 1 << 3;
/// `held_ms` follows (1 byte; absent means 0).
const HELD: u8 = 1 << 4;
/// The sender's own stream follows.
const OWN: u8 = 1 << 5;
/// The shared stream follows.
const SHARED: u8 = 1 << 6;
/// Every flag a frame may set.
const KNOWN: u8 = DIGEST | SUSPECTS | ACK_OWN | ACK_SHARED | HELD | OWN | SHARED;

impl Message {
    /// Encodes a heartbeat as a compact datagram frame; any other message is an error.
    pub fn encode_heartbeat(&self) -> Result<Vec<u8>, ProtocolError> {
        let Message::Heartbeat {
            digest,
            suspects,
            acks,
            held_ms,
            own,
            shared,
        } = self
        else {
            return Err(ProtocolError::Invalid("not a heartbeat"));
        };
        let mut out = vec![0u8];
        let mut flags = 0u8;
        if let Some(d) = digest {
            flags |= DIGEST;
            append(&mut out, d)?;
        }
        if !suspects.is_empty() {
            flags |= SUSPECTS;
            append(&mut out, suspects)?;
        }
        for (ack, flag) in acks.iter().zip([ACK_OWN, ACK_SHARED]) {
            if let Some(TickAck(bytes)) = ack {
                flags |= flag;
                out.extend_from_slice(bytes);
            }
        }
        if *held_ms != 0 {
            flags |= HELD;
            out.push(*held_ms);
        }
        for (stream, flag) in [(own, OWN), (shared, SHARED)] {
            if let Some(bytes) = stream {
                flags |= flag;
                append(&mut out, bytes)?;
            }
        }
        out[0] = flags;
        Ok(out)
    }

    /// Decodes and validates a heartbeat frame from untrusted bytes.
    pub fn decode_heartbeat(bytes: &[u8]) -> Result<Message, ProtocolError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(ProtocolError::Invalid("message too large"));
        }
        let (&flags, mut rest) = bytes.split_first().ok_or(ProtocolError::Invalid("empty heartbeat"))?;
        if flags & !KNOWN != 0 {
            return Err(ProtocolError::Invalid("unknown heartbeat flags"));
        }
        let digest = if flags & DIGEST != 0 {
            Some(take(&mut rest)?)
        } else {
            None
        };
        let suspects = if flags & SUSPECTS != 0 {
            take(&mut rest)?
        } else {
            Vec::new()
        };
        let mut acks = [None, None];
        for (ack, flag) in acks.iter_mut().zip([ACK_OWN, ACK_SHARED]) {
            if flags & flag != 0 {
                let (two, tail) = rest
                    .split_first_chunk::<2>()
                    .ok_or(ProtocolError::Invalid("short ack"))?;
                *ack = Some(TickAck(*two));
                rest = tail;
            }
        }
        let held_ms = if flags & HELD != 0 {
            let (&held, tail) = rest.split_first().ok_or(ProtocolError::Invalid("short heartbeat"))?;
            rest = tail;
            held
        } else {
            0
        };
        let own = if flags & OWN != 0 { Some(take(&mut rest)?) } else { None };
        let shared = if flags & SHARED != 0 {
            Some(take(&mut rest)?)
        } else {
            None
        };
        if !rest.is_empty() {
            return Err(ProtocolError::Trailing(rest.len()));
        }
        let msg = Message::Heartbeat {
            digest,
            suspects,
            acks,
            held_ms,
            own,
            shared,
        };
        msg.validate()?;
        Ok(msg)
    }
}

fn append<T: Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), ProtocolError> {
    bincode::serde::encode_into_std_write(value, out, config())?;
    Ok(())
}

fn take<T: DeserializeOwned>(rest: &mut &[u8]) -> Result<T, ProtocolError> {
    let (value, used) = bincode::serde::decode_from_slice(rest, config())?;
    *rest = &rest[used..];
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerId;
    use crate::roster::RosterDigest;

    fn full() -> Message {
        Message::Heartbeat {
            digest: Some(RosterDigest::default()),
            suspects: vec![PeerId(7)],
            acks: [Some(TickAck::of(3)), Some(TickAck::of(70_000))],
            held_ms: 7,
            own: Some(vec![1, 2, 3]),
            shared: Some(vec![4; 300]),
        }
    }

    #[test]
    fn frames_round_trip_and_every_prefix_is_an_error() {
        let bare = Message::Heartbeat {
            digest: None,
            suspects: Vec::new(),
            acks: [None, None],
            held_ms: 0,
            own: None,
            shared: None,
        };
        for m in [full(), bare.clone()] {
            let bytes = m.encode_heartbeat().unwrap();
            assert_eq!(Message::decode_heartbeat(&bytes).unwrap(), m);
            for n in 0..bytes.len() {
                assert!(Message::decode_heartbeat(&bytes[..n]).is_err(), "prefix {n}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(matches!(
                Message::decode_heartbeat(&longer),
                Err(ProtocolError::Trailing(1))
            ));
        }
        assert_eq!(bare.encode_heartbeat().unwrap(), [0], "an empty heartbeat is one byte");
    }

    #[test]
    fn a_frame_is_smaller_than_the_message_and_refuses_unknown_flags() {
        let typical = Message::Heartbeat {
            digest: None,
            suspects: Vec::new(),
            acks: [Some(TickAck::of(9)), Some(TickAck::of(8))],
            held_ms: 12,
            own: Some(vec![0; 10]),
            shared: None,
        };
        let (frame, message) = (typical.encode_heartbeat().unwrap(), typical.encode().unwrap());
        assert_eq!(
            message.len() - frame.len(),
            6,
            "{} against {}",
            frame.len(),
            message.len()
        );
        assert!(Message::decode_heartbeat(&[0x80]).is_err());
        assert!(Message::Leave.encode_heartbeat().is_err());
    }
}
