//! Datagrams beside renet: a heartbeat that fits one packet goes straight through netcode,
//! without renet's header or ack (its first byte marked with `RAW_BIT`).

use super::wire::{MAX_RAW_BYTES, RAW_BIT, seal};
use super::{LinkKey, Links};

impl Links {
    /// Sends one unreliable datagram straight through netcode, beside renet: one packet,
    /// no renet header, no ack. Returns false when it is too large, empty, its first byte
    /// has [`RAW_BIT`] set, or the link is not up.
    pub(crate) fn send_datagram(&mut self, peer: impl Into<LinkKey>, bytes: &[u8]) -> bool {
        let peer: LinkKey = peer.into();
        let Some(link) = self.links.get(&peer) else {
            return false;
        };
        let Some((&first, _)) = bytes.split_first() else {
            return false;
        };
        if !link.confirmed || !link.greeted || bytes.len() > MAX_RAW_BYTES || first & RAW_BIT != 0 {
            return false;
        }
        let mut payload = bytes.to_vec();
        payload[0] |= RAW_BIT;
        let Some(sealed) = seal(&mut self.server, &mut self.dials, peer, link.role, &payload) else {
            return false;
        };
        match sealed {
            Ok((addr, bytes)) => {
                self.push(addr, &bytes);
                true
            }
            Err(e) => {
                log::debug!("{} cannot seal datagram for {peer}: {e}", self.tag);
                false
            }
        }
    }

    /// Takes the next datagram that bypassed renet.
    pub(crate) fn receive_datagram(&mut self) -> Option<(LinkKey, Vec<u8>)> {
        self.raw_in.pop_front()
    }
}
