//! Reflexive addresses from STUN servers, on the game socket (RFC 8489 Binding), sans-IO.
//!
//! A NAT mapping belongs to one socket, so a peer asks from the socket its netcode
//! packets, rendezvous frames and path probes already share. [`StunClient`] sends one
//! Binding request to each configured server and learns where each saw it come from (the
//! *reflexive* address); when two servers at different addresses answered it can also
//! tell the NAT's mapping behaviour ([`NatMapping`]).
//!
//! Demultiplexing: [`StunClient::handle`] takes a datagram only when it is shaped like
//! STUN ([`is_stun`]: first bits, magic cookie, length), carries the transaction id of a
//! request we sent, and comes from the address that request went to. Anything else goes
//! on to the next owner (traversal, then the session): a netcode packet is never taken
//! (its transaction id cannot match), and a forged reply changes nothing (it is counted
//! in [`StunStats::ignored`]).
//!
//! Timing, chosen for a game rather than RFC 8489's 500 ms first RTO and 39.5 s budget:
//! a request goes out at once, again after 250 ms, then each wait doubles (sends at 0,
//! 250, 750 and 1750 ms), and a server that did not answer within 3 s is given up
//! ([`StunConfig`]). No answer (offline, a LAN party) costs four small datagrams per
//! server and logs at debug only.

mod codec;

pub use codec::{
    Answer, HEADER_BYTES, MAGIC_COOKIE, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES, Response, StunError, TransactionId,
    binding_request, decode_response, is_stun, transaction_of,
};
#[cfg(any(test, feature = "test-util"))]
pub use codec::{binding_error, binding_success};

use std::net::SocketAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Well-known public STUN servers, asked only when the player chooses online play (`game
/// host --online`, the `peer` program's `--online`): resolved then, never by default, and
/// never in a test, bench or example run (`--stun HOST:PORT` or `NETCODE_STUN` name other
/// servers instead).
pub const PUBLIC_STUN_SERVERS: [&str; 3] = [
    "stun.l.google.com:19302",
    "stun1.l.google.com:19302",
    "stun.cloudflare.com:3478",
];

/// Most servers asked at once.
pub const MAX_STUN_SERVERS: usize = 8;

/// Which STUN servers to ask, and when to ask again. Every field's default is in its doc.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StunConfig {
    /// Servers to ask (at most [`MAX_STUN_SERVERS`] are used). Default: none (nothing is
    /// sent to any address the player did not give).
    pub servers: Vec<SocketAddr>,
    /// Wait before the first retransmission; each later wait doubles. Default: 250 ms.
    pub first_retransmit: Duration,
    /// A server that has not answered this long after the first request is given up.
    /// Default: 3 s.
    pub give_up_after: Duration,
}

impl Default for StunConfig {
    fn default() -> Self {
        StunConfig {
            servers: Vec::new(),
            first_retransmit: Duration::from_millis(250),
            give_up_after: Duration::from_secs(3),
        }
    }
}

crate::config::setters!(StunConfig {
    servers: Vec<SocketAddr>,
    first_retransmit: Duration,
    give_up_after: Duration,
});

/// How the NAT in front of the socket maps it, told by comparing what servers at
/// different addresses saw (RFC 4787's mapping behaviour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatMapping {
    /// Fewer than two servers at different addresses answered.
    #[default]
    Unknown,
    /// Every server saw the same address: a peer that learns it can reach us there once
    /// our side has sent to it (port-restricted or full cone, or no NAT).
    EndpointIndependent,
    /// Servers saw different addresses: a new mapping per destination ("symmetric");
    /// a reflexive address is useless to others, punching needs latching or a relay.
    EndpointDependent,
}

impl NatMapping {
    /// The behaviour as one word, as the `peer` program's status lines print it:
    /// `unknown`, `endpoint-independent`, `endpoint-dependent`.
    pub fn word(self) -> &'static str {
        match self {
            NatMapping::Unknown => "unknown",
            NatMapping::EndpointIndependent => "endpoint-independent",
            NatMapping::EndpointDependent => "endpoint-dependent",
        }
    }
}

/// What one server said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunOutcome {
    /// Not asked yet, or still waiting.
    Pending,
    /// It saw us at this address.
    Reflexive(SocketAddr),
    /// It answered with an error response (the code).
    Refused(u16),
    /// No answer within [`StunConfig::give_up_after`].
    Silent,
}

/// Counters of the STUN client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StunStats {
    /// Binding requests sent, retransmissions included.
    pub requests_sent: u64,
    /// Answers taken (success or error), retransmitted duplicates included.
    pub answers: u64,
    /// STUN-shaped datagrams not taken: an unknown transaction id, a wrong source, or an
    /// answer that does not decode.
    pub ignored: u64,
}

#[derive(Debug, Clone)]
struct Query {
    server: SocketAddr,
    transaction: TransactionId,
    outcome: StunOutcome,
    started: Duration,
    next_send: Duration,
    wait: Duration,
}

/// A STUN binding client for one socket (see the module docs).
#[derive(Debug)]
pub struct StunClient {
    cfg: StunConfig,
    seed: u64,
    counter: u64,
    queries: Vec<Query>,
    out: Vec<(SocketAddr, Vec<u8>)>,
    stats: StunStats,
}

impl StunClient {
    /// A client asking `cfg.servers`; `seed` makes its transaction ids (a random number
    /// in a real peer, a fixed one in the simulator, so runs repeat). Nothing is sent
    /// before [`StunClient::start`].
    pub fn new(cfg: StunConfig, seed: u64) -> Self {
        let mut servers = cfg.servers.clone();
        servers.dedup();
        servers.truncate(MAX_STUN_SERVERS);
        let queries = servers
            .into_iter()
            .map(|server| Query {
                server,
                transaction: [0; 12],
                outcome: StunOutcome::Pending,
                started: Duration::MAX,
                next_send: Duration::MAX,
                wait: cfg.first_retransmit,
            })
            .collect();
        StunClient {
            cfg,
            seed,
            counter: 0,
            queries,
            out: Vec::new(),
            stats: StunStats::default(),
        }
    }

    /// Asks every server (again, with new transaction ids: answers to earlier requests
    /// are no longer taken). The requests go out with the next [`StunClient::update`].
    pub fn start(&mut self, now: Duration) {
        for i in 0..self.queries.len() {
            let transaction = self.next_transaction();
            let q = &mut self.queries[i];
            q.transaction = transaction;
            q.outcome = StunOutcome::Pending;
            q.started = now;
            q.next_send = now;
            q.wait = self.cfg.first_retransmit;
        }
        self.update(now);
    }

    /// Looks at a datagram from the socket: `true` when it was an answer to one of our
    /// requests, from the server it went to (then nobody else should see it).
    pub fn handle(&mut self, from: SocketAddr, bytes: &[u8], now: Duration) -> bool {
        if !is_stun(bytes) {
            return false;
        }
        let Some(transaction) = transaction_of(bytes) else {
            return false;
        };
        let Some(q) = self
            .queries
            .iter_mut()
            .find(|q| q.transaction == transaction && q.started != Duration::MAX)
        else {
            self.stats.ignored += 1;
            log::debug!("{from}: a STUN message with no transaction of ours");
            return false;
        };
        if q.server != from {
            self.stats.ignored += 1;
            log::debug!("{from}: an answer to our STUN request to {}, from elsewhere", q.server);
            return false;
        }
        let response = match decode_response(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.stats.ignored += 1;
                log::debug!("{from}: STUN answer: {e}");
                return true;
            }
        };
        self.stats.answers += 1;
        if q.outcome == StunOutcome::Pending || matches!(q.outcome, StunOutcome::Silent) {
            q.outcome = match response.answer {
                Answer::Mapped(addr) => {
                    log::debug!(
                        "STUN server {from} sees us at {addr} after {:?}",
                        now.saturating_sub(q.started)
                    );
                    StunOutcome::Reflexive(addr)
                }
                Answer::Error(code) => {
                    log::debug!("STUN server {from} refused our request: error {code}");
                    StunOutcome::Refused(code)
                }
            };
            q.next_send = Duration::MAX;
        }
        true
    }

    /// Advances time: sends what is due, gives up on servers silent too long.
    pub fn update(&mut self, now: Duration) {
        for q in &mut self.queries {
            if q.outcome != StunOutcome::Pending || now < q.next_send {
                continue;
            }
            if now.saturating_sub(q.started) >= self.cfg.give_up_after {
                log::debug!(
                    "STUN server {} did not answer within {:?}",
                    q.server,
                    self.cfg.give_up_after
                );
                q.outcome = StunOutcome::Silent;
                q.next_send = Duration::MAX;
                continue;
            }
            self.out.push((q.server, binding_request(&q.transaction)));
            self.stats.requests_sent += 1;
            // The next send, or the give-up check, whichever comes first.
            let next = now + q.wait;
            q.wait = q.wait.saturating_mul(2);
            q.next_send = next.min(q.started + self.cfg.give_up_after);
        }
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }

    /// Every datagram to send, appended to `into`.
    pub fn drain(&mut self, into: &mut Vec<(SocketAddr, Vec<u8>)>) {
        into.append(&mut self.out);
    }

    /// When [`StunClient::update`] is next needed (a retransmission or a give-up), if
    /// anything is pending.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.queries
            .iter()
            .filter(|q| q.outcome == StunOutcome::Pending)
            .map(|q| q.next_send)
            .filter(|t| *t != Duration::MAX)
            .min()
    }

    /// Whether every server answered or was given up (or none is configured).
    pub fn done(&self) -> bool {
        self.queries.iter().all(|q| q.outcome != StunOutcome::Pending)
    }

    /// Each server and what it said so far, in the configured order.
    pub fn outcomes(&self) -> impl Iterator<Item = (SocketAddr, StunOutcome)> + '_ {
        self.queries.iter().map(|q| (q.server, q.outcome))
    }

    /// Our reflexive address: what the first server (in the configured order) that
    /// answered saw.
    pub fn reflexive(&self) -> Option<SocketAddr> {
        self.queries.iter().find_map(|q| match q.outcome {
            StunOutcome::Reflexive(a) => Some(a),
            _ => None,
        })
    }

    /// The NAT's mapping behaviour, from the servers that answered.
    pub fn mapping(&self) -> NatMapping {
        mapping_of(self.queries.iter().filter_map(|q| match q.outcome {
            StunOutcome::Reflexive(a) => Some((q.server, a)),
            _ => None,
        }))
    }

    /// Counters so far.
    pub fn stats(&self) -> StunStats {
        self.stats
    }

    fn next_transaction(&mut self) -> TransactionId {
        self.counter += 1;
        let hash = Sha256::new()
            .chain_update(b"netcode stun transaction v1")
            .chain_update(self.seed.to_le_bytes())
            .chain_update(self.counter.to_le_bytes())
            .finalize();
        hash[..12].try_into().expect("12 bytes")
    }
}

/// The mapping behaviour told by `(server, reflexive)` pairs: two servers at different
/// addresses that saw different addresses mean endpoint-dependent; all the same (with at
/// least two server addresses) endpoint-independent; else unknown.
pub fn mapping_of(answers: impl IntoIterator<Item = (SocketAddr, SocketAddr)>) -> NatMapping {
    let answers: Vec<(SocketAddr, SocketAddr)> = answers.into_iter().collect();
    let Some(&(first_server, first)) = answers.first() else {
        return NatMapping::Unknown;
    };
    if answers.iter().any(|(_, seen)| *seen != first) {
        return NatMapping::EndpointDependent;
    }
    if answers.iter().any(|(server, _)| *server != first_server) {
        NatMapping::EndpointIndependent
    } else {
        NatMapping::Unknown
    }
}

#[cfg(test)]
mod tests;
