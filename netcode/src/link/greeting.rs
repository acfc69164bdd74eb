//! Our hello on a link goes first: what the session sends before it waits, so that the
//! remote end reads the hello before anything else (`docs/design.md`, "Authority").
//!
//! The dialer of a link greets at once; the accepting side greets only once the dialer
//! proved the seat it claims (its hello, or a join or rejoin request with a seat proof).
//! So an accepting peer never signs a hello for a link whose other end proved nothing,
//! and a member dialing from a second socket under another's id gets no hello to replay.

use super::{Channel, LinkKey, Links};

impl Links {
    /// Sends `hello` on the link to `peer` unless we greeted it already, then what waited
    /// for it. Returns whether the hello went out now.
    pub(crate) fn greet(&mut self, peer: impl Into<LinkKey>, hello: Vec<u8>) -> bool {
        let peer: LinkKey = peer.into();
        let Some(link) = self.links.get_mut(&peer).filter(|l| !l.greeted) else {
            return false;
        };
        link.greeted = true;
        link.held_bytes = 0;
        let held = std::mem::take(&mut link.held);
        self.send_now(peer, Channel::ReliableOrdered, hello, true);
        for (channel, bytes, urgent) in held {
            self.send_now(peer, channel, bytes, urgent);
        }
        true
    }

    /// Lets what is queued on the link to `peer` leave at the next flush.
    pub(crate) fn flush_soon(&mut self, peer: impl Into<LinkKey>) {
        self.dirty.insert(peer.into());
    }

    /// The address this peer's links use.
    #[cfg(test)]
    pub(crate) fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// Lets what we send go out on the link to `peer` without our hello (a test's
    /// impostor, which has none to give).
    #[cfg(test)]
    pub(crate) fn skip_greeting(&mut self, peer: impl Into<LinkKey>) {
        if let Some(link) = self.links.get_mut(&peer.into()) {
            link.greeted = true;
        }
    }

    /// Whether we dialed the link to `peer` (and so greet first).
    pub(crate) fn dialed(&self, peer: impl Into<LinkKey>) -> bool {
        self.links
            .get(&peer.into())
            .is_some_and(|l| l.role == super::wire::Role::Dialed)
    }

    /// Sends `bytes` on the ordered channel ahead of our hello: only a refusal of a join
    /// or rejoin request whose proof did not hold (the requester learns why, and nothing
    /// signed by us).
    pub(crate) fn send_before_greeting(&mut self, peer: impl Into<LinkKey>, bytes: Vec<u8>) -> bool {
        self.send_now(peer.into(), Channel::ReliableOrdered, bytes, true)
    }

    /// Keeps a message for after our hello; an unreliable one is dropped (a late
    /// heartbeat is worth nothing). False when the link holds a channel's memory already.
    pub(super) fn hold(&mut self, peer: LinkKey, channel: Channel, bytes: Vec<u8>, urgent: bool) -> bool {
        let memory = self.channel_memory;
        let Some(link) = self.links.get_mut(&peer) else {
            return false;
        };
        if channel == Channel::Unreliable {
            return true;
        }
        if link.held_bytes + bytes.len() > memory {
            return false;
        }
        link.held_bytes += bytes.len();
        link.held.push((channel, bytes, urgent));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::Channel;
    use super::super::pair::Pair;
    use crate::PeerId;
    use crate::config::SessionConfig;

    /// What an accepted link holds for after our hello counts against its room: a store
    /// transfer pumping by `room` stops before the link refuses to hold more (seen as an
    /// unsent store piece after a heal at capacity).
    #[test]
    fn what_waits_for_our_hello_takes_room() {
        let mut p = Pair::new();
        p.greet_b = false;
        p.a.dial(PeerId(2), p.b_addr);
        p.run(20);
        let b = &mut p.b;
        assert!(b.is_linked(PeerId(1)), "b accepted a's link");
        let channel = Channel::ReliableUnordered;
        let memory = SessionConfig::default().channel_memory_bytes;
        assert_eq!(b.room(PeerId(1), channel), memory);
        let piece = memory / 3;
        assert!(
            b.send(PeerId(1), channel, vec![7; piece], false),
            "held for after the hello"
        );
        assert!(b.send(PeerId(1), channel, vec![7; piece], false));
        assert_eq!(b.room(PeerId(1), channel), memory - 2 * piece);
        assert!(b.room(PeerId(1), Channel::ReliableOrdered) <= memory - 2 * piece);
        assert!(
            !b.send(PeerId(1), channel, vec![7; piece + 2], false),
            "more than it holds"
        );
        assert!(b.greet(PeerId(1), vec![2]));
        assert!(
            b.room(PeerId(1), channel) < memory,
            "the held pieces are in the channel now"
        );
    }
}
