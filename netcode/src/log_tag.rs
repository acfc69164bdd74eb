//! The tag that starts the log lines of a session's layers (session, transport, traversal,
//! DHT): which session and which of its peers a line concerns, so that many sessions in
//! one process (the simulator, tests, a game with bots) can be told apart.

use std::fmt;

use crate::PeerId;

/// Shown as `[s1a2b3c4d p0123abcd]`: the first 8 hex digits of the session id and of the
/// local peer's id (`[-]` before they are known). Remote peers in the line keep their whole
/// id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogTag(Option<(u64, PeerId)>);

impl LogTag {
    /// The tag of peer `peer` in the session whose id is `session`.
    pub fn new(session: u64, peer: PeerId) -> Self {
        LogTag(Some((session, peer)))
    }
}

impl fmt::Display for LogTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((session, peer)) => write!(f, "[s{:08x} p{:08x}]", session >> 32, peer.0 >> 32),
            None => f.write_str("[-]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_names_the_session_and_the_peer_by_their_first_bytes() {
        let tag = LogTag::new(0x1a2b_3c4d_0000_0001, PeerId(0x0123_abcd_ffff_ffff));
        assert_eq!(tag.to_string(), "[s1a2b3c4d p0123abcd]");
        assert_eq!(LogTag::default().to_string(), "[-]");
    }

    #[test]
    fn the_peers_of_one_session_share_its_part_and_differ_in_theirs() {
        let mut sim = crate::sim::Sim::new(crate::sim::SimConfig::default().peers(2).seed(3));
        sim.run_for_secs(1.0);
        let tags: Vec<String> = (0..2).map(|i| sim.session(i).unwrap().log_tag().to_string()).collect();
        assert_ne!(tags[0], tags[1]);
        assert_eq!(tags[0][..11], tags[1][..11], "{tags:?}");
    }
}
