//! The links of one peer: a renetcode server for the links others dialed, a renetcode
//! client per link this peer dialed, and one renet connection per linked peer.
//!
//! Sans-IO: datagrams and time go in, datagrams and link events come out. The packets
//! are the real encrypted netcode packets, so byte counts match the wire.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use renet::{ConnectionConfig, RenetClient};
use renetcode::{NETCODE_KEY_BYTES, NetcodeClient, NetcodeServer, ServerAuthentication, ServerConfig, ServerResult};

use crate::PeerId;
use crate::config::SessionConfig;
use crate::loss::Arrivals;

mod dial;
mod greeting;
mod key;
#[cfg(test)]
mod pair;
mod raw;
mod state;
mod wire;

pub(crate) use key::{LinkEvent, LinkKey};
use state::Link;

pub(crate) use wire::MAX_RAW_BYTES;
use wire::{
    CONNECTION_REQUEST, CONNECTION_RESPONSE, PACKET_TYPE_MASK, REDUNDANT_COPIES, Role, UNCONFIRMED_TIMEOUT,
    connection_config, seal,
};
pub use wire::{Channel, Transmit};

/// All links of one peer.
pub(crate) struct Links {
    me: PeerId,
    /// What starts its log lines (the session sets it).
    tag: crate::LogTag,
    local_addr: SocketAddr,
    key: [u8; NETCODE_KEY_BYTES],
    protocol_id: u64,
    conn_config: ConnectionConfig,
    token_expire_secs: u64,
    link_timeout_secs: i32,
    server: NetcodeServer,
    dials: BTreeMap<LinkKey, NetcodeClient>,
    /// Dials whose first connection request has not gone out yet.
    fresh_dials: BTreeSet<LinkKey>,
    links: BTreeMap<LinkKey, Link>,
    /// Links with messages queued since the last flush.
    dirty: BTreeSet<LinkKey>,
    /// Memory of each renet channel: a reliable channel with less free holds messages
    /// that still wait for an ack.
    channel_memory: usize,
    /// Links that received packets since the last [`Links::take_received`].
    received: BTreeSet<LinkKey>,
    /// Datagrams that bypassed renet (heartbeats with state), by sender.
    raw_in: VecDeque<(LinkKey, Vec<u8>)>,
    outbox: Vec<Transmit>,
    events: VecDeque<LinkEvent>,
    now: Duration,
    /// Members' public addresses and which session addresses the transport routes.
    addresses: dial::MemberAddresses,
    /// Bytes put on the wire so far.
    pub bytes_sent: u64,
    /// Unreliable messages too large for one datagram, sent through renet's slicing
    /// channel instead.
    pub sliced: u64,
    /// Bytes taken from the wire so far.
    pub bytes_received: u64,
}

impl Links {
    /// Starts its log lines with the session's tag.
    pub(crate) fn set_log_tag(&mut self, tag: crate::LogTag) {
        self.tag = tag;
    }

    pub(crate) fn new(
        me: PeerId,
        local_addr: SocketAddr,
        key: [u8; NETCODE_KEY_BYTES],
        protocol_id: u64,
        config: &SessionConfig,
        now: Duration,
    ) -> Self {
        let server = NetcodeServer::new(ServerConfig {
            current_time: now,
            max_clients: config.max_peers,
            protocol_id,
            public_addresses: vec![local_addr],
            authentication: ServerAuthentication::Secure { private_key: key },
        });
        Links {
            me,
            tag: crate::LogTag::default(),
            local_addr,
            key,
            protocol_id,
            conn_config: connection_config(config),
            token_expire_secs: config.token_expire.as_secs(),
            link_timeout_secs: i32::try_from(config.link_timeout.as_secs()).unwrap_or(i32::MAX),
            server,
            dials: BTreeMap::new(),
            fresh_dials: BTreeSet::new(),
            links: BTreeMap::new(),
            dirty: BTreeSet::new(),
            channel_memory: config.channel_memory_bytes,
            received: BTreeSet::new(),
            raw_in: VecDeque::new(),
            outbox: Vec::new(),
            events: VecDeque::new(),
            now,
            addresses: dial::MemberAddresses::default(),
            bytes_sent: 0,
            sliced: 0,
            bytes_received: 0,
        }
    }

    /// Whether a link to `peer` is up.
    pub(crate) fn is_linked(&self, peer: impl Into<LinkKey>) -> bool {
        let peer: LinkKey = peer.into();
        self.links.contains_key(&peer)
    }

    /// The address the link to `peer` sends to, while it is up.
    pub(crate) fn addr_of(&self, peer: impl Into<LinkKey>) -> Option<SocketAddr> {
        self.links.get(&peer.into()).map(|l| l.addr)
    }

    /// Whether a dial to `peer` is under way or a link is up.
    pub(crate) fn is_linked_or_dialing(&self, peer: impl Into<LinkKey>) -> bool {
        let peer: LinkKey = peer.into();
        self.links.contains_key(&peer) || self.dials.contains_key(&peer)
    }

    /// Moves a link (and its dial) to another key, once the remote peer's id is known.
    pub(crate) fn rekey(&mut self, from: LinkKey, to: PeerId) {
        let to = LinkKey::Peer(to);
        if from == to {
            return;
        }
        if let Some(dial) = self.dials.remove(&from) {
            if self.fresh_dials.remove(&from) {
                self.fresh_dials.insert(to);
            }
            self.dials.insert(to, dial);
        }
        if let Some(link) = self.links.remove(&from) {
            self.links.insert(to, link);
        }
    }

    /// Marks the link to `peer` as proven: its remote end showed it holds the seat's key.
    pub(crate) fn prove(&mut self, peer: impl Into<LinkKey>) {
        if let Some(link) = self.links.get_mut(&peer.into()) {
            link.proven = true;
        }
    }

    /// Whether the link to `peer` is up and proven (see [`Links::prove`]).
    pub(crate) fn is_proven(&self, peer: impl Into<LinkKey>) -> bool {
        self.links.get(&peer.into()).is_some_and(|l| l.proven)
    }

    /// Links up for longer than `grace` that are still not proven.
    pub(crate) fn unproven_for(&self, grace: Duration) -> impl Iterator<Item = LinkKey> + '_ {
        self.links
            .iter()
            .filter(move |(_, l)| !l.proven && self.now.saturating_sub(l.since) > grace)
            .map(|(k, _)| *k)
    }

    /// Linked peers that received packets since the last call (and so may hold messages).
    pub(crate) fn take_received(&mut self) -> BTreeSet<LinkKey> {
        std::mem::take(&mut self.received)
    }

    /// Linked peers.
    pub(crate) fn linked(&self) -> impl Iterator<Item = LinkKey> + '_ {
        self.links.keys().copied()
    }

    /// Sends the packets of the next flush to `peer` twice: for the messages of an
    /// admission (join or rejoin request, admit, welcome), where a single loss would cost a
    /// renet resend (150 ms) on the path a player waits on. netcode drops the second copy
    /// of a payload as a replay, so the receiver sees each message once.
    pub(crate) fn make_redundant(&mut self, peer: impl Into<LinkKey>) {
        let peer: LinkKey = peer.into();
        if let Some(link) = self.links.get_mut(&peer) {
            link.redundant = true;
        }
    }

    /// Round-trip time of a link, in seconds.
    pub(crate) fn rtt(&self, peer: impl Into<LinkKey>) -> Option<f64> {
        let peer: LinkKey = peer.into();
        self.links.get(&peer).map(|l| l.conn.rtt())
    }

    /// Packet loss from a peer toward us on its link, as a fraction of its last netcode
    /// packets ([`crate::loss`]); `None` before anything arrived on the link.
    pub(crate) fn packet_loss(&self, peer: impl Into<LinkKey>) -> Option<f64> {
        let peer: LinkKey = peer.into();
        self.links.get(&peer).and_then(|l| l.arrivals.loss())
    }

    /// Bytes sent to and received from a peer's address since its direct link came up:
    /// every datagram on the wire (renet's packets, raw datagrams, netcode's keep-alives).
    pub(crate) fn link_bytes(&self, peer: impl Into<LinkKey>) -> Option<(u64, u64)> {
        let peer: LinkKey = peer.into();
        self.links.get(&peer).map(|l| (l.sent, l.received))
    }

    /// Puts a handshake packet on the wire [`REDUNDANT_COPIES`] times.
    fn push_handshake(&mut self, to: SocketAddr, bytes: &[u8]) {
        for _ in 0..REDUNDANT_COPIES {
            self.push(to, bytes);
        }
    }

    fn push(&mut self, to: SocketAddr, bytes: &[u8]) {
        self.bytes_sent += bytes.len() as u64;
        if let Some(link) = self.links.values_mut().find(|l| l.addr == to) {
            link.sent += bytes.len() as u64;
        }
        self.outbox.push(Transmit {
            from: self.local_addr,
            to,
            bytes: bytes.to_vec(),
        });
    }

    fn new_link(&mut self, peer: LinkKey, role: Role, addr: SocketAddr) {
        log::debug!("{} linked to {peer} at {addr} ({role:?})", self.tag);
        let mut conn = RenetClient::new(self.conn_config.clone());
        conn.set_connected();
        let confirmed = role == Role::Dialed;
        let updated = self.now;
        let link = Link {
            role,
            addr,
            conn,
            updated,
            since: updated,
            confirmed,
            owes_ack: false,
            redundant: false,
            sent: 0,
            received: 0,
            arrivals: Arrivals::default(),
            proven: false,
            greeted: peer == LinkKey::Contact,
            held: Vec::new(),
            held_bytes: 0,
            last_payload: updated,
        };
        if let Some(old) = self.links.insert(peer, link) {
            // The newest connection wins: an older one to the same peer is stale.
            if old.role == Role::Accepted && role == Role::Dialed {
                self.drop_server_slot(peer);
            }
            self.events.push_back(LinkEvent::Disconnected(peer));
        }
        if role == Role::Accepted {
            self.dials.remove(&peer);
        }
        self.events.push_back(LinkEvent::Connected(peer));
    }

    fn drop_server_slot(&mut self, peer: LinkKey) {
        // Only members dial us; the contact is always a link we dialed.
        let LinkKey::Peer(PeerId(client_id)) = peer else { return };
        if let ServerResult::ClientDisconnected {
            addr, payload: Some(p), ..
        } = self.server.disconnect(client_id)
        {
            let bytes = p.to_vec();
            self.push(addr, &bytes);
        }
    }

    /// Takes one datagram from the wire.
    pub(crate) fn handle_datagram(&mut self, from: SocketAddr, bytes: &mut [u8]) {
        let wire = bytes.len() as u64;
        self.bytes_received += wire;
        if let Some(link) = self.links.values_mut().find(|l| l.addr == from) {
            link.received += wire;
            // Read from the clear header before decryption: a forged datagram from the
            // peer's address could skew this figure, and nothing else.
            if let Some(seq) = crate::loss::sequence(bytes) {
                link.arrivals.record(seq);
            }
        }
        // Demultiplex: a datagram from a peer we dialed belongs to that dial's client,
        // except the two packets only a client sends (a connection request or response):
        // those come from a peer dialing us from the address we are dialing, as a member
        // that restarted on its old address and port does while we still redial it.
        let client_only = bytes
            .first()
            .is_some_and(|b| matches!(b & PACKET_TYPE_MASK, CONNECTION_REQUEST | CONNECTION_RESPONSE));
        if bytes
            .first()
            .is_some_and(|b| b & PACKET_TYPE_MASK == CONNECTION_REQUEST)
        {
            self.drop_silent_link_dialing_again(from);
        }
        let dialed = (!client_only).then(|| self.dial_answering(from)).flatten();
        if let Some(peer) = dialed {
            let client = self.dials.get_mut(&peer).expect("dial present");
            let was_connected = client.is_connected();
            let payload = client.process_packet(bytes).map(<[u8]>::to_vec);
            let connected = client.is_connected();
            if connected && !was_connected {
                self.new_link(peer, Role::Dialed, from);
            }
            if let (Some(p), Some(link)) = (payload, self.links.get_mut(&peer)) {
                link.take_payload(peer, &p, &mut self.raw_in, self.now);
                self.received.insert(peer);
            }
            return;
        }
        // The server answers a datagram with a packet only in the handshake (a challenge,
        // or the keep-alive that connects), or with a disconnect.
        let (out, event) = match self.server.process_packet(from, bytes) {
            ServerResult::None => (None, None),
            ServerResult::PacketToSend { addr, payload } => (Some((addr, payload.to_vec())), None),
            ServerResult::Payload { client_id, payload } => {
                if let Some(link) = self.links.get_mut(&LinkKey::Peer(PeerId(client_id))) {
                    link.confirmed = true;
                    link.take_payload(LinkKey::Peer(PeerId(client_id)), payload, &mut self.raw_in, self.now);
                    self.received.insert(LinkKey::Peer(PeerId(client_id)));
                }
                (None, None)
            }
            ServerResult::ClientConnected {
                client_id,
                addr,
                payload,
                ..
            } => (
                Some((addr, payload.to_vec())),
                Some((LinkKey::Peer(PeerId(client_id)), addr, true)),
            ),
            ServerResult::ClientDisconnected {
                client_id,
                addr,
                payload,
            } => (
                payload.map(|p| (addr, p.to_vec())),
                Some((LinkKey::Peer(PeerId(client_id)), addr, false)),
            ),
        };
        if let Some((addr, bytes)) = out {
            if matches!(event, Some((_, _, false))) {
                self.push(addr, &bytes);
            } else {
                self.push_handshake(addr, &bytes);
            }
        }
        match event {
            Some((peer, addr, true)) => self.new_link(peer, Role::Accepted, addr),
            Some((peer, _, false)) => self.lose(peer, Role::Accepted),
            None => {}
        }
    }

    fn lose(&mut self, peer: LinkKey, role: Role) {
        if self.links.get(&peer).is_some_and(|l| l.role == role) {
            self.links.remove(&peer);
            self.events.push_back(LinkEvent::Disconnected(peer));
        }
    }

    /// Advances time: netcode keep-alives, timeouts, dial progress, renet resends.
    pub(crate) fn update(&mut self, now: Duration) {
        let dt = now.saturating_sub(self.now);
        self.now = now;
        self.server.update(dt);
        for id in self.server.clients_id() {
            match self.server.update_client(id) {
                ServerResult::PacketToSend { addr, payload } => {
                    let bytes = payload.to_vec();
                    self.push(addr, &bytes);
                }
                ServerResult::ClientDisconnected {
                    client_id,
                    addr,
                    payload,
                } => {
                    if let Some(p) = payload {
                        let bytes = p.to_vec();
                        self.push(addr, &bytes);
                    }
                    self.lose(LinkKey::Peer(PeerId(client_id)), Role::Accepted);
                }
                _ => {}
            }
        }
        let mut failed = Vec::new();
        let mut packets = Vec::new();
        for (peer, client) in &mut self.dials {
            let handshake = client.is_connecting();
            if let Some((bytes, addr)) = client.update(dt) {
                // Connection requests (1 KB each, resent every 250 ms to a peer that may be
                // gone) go twice only on a dial's first try; responses always.
                let request = bytes.first() == Some(&CONNECTION_REQUEST);
                let first = self.fresh_dials.remove(peer);
                packets.push((addr, bytes.to_vec(), handshake && (first || !request)));
            }
            if client.is_disconnected() {
                failed.push(*peer);
            }
        }
        let dials = &self.dials;
        self.fresh_dials.retain(|p| dials.contains_key(p));
        for (addr, bytes, handshake) in packets {
            if handshake {
                self.push_handshake(addr, &bytes);
            } else {
                self.push(addr, &bytes);
            }
        }
        for peer in failed {
            if let Some(c) = self.dials.remove(&peer) {
                log::debug!("{} dial of {peer} ended: {:?}", self.tag, c.disconnect_reason());
            }
            if self.links.get(&peer).is_some_and(|l| l.role == Role::Dialed) {
                self.links.remove(&peer);
                self.events.push_back(LinkEvent::Disconnected(peer));
            } else {
                self.events.push_back(LinkEvent::DialFailed(peer));
            }
        }
        // A link the dialer never confirmed is half open (the dialer gave up while we
        // accepted): drop it, or its slot would make netcode ignore the dialer's next try.
        let half_open = |l: &Link| !l.confirmed && now.saturating_sub(l.since) > UNCONFIRMED_TIMEOUT;
        let broken: Vec<LinkKey> = self
            .links
            .iter()
            .filter(|(_, l)| l.conn.is_disconnected() || half_open(l))
            .map(|(p, _)| *p)
            .collect();
        for peer in broken {
            log::debug!(
                "{} renet connection to {peer} broke: {:?}",
                self.tag,
                self.links[&peer].conn.disconnect_reason()
            );
            self.disconnect(peer);
        }
    }

    /// Queues a message; returns false (and drops it) when the channel is full.
    /// An `urgent` message leaves at the next flush; others wait for the send cadence, so
    /// that state updates share packets with heartbeats. Before our hello on the link a
    /// reliable message waits for it and an unreliable one is dropped (see
    /// [`Links::greet`]).
    pub(crate) fn send(&mut self, peer: impl Into<LinkKey>, channel: Channel, bytes: Vec<u8>, urgent: bool) -> bool {
        let peer: LinkKey = peer.into();
        if self.links.get(&peer).is_some_and(|l| !l.greeted) {
            return self.hold(peer, channel, bytes, urgent);
        }
        self.send_now(peer, channel, bytes, urgent)
    }

    /// Queues a message on the link to `peer` whether or not we greeted it.
    fn send_now(&mut self, peer: LinkKey, channel: Channel, bytes: Vec<u8>, urgent: bool) -> bool {
        match self.links.get_mut(&peer) {
            Some(link) if link.conn.can_send_message(channel.id(), bytes.len()) => {
                link.conn.send_message(channel.id(), bytes);
                if urgent {
                    self.dirty.insert(peer);
                }
                true
            }
            _ => false,
        }
    }

    /// Free memory of `channel` on the link to `peer`, in bytes (0 without a link): how
    /// large a message it takes now. Before our hello, what the link holds for after it
    /// counts against every channel (see `Links::hold`): a transfer that pumps by this
    /// sees it fill up.
    pub(crate) fn room(&self, peer: impl Into<LinkKey>, channel: Channel) -> usize {
        let peer: LinkKey = peer.into();
        self.links.get(&peer).map_or(0, |link| {
            let free = link.conn.channel_available_memory(channel.id());
            if link.greeted {
                free
            } else {
                free.min(self.channel_memory.saturating_sub(link.held_bytes))
            }
        })
    }

    /// Takes the next received message of a linked peer on a channel.
    pub(crate) fn receive(&mut self, peer: impl Into<LinkKey>, channel: Channel) -> Option<Vec<u8>> {
        let peer: LinkKey = peer.into();
        self.links
            .get_mut(&peer)?
            .conn
            .receive_message(channel.id())
            .map(|b| b.to_vec())
    }

    /// Closes the link to `peer` (and its netcode slot, so that it can reconnect at once).
    pub(crate) fn disconnect(&mut self, peer: impl Into<LinkKey>) {
        let peer: LinkKey = peer.into();
        if let Some(mut client) = self.dials.remove(&peer)
            && let Ok((addr, bytes)) = client.disconnect()
        {
            let bytes = bytes.to_vec();
            self.push(addr, &bytes);
        }
        self.drop_server_slot(peer);
        if self.links.remove(&peer).is_some() {
            self.events.push_back(LinkEvent::Disconnected(peer));
        }
    }

    /// Turns queued renet packets into encrypted datagrams: on every link when `all`
    /// (the send cadence: renet adds an ack packet to each call, so calling it every tick
    /// would multiply the packet count), otherwise only where messages were queued.
    pub(crate) fn flush(&mut self, all: bool) {
        let mut out = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        let memory = self.channel_memory;
        for (peer, link) in &mut self.links {
            // Cheapest checks first: asking renet for a channel's memory costs most.
            let reliable = [Channel::ReliableOrdered, Channel::ReliableUnordered];
            let busy = || {
                link.owes_ack
                    || !link.confirmed
                    || reliable
                        .iter()
                        .any(|c| link.conn.channel_available_memory(c.id()) < memory)
            };
            if !(dirty.contains(peer) || (all && busy())) {
                continue;
            }
            link.owes_ack = false;
            link.conn.update(self.now.saturating_sub(link.updated));
            link.updated = self.now;
            if !link.confirmed {
                continue;
            }
            let copies = if std::mem::take(&mut link.redundant) {
                REDUNDANT_COPIES
            } else {
                1
            };
            for packet in link.conn.get_packets_to_send() {
                let Some(sealed) = seal(&mut self.server, &mut self.dials, *peer, link.role, &packet) else {
                    continue;
                };
                match sealed {
                    Ok((addr, bytes)) => out.extend(std::iter::repeat_n((addr, bytes), copies)),
                    Err(e) => log::debug!("{} cannot seal packet for {peer} at {}: {e}", self.tag, link.addr),
                }
            }
        }
        for (addr, bytes) in out {
            self.push(addr, &bytes);
        }
    }

    /// Takes the datagrams produced so far.
    pub(crate) fn drain_transmits(&mut self, into: &mut Vec<Transmit>) {
        into.append(&mut self.outbox);
    }

    pub(crate) fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }
}
