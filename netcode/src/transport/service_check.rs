//! Whether each rendezvous service the player named answers, and its round trip: the
//! rendezvous part of `netcheck`, sans-IO. It sends the service's unsigned
//! [`Frame::Probe`] (no session needed) and believes an [`Frame::Observed`] only from a
//! service it asked, echoing a nonce it sent.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::rendezvous::{Frame, is_rendezvous};

/// Time between two probes to a service that has not answered (a lost datagram is sent
/// again, so one loss does not read as a dead service).
const RESEND: Duration = Duration::from_millis(250);
/// Probes remembered per service (each answer must echo one of them).
const MAX_SENT: usize = 16;

/// What one rendezvous service said.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RendezvousReport {
    /// The service.
    pub service: SocketAddr,
    /// Whether it answered.
    pub answered: bool,
    /// The round trip of the probe it answered, in ms.
    pub rtt_ms: Option<f64>,
    /// Where it saw us.
    pub observed: Option<SocketAddr>,
}

/// One service being asked.
#[derive(Debug)]
struct Asked {
    service: SocketAddr,
    /// The probes sent: nonce and when.
    sent: Vec<(u64, Duration)>,
    /// Its answer: round trip and where it saw us.
    answer: Option<(Duration, SocketAddr)>,
    next_send: Duration,
}

/// Asks each service once in a while until it answers or [`ServiceCheck::done`] gives up.
#[derive(Debug)]
pub(crate) struct ServiceCheck {
    asked: Vec<Asked>,
    give_up_at: Duration,
    next_nonce: u64,
    out: Vec<(SocketAddr, Vec<u8>)>,
}

impl ServiceCheck {
    /// Starts asking `services` at `now` (duplicates once), giving up after `give_up_after`;
    /// the probes' nonces count up from `nonce`.
    pub(crate) fn new(services: &[SocketAddr], give_up_after: Duration, nonce: u64, now: Duration) -> Self {
        let mut asked: Vec<Asked> = Vec::new();
        for s in services {
            if !asked.iter().any(|a| a.service == *s) {
                asked.push(Asked {
                    service: *s,
                    sent: Vec::new(),
                    answer: None,
                    next_send: now,
                });
            }
        }
        ServiceCheck {
            asked,
            give_up_at: now + give_up_after,
            next_nonce: nonce,
            out: Vec::new(),
        }
    }

    /// Queues the probes due by `now`.
    pub(crate) fn update(&mut self, now: Duration) {
        if now >= self.give_up_at {
            return;
        }
        for a in self
            .asked
            .iter_mut()
            .filter(|a| a.answer.is_none() && a.next_send <= now)
        {
            let nonce = self.next_nonce;
            self.next_nonce = self.next_nonce.wrapping_add(1);
            match (Frame::Probe { nonce }).encode() {
                Ok(bytes) => self.out.push((a.service, bytes)),
                Err(e) => log::warn!("cannot encode a rendezvous probe: {e}"),
            }
            if a.sent.len() == MAX_SENT {
                a.sent.remove(0);
            }
            a.sent.push((nonce, now));
            a.next_send = now + RESEND;
        }
    }

    /// Moves the queued probes into `wire`.
    pub(crate) fn drain(&mut self, wire: &mut Vec<(SocketAddr, Vec<u8>)>) {
        wire.append(&mut self.out);
    }

    /// Takes `bytes` from `from` if it is a rendezvous frame from a service asked (an
    /// answer counts only if it echoes one of our nonces); whether it was one.
    pub(crate) fn handle(&mut self, from: SocketAddr, bytes: &[u8], now: Duration) -> bool {
        if !is_rendezvous(bytes) {
            return false;
        }
        let Some(a) = self.asked.iter_mut().find(|a| a.service == from) else {
            return false;
        };
        match Frame::decode(bytes) {
            Ok(Frame::Observed { nonce, addr }) if a.answer.is_none() => {
                match a.sent.iter().find(|(n, _)| *n == nonce) {
                    Some((_, at)) => a.answer = Some((now.saturating_sub(*at), addr)),
                    None => log::debug!("{from}: an answer to no probe of ours"),
                }
            }
            Ok(_) => {}
            Err(e) => log::debug!("{from}: {e}"),
        }
        true
    }

    /// Whether every service answered, or the time to give up has come.
    pub(crate) fn done(&self, now: Duration) -> bool {
        now >= self.give_up_at || self.asked.iter().all(|a| a.answer.is_some())
    }

    /// What each service said, in the order given.
    pub(crate) fn reports(&self) -> Vec<RendezvousReport> {
        let ms = |d: Duration| (d.as_secs_f64() * 100_000.0).round() / 100.0;
        self.asked
            .iter()
            .map(|a| RendezvousReport {
                service: a.service,
                answered: a.answer.is_some(),
                rtt_ms: a.answer.map(|(rtt, _)| ms(rtt)),
                observed: a.answer.map(|(_, addr)| addr),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn sent(check: &mut ServiceCheck, now: Duration) -> Vec<(SocketAddr, u64)> {
        check.update(now);
        let mut wire = Vec::new();
        check.drain(&mut wire);
        let nonce = |b: &[u8]| match Frame::decode(b) {
            Ok(Frame::Probe { nonce }) => nonce,
            other => panic!("not a probe: {other:?}"),
        };
        wire.iter().map(|(to, b)| (*to, nonce(b))).collect()
    }

    fn observed(nonce: u64, addr: SocketAddr) -> Vec<u8> {
        Frame::Observed { nonce, addr }.encode().unwrap()
    }

    #[test]
    fn an_answering_service_reports_its_round_trip_and_a_silent_one_is_given_up() {
        let (up, down) = ("192.0.2.1:7000".parse().unwrap(), "192.0.2.2:7000".parse().unwrap());
        let me: SocketAddr = "198.51.100.4:5000".parse().unwrap();
        let mut check = ServiceCheck::new(&[up, down, up], at(1000), 40, at(0));
        assert_eq!(sent(&mut check, at(0)), [(up, 40), (down, 41)], "each service once");
        assert_eq!(sent(&mut check, at(100)), [], "nothing due before the resend");
        assert_eq!(sent(&mut check, at(250)), [(up, 42), (down, 43)]);
        // The answer to the first probe, late: the round trip counts from that probe.
        assert!(check.handle(up, &observed(40, me), at(300)));
        assert_eq!(
            sent(&mut check, at(500)),
            [(down, 44)],
            "only the silent one is asked again"
        );
        assert_eq!(sent(&mut check, at(750)), [(down, 45)]);
        assert!(!check.done(at(999)));
        assert!(check.done(at(1000)), "gives up at 1 s");
        assert_eq!(sent(&mut check, at(1000)), [], "nothing after giving up");
        let r = check.reports();
        assert_eq!(
            r[0],
            RendezvousReport {
                service: up,
                answered: true,
                rtt_ms: Some(300.0),
                observed: Some(me),
            }
        );
        assert!(!r[1].answered && r[1].rtt_ms.is_none() && r[1].observed.is_none());
    }

    #[test]
    fn forged_answers_are_ignored() {
        let service: SocketAddr = "192.0.2.1:7000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.9:7000".parse().unwrap();
        let me: SocketAddr = "198.51.100.4:5000".parse().unwrap();
        let mut check = ServiceCheck::new(&[service], at(3000), 7, at(0));
        assert_eq!(sent(&mut check, at(0)), [(service, 7)]);
        assert!(
            !check.handle(stranger, &observed(7, me), at(10)),
            "not from a service asked"
        );
        assert!(check.handle(service, &observed(8, me), at(10)), "a nonce never sent");
        assert!(check.handle(service, b"\xffNCR\x02 garbage", at(10)));
        assert!(!check.handle(service, b"a netcode packet", at(10)));
        assert!(!check.done(at(10)));
        assert!(check.handle(service, &observed(7, me), at(20)));
        assert!(check.done(at(20)), "the one service answered");
        assert_eq!(check.reports()[0].rtt_ms, Some(20.0));
        let none = ServiceCheck::new(&[], at(3000), 0, at(0));
        assert!(none.done(at(0)) && none.reports().is_empty());
    }
}
