//! Seats: what a restarted process saves to take its seat back.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::TransportError;
use crate::PeerId;
use crate::invite::{Invite, InviteError};
use crate::session::Credentials;

/// Why a saved seat file does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SeatError {
    /// Its `invite` line does not decode (the file was damaged or edited: the player typed
    /// no code).
    #[error("its invite line does not decode ({0})")]
    Invite(InviteError),
    /// Its `peer` line is not a 64-bit hexadecimal id.
    #[error("its peer line is not a hexadecimal peer id")]
    PeerId,
    /// Its `secret` line is not 64 hexadecimal digits.
    #[error("its secret line should be 64 hex digits")]
    Secret,
    /// A line the seat needs is missing.
    #[error("it has no {0} line")]
    Missing(&'static str),
    /// The secret does not own the peer id.
    #[error("the secret does not own the peer id (damaged seat file)")]
    Mismatch,
}

/// What a restarted process needs to take its seat back: the session and where its members
/// were, and the seat's identity and secret. Saved as a few `name value` lines.
#[derive(Clone, PartialEq, Eq)]
pub struct Seat {
    /// The session and the members' addresses when saved.
    pub invite: Invite,
    /// Identity and secret.
    pub credentials: Credentials,
}

impl fmt::Debug for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seat")
            .field("invite", &self.invite)
            .field("peer", &self.credentials.peer)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Seat {
    /// Writes the seat to `path` atomically (a temporary file beside it, then a rename), so
    /// a crash mid-write never leaves half a seat.
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.to_string())?;
        std::fs::rename(&tmp, path)
    }
}

impl fmt::Display for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invite {}", self.invite)?;
        writeln!(f, "peer {:016x}", self.credentials.peer.0)?;
        let hex: String = self.credentials.secret.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(f, "secret {hex}")
    }
}

impl FromStr for Seat {
    type Err = TransportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = TransportError::Seat;
        let (mut invite, mut peer, mut secret) = (None, None, None);
        for line in text.lines().take(16) {
            match line.trim().split_once(' ') {
                Some(("invite", v)) => invite = Some(Invite::decode(v).map_err(|e| bad(SeatError::Invite(e)))?),
                Some(("peer", v)) => {
                    peer = Some(u64::from_str_radix(v.trim(), 16).map_err(|_| bad(SeatError::PeerId))?);
                }
                Some(("secret", v)) => {
                    let v = v.trim();
                    if v.len() != 64 || !v.is_ascii() {
                        return Err(bad(SeatError::Secret));
                    }
                    let mut s = [0u8; 32];
                    for (i, b) in s.iter_mut().enumerate() {
                        *b = u8::from_str_radix(&v[2 * i..2 * i + 2], 16).map_err(|_| bad(SeatError::Secret))?;
                    }
                    secret = Some(s);
                }
                _ => {}
            }
        }
        let credentials = Credentials {
            peer: PeerId(peer.ok_or_else(|| bad(SeatError::Missing("peer")))?),
            secret: secret.ok_or_else(|| bad(SeatError::Missing("secret")))?,
        };
        credentials.check().map_err(|_| bad(SeatError::Mismatch))?;
        Ok(Seat {
            invite: invite.ok_or_else(|| bad(SeatError::Missing("invite")))?,
            credentials,
        })
    }
}
