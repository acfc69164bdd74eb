//! Probing a member's candidate addresses: answering a probe (and latching where it came
//! from), believing a reply only from where our probe went, and choosing the path that
//! answered.

use std::net::SocketAddr;
use std::time::Duration;

use super::probe::Probe;
use super::{Direct, LATCHED_PER_REMOTE, REPLY_WITHIN, SENT_NONCES, Traversal, mesh};
use crate::reach::DirectPath;

impl Traversal {
    pub(super) fn on_probe(&mut self, from: SocketAddr, p: Probe, now: Duration) {
        self.stats.probes_received += 1;
        let addr = p.sender_addr;
        if Some(addr) == self.addr {
            return;
        }
        match p.reply_to {
            None => {
                // A request: answer where it came from, and map that address to the
                // member (latching: a symmetric NAT's probes come from a port nobody
                // listed). Each member keeps its few newest latched addresses.
                let Some(r) = self.remote(addr, p.sender, now) else {
                    return;
                };
                r.seen = now;
                r.add_candidate(from);
                let mut unlatched = None;
                if !r.latched.contains(&from) {
                    if r.latched.len() >= LATCHED_PER_REMOTE
                        && let Some(old) = r.latched.pop_front()
                        && r.direct.is_none_or(|d| d.addr != old)
                    {
                        unlatched = Some(old);
                    }
                    r.latched.push_back(from);
                }
                if let Some(old) = unlatched {
                    self.by_path.remove(&old);
                }
                self.by_path.insert(from, addr);
                self.send_probe(from, Some(p.nonce), now);
            }
            Some(n) => {
                // A reply: believed once, soon, and only from where our probe went.
                match self.sent.remove(&n) {
                    Some((to, at)) if to == from && now.saturating_sub(at) <= REPLY_WITHIN => {
                        if let Some(r) = self.remotes.get_mut(&addr) {
                            r.seen = now;
                        }
                        self.choose(addr, from, now);
                    }
                    _ => log::debug!("{} {from}: a reply to no probe of ours", self.tag),
                }
            }
        }
    }

    /// A probe from us to `from` was answered: the path works both ways. A LAN path
    /// beats an internet one; a working path is not changed for another of its kind.
    fn choose(&mut self, addr: SocketAddr, path: SocketAddr, now: Duration) {
        let Some(r) = self.remotes.get_mut(&addr) else { return };
        let kind = mesh::path_kind(r, path);
        if let Some(d) = r.direct.as_mut().filter(|d| d.addr == path) {
            d.heard = now;
            return;
        }
        let better = match r.direct {
            None => true,
            Some(d) => d.kind != DirectPath::Lan && kind == DirectPath::Lan,
        };
        if !better {
            return;
        }
        self.by_path.insert(path, addr);
        log::debug!("{} path to {addr}: {path} ({kind:?})", self.tag);
        r.direct = Some(Direct {
            addr: path,
            kind,
            heard: now,
        });
        r.service = None;
        r.next_probe = now + self.cfg.keepalive_every;
        self.stats.paths_chosen += 1;
        let pending: Vec<Vec<u8>> = r.pending.drain(..).collect();
        self.out.extend(pending.into_iter().map(|b| (path, b)));
    }

    pub(super) fn send_probe(&mut self, to: SocketAddr, reply_to: Option<u64>, now: Duration) {
        let Some(sender_addr) = self.addr else { return };
        let nonce = self.next_nonce();
        if reply_to.is_none() {
            if self.sent.len() >= SENT_NONCES {
                self.sent.retain(|_, (_, at)| now.saturating_sub(*at) <= REPLY_WITHIN);
            }
            if self.sent.len() < SENT_NONCES {
                self.sent.insert(nonce, (to, now));
            }
        }
        let probe = Probe {
            session: self.session,
            sender: self.me,
            sender_addr,
            nonce,
            reply_to,
        };
        self.stats.probes_sent += 1;
        self.out.push((to, self.probes.seal(&probe)));
    }

    pub(super) fn next_nonce(&mut self) -> u64 {
        self.nonce = self.nonce.wrapping_add(1);
        self.nonce
    }
}
