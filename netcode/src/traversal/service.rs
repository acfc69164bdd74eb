//! What traversal says to and hears from the rendezvous services: registrations and
//! joins (signed), the observed address, member lists, punch hints, relayed datagrams.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Incoming, Traversal};
use crate::rendezvous::{Frame, MAX_LISTED, Request};

impl Traversal {
    pub(super) fn on_service(&mut self, from: SocketAddr, bytes: &[u8], now: Duration) -> Incoming {
        if !self.cfg.rendezvous.contains(&from) {
            log::debug!("{} {from}: a rendezvous frame from no service of ours", self.tag);
            return Incoming::Consumed;
        }
        let frame = match Frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                log::debug!("{} {from}: {e}", self.tag);
                return Incoming::Consumed;
            }
        };
        match frame {
            Frame::Observed { nonce, addr } if self.asked.contains(&nonce) => self.heard_service(from, addr),
            Frame::Members {
                session,
                observed,
                members,
            } if session == self.session => {
                self.heard_service(from, observed);
                for m in &members {
                    self.learn(m, now);
                    if let Some(r) = self.remotes.get_mut(&m.session_addr()) {
                        r.via.get_or_insert(from);
                    }
                }
                if self.awaiting_members {
                    let listed = self.listed.get_or_insert_with(Vec::new);
                    for m in members {
                        if listed.len() < MAX_LISTED && !listed.iter().any(|l| l.peer == m.peer) {
                            listed.push(m);
                        }
                    }
                }
            }
            Frame::Punch { session, peer } if session == self.session => {
                self.learn(&peer, now);
                if let Some(r) = self.remotes.get_mut(&peer.session_addr()) {
                    r.via.get_or_insert(from);
                    r.next_probe = now;
                    if r.direct.is_none() {
                        r.punch_since = now;
                    }
                }
                self.update_remote(peer.session_addr(), now, &|_| true);
            }
            Frame::Relayed {
                session,
                from: peer,
                payload,
            } if session == self.session => {
                let Some(addr) = self.by_peer.get(&peer).copied() else {
                    return Incoming::Consumed;
                };
                self.stats.service_relayed_in += 1;
                if let Some(r) = self.remotes.get_mut(&addr) {
                    r.seen = now;
                    r.via = Some(from);
                    // The other side found no direct path either: answer the same way.
                    if r.direct.is_none() && r.service.is_none() {
                        r.service = Some(now);
                        self.stats.paths_chosen += 1;
                    }
                }
                return Incoming::Relayed(addr, payload);
            }
            _ => {}
        }
        Incoming::Consumed
    }

    fn heard_service(&mut self, service: SocketAddr, observed: SocketAddr) {
        if self.primary.is_none() {
            self.primary = Some(service);
        }
        if self.primary == Some(service) {
            self.observed = Some(observed);
        }
    }

    pub(super) fn request(&mut self, now: Duration, body: Request) {
        let nonce = self.next_nonce();
        let at_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let frame = self.signer.request(self.me, at_ms, nonce, body);
        self.send_to_services(&frame);
    }

    pub(super) fn send_to_services(&mut self, frame: &Frame) {
        match frame.encode() {
            Ok(bytes) => {
                for s in &self.cfg.rendezvous {
                    self.out.push((*s, bytes.clone()));
                }
            }
            Err(e) => log::warn!("{} cannot encode a rendezvous request: {e}", self.tag),
        }
    }
}
