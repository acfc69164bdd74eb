//! One link's state: its role, address, renet connection and what it owes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use renet::RenetClient;

use super::LinkKey;
use super::wire::{RENET_ACK_PACKET, Role, raw_body};
use crate::loss::Arrivals;

pub(super) struct Link {
    pub(super) role: Role,
    pub(super) addr: SocketAddr,
    pub(super) conn: RenetClient,
    /// When `conn` was last advanced (renet is advanced at flush time only).
    pub(super) updated: Duration,
    /// When the link came up.
    pub(super) since: Duration,
    /// For an accepted link: whether the dialer sent a payload yet. Until it does we send
    /// nothing, because our payloads would suppress netcode's keep-alives and a dialer
    /// that lost the first keep-alive would never finish connecting.
    pub(super) confirmed: bool,
    /// Whether renet received data (not just acks) since its last flush, and so owes an ack.
    pub(super) owes_ack: bool,
    /// Whether the packets of the next flush go out twice (see [`Links::make_redundant`]).
    pub(super) redundant: bool,
    /// Bytes of every datagram sent to this link's address and received from it (renet's
    /// packets, the raw datagrams beside them, netcode's keep-alives).
    pub(super) sent: u64,
    pub(super) received: u64,
    /// Which of the peer's recent netcode sequence numbers arrived (its loss toward us).
    pub(super) arrivals: Arrivals,
    /// Whether the remote end proved, with its seat's key, that it is the peer the link is
    /// keyed by (the session checks its hello; netcode only proves the session key).
    pub(super) proven: bool,
    /// Whether we sent our hello on this link (see [`super::Links::greet`]); until then
    /// what we send waits in `held`, so that the hello is the first message the remote
    /// end reads. The contact link of a joiner starts greeted: its join request comes first.
    pub(super) greeted: bool,
    /// Reliable messages queued before our hello: (channel, bytes, urgent), in order.
    pub(super) held: Vec<(super::Channel, Vec<u8>, bool)>,
    /// Bytes in `held`.
    pub(super) held_bytes: usize,
    /// When netcode last let a payload through on this link (its start before any).
    pub(super) last_payload: Duration,
}

impl Link {
    /// A payload netcode let through on this link: a raw datagram goes to `raw_in`, a renet
    /// packet to the renet connection (which then owes an ack unless it is one).
    pub(super) fn take_payload(
        &mut self,
        peer: LinkKey,
        payload: &[u8],
        raw_in: &mut VecDeque<(LinkKey, Vec<u8>)>,
        now: Duration,
    ) {
        self.last_payload = now;
        if let Some(body) = raw_body(payload) {
            raw_in.push_back((peer, body));
        } else {
            self.owes_ack |= payload.first() != Some(&RENET_ACK_PACKET);
            self.conn.process_packet(payload);
        }
    }
}
