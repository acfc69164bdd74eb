//! A member's candidate addresses, as it announces them to the other members through the
//! session (the session is the signalling channel: see `docs/design.md`, "Signalling
//! through the mesh").

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::bounds::{ProtocolError, check};
use crate::stun::NatMapping;

/// Most candidate addresses one announcement carries.
pub const MAX_ANNOUNCED: usize = 8;

/// What a candidate address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CandidateKind {
    /// An address of one of the member's interfaces, with its game port.
    Local,
    /// Where a STUN server saw the member's game socket (its NAT's mapping).
    Reflexive,
    /// The port the member's home router maps to its game socket (PCP, NAT-PMP, UPnP-IGD):
    /// reachable from anywhere.
    Mapped,
}

/// One candidate address of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Candidate {
    /// The address.
    pub addr: SocketAddr,
    /// What it is.
    pub kind: CandidateKind,
}

/// What a member tells the others about where it may be reached: its candidate addresses
/// and how its NAT maps its socket (which decides whether a punch can work at all).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Candidates {
    /// Its candidate addresses, at most [`MAX_ANNOUNCED`], the best first.
    pub addrs: Vec<Candidate>,
    /// Its NAT's mapping behaviour, as STUN told it.
    pub mapping: NatMapping,
}

impl Candidates {
    /// Checks the bounds: at most [`MAX_ANNOUNCED`] addresses, none twice, no unspecified
    /// address or port 0.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check(self.addrs.len() <= MAX_ANNOUNCED, "too many candidates")?;
        check(
            self.addrs
                .iter()
                .all(|c| !c.addr.ip().is_unspecified() && c.addr.port() != 0),
            "an unspecified candidate",
        )?;
        let mut seen: Vec<SocketAddr> = Vec::with_capacity(self.addrs.len());
        for c in &self.addrs {
            check(!seen.contains(&c.addr), "a candidate twice")?;
            seen.push(c.addr);
        }
        Ok(())
    }

    /// Whether one of the addresses is a port the member's router maps.
    pub fn has_mapped(&self) -> bool {
        self.addrs.iter().any(|c| c.kind == CandidateKind::Mapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;

    fn cand(addr: &str, kind: CandidateKind) -> Candidate {
        Candidate {
            addr: addr.parse().unwrap(),
            kind,
        }
    }

    #[test]
    fn candidates_roundtrip_and_bounds() {
        let c = Candidates {
            addrs: vec![
                cand("203.0.113.7:5000", CandidateKind::Mapped),
                cand("198.51.100.2:41000", CandidateKind::Reflexive),
                cand("[fd00::2]:5000", CandidateKind::Local),
            ],
            mapping: NatMapping::EndpointDependent,
        };
        let msg = Message::Candidates(c.clone());
        let bytes = msg.encode().unwrap();
        assert_eq!(Message::decode(&bytes).unwrap(), msg);
        for n in 0..bytes.len() {
            assert!(Message::decode(&bytes[..n]).is_err());
        }
        let many = Candidates {
            addrs: (0..=MAX_ANNOUNCED as u16)
                .map(|i| cand(&format!("10.0.0.1:{}", 1000 + i), CandidateKind::Local))
                .collect(),
            mapping: NatMapping::Unknown,
        };
        assert!(Message::decode(&Message::Candidates(many).encode().unwrap()).is_err());
        let twice = Candidates {
            addrs: vec![cand("10.0.0.1:5000", CandidateKind::Local); 2],
            mapping: NatMapping::Unknown,
        };
        assert!(twice.validate().is_err());
        let unspecified = Candidates {
            addrs: vec![cand("0.0.0.0:5000", CandidateKind::Local)],
            mapping: NatMapping::Unknown,
        };
        assert!(unspecified.validate().is_err());
    }
}
