//! What goes on the wire of a link: the raw-datagram mark, netcode's packet types, the
//! renet channels, the transmits, sealing a payload with the link's netcode connection,
//! and renet's configuration.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use renet::{ChannelConfig, ConnectionConfig, SendType};
use renetcode::{NetcodeClient, NetcodeError, NetcodeServer};

use super::LinkKey;
use crate::config::SessionConfig;

/// The bit set in the first byte of a payload that bypasses renet. Renet's own packets
/// start with their packet type, a small number (0 to 6), so the bit is free there; a raw
/// body's first byte must leave it clear (a heartbeat frame's flags do), and the link
/// borrows it instead of adding a tag byte to every datagram.
pub(super) const RAW_BIT: u8 = 0x80;
/// The first byte of a renet packet that carries only acknowledgements. Renet acks every
/// packet it gets, acks included, so two idle renet connections would trade ack packets
/// forever; a link flushes on the cadence only when it owes an ack for data or has
/// reliable messages of its own waiting for one.
pub(super) const RENET_ACK_PACKET: u8 = 4;
/// Largest datagram body that bypasses renet (netcode's payload limit).
pub(crate) const MAX_RAW_BYTES: usize = renetcode::NETCODE_MAX_PAYLOAD_BYTES;

/// The body of a payload that bypassed renet (its first byte with [`RAW_BIT`] cleared), or
/// `None` for a renet packet.
pub(super) fn raw_body(payload: &[u8]) -> Option<Vec<u8>> {
    let (&first, rest) = payload.split_first()?;
    (first & RAW_BIT != 0).then(|| {
        let mut body = Vec::with_capacity(payload.len());
        body.push(first & !RAW_BIT);
        body.extend_from_slice(rest);
        body
    })
}

/// Copies put on the wire of each handshake packet (connection request, challenge,
/// response, the keep-alive that connects) and of each datagram on a redundant link
/// ([`Links::make_redundant`]). renetcode resends a lost handshake packet only after
/// 250 ms, so a single loss on a 5%-lossy path made a dial a quarter of a second slower; a
/// second copy makes that a loss of both (0.25%), for four small extra datagrams per dial.
pub(super) const REDUNDANT_COPIES: usize = 2;

/// The first byte of a netcode connection request (its packet type, unencrypted).
pub(super) const CONNECTION_REQUEST: u8 = 0;
/// The packet type of a netcode connection response (client to server).
pub(super) const CONNECTION_RESPONSE: u8 = 3;
/// The packet type's bits in a netcode packet's first byte (the high nibble is the
/// sequence number's length).
pub(super) const PACKET_TYPE_MASK: u8 = 0x0F;

/// How long an accepted link may wait for the dialer's first payload.
pub(super) const UNCONFIRMED_TIMEOUT: Duration = Duration::from_secs(1);

/// Renet channel a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Heartbeats and state: latest wins, losses are fine.
    Unreliable,
    /// Large full snapshots (store syncs) where order does not matter.
    ReliableUnordered,
    /// Control: roster, join, leave, host change, store updates.
    ReliableOrdered,
}

impl Channel {
    /// The renet channel id (renet's `DefaultChannel` numbering).
    pub fn id(self) -> u8 {
        match self {
            Channel::Unreliable => 0,
            Channel::ReliableUnordered => 1,
            Channel::ReliableOrdered => 2,
        }
    }
}

/// A datagram to put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Sender address (this peer's listen address).
    pub from: SocketAddr,
    /// Destination address.
    pub to: SocketAddr,
    /// The encrypted netcode packet.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The remote peer dialed us: it lives in our netcode server.
    Accepted,
    /// We dialed the remote peer: it has its own netcode client.
    Dialed,
}

/// A payload sealed for the wire (its destination and bytes), `None` when the link has
/// no netcode connection to seal with (a dial that went away).
pub(super) type Sealed = Option<Result<(SocketAddr, Vec<u8>), NetcodeError>>;

/// Seals `payload` for `peer` with the netcode connection its link uses: our server's slot
/// for a peer that dialed us, our client for a peer we dialed.
pub(super) fn seal(
    server: &mut NetcodeServer,
    dials: &mut BTreeMap<LinkKey, NetcodeClient>,
    peer: LinkKey,
    role: Role,
    payload: &[u8],
) -> Sealed {
    let sealed = match (role, peer) {
        (Role::Accepted, LinkKey::Peer(id)) => server.generate_payload_packet(id.0, payload),
        // Only members dial us.
        (Role::Accepted, LinkKey::Contact) => return None,
        (Role::Dialed, _) => dials.get_mut(&peer)?.generate_payload_packet(payload),
    };
    Some(sealed.map(|(addr, bytes)| (addr, bytes.to_vec())))
}

pub(super) fn connection_config(config: &SessionConfig) -> ConnectionConfig {
    let resend_time = config.reliable_resend;
    let channels = vec![
        ChannelConfig {
            channel_id: Channel::Unreliable.id(),
            max_memory_usage_bytes: config.channel_memory_bytes,
            send_type: SendType::Unreliable,
        },
        // Renet fills each packet flush channel by channel in this order, within
        // `available_bytes_per_tick`: control (ordered) before store transfers (unordered),
        // so that a store in transfer never holds up a roster or an admission.
        ChannelConfig {
            channel_id: Channel::ReliableOrdered.id(),
            max_memory_usage_bytes: config.channel_memory_bytes,
            send_type: SendType::ReliableOrdered { resend_time },
        },
        ChannelConfig {
            channel_id: Channel::ReliableUnordered.id(),
            max_memory_usage_bytes: config.channel_memory_bytes,
            send_type: SendType::ReliableUnordered { resend_time },
        },
    ];
    ConnectionConfig {
        available_bytes_per_tick: ConnectionConfig::default().available_bytes_per_tick,
        server_channels_config: channels.clone(),
        client_channels_config: channels,
    }
}
