//! The DHT client: the IO half of discovery. It owns a [`mainline::Dht`] node on a UDP
//! socket of its own (not the game's, see `docs/design.md`, "The DHT client") and runs
//! the [`DhtRequest`]s of the sans-IO logic on worker threads, so that the caller never
//! blocks: [`DhtClient::submit`] returns at once, [`DhtClient::poll_replies`] takes what
//! is done.
//!
//! It never uses `mainline`'s default bootstrap list: every client is built with the list
//! of its [`DhtConfig`] (the public nodes, [`PUBLIC_BOOTSTRAP`], only when a player chose
//! online play without naming others).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mainline::errors::{ConcurrencyError, PutMutableError, PutQueryError};
use mainline::{Dht, MutableItem, SigningKey};
use rand::RngExt;
use rand::rngs::StdRng;
use thiserror::Error;

use super::item::{DhtReply, DhtRequest, ItemKey, MAX_VALUE, PutFailure};

/// The public Mainline DHT bootstrap nodes (`mainline` 8.0.1's own defaults), the one
/// place they are named. Used only when a player chose online play and named no
/// `--dht-bootstrap` ([`crate::cli::OnlineArgs::dht`]); never by a test, bench or script.
pub const PUBLIC_BOOTSTRAP: [&str; 4] = mainline::DEFAULT_BOOTSTRAP_NODES;

/// Worker threads that run requests (each `mainline` call blocks until its query ends:
/// this many queries run at once, the others wait their turn).
const WORKERS: usize = 4;

/// How the DHT client starts. Every field's default is in its doc; the default names no
/// bootstrap node, and [`DhtClient::new`] refuses it: a client always says whom it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DhtConfig {
    /// The nodes to join the DHT through, as `HOST:PORT` text (as the player typed them,
    /// or the names of [`PUBLIC_BOOTSTRAP`]): names are resolved once, when the client
    /// starts, so that a name that does not resolve is a typed error there and the
    /// configuration stays what the player wrote. IPv4 only (`mainline` speaks no IPv6).
    /// Default: none.
    pub bootstrap: Vec<String>,
    /// How long a DHT node may take to answer one request before it counts as silent
    /// (a query waits out at most about one of these after its last answer).
    /// Default: 2 s (`mainline`'s own).
    pub request_timeout: Duration,
    /// Address the DHT socket binds. Default: `0.0.0.0`.
    pub bind: Ipv4Addr,
    /// Port the DHT socket binds (0: any free port; `mainline` alone would try 6881
    /// first). Default: 0.
    pub port: u16,
}

impl Default for DhtConfig {
    fn default() -> Self {
        DhtConfig {
            bootstrap: Vec::new(),
            request_timeout: mainline::DEFAULT_REQUEST_TIMEOUT,
            bind: Ipv4Addr::UNSPECIFIED,
            port: 0,
        }
    }
}

crate::config::setters!(DhtConfig {
    bootstrap: Vec<String>,
    request_timeout: Duration,
    bind: Ipv4Addr,
    port: u16,
});

impl DhtConfig {
    /// The default configuration with `bootstrap` as the bootstrap nodes.
    pub fn with_bootstrap(bootstrap: Vec<String>) -> Self {
        DhtConfig {
            bootstrap,
            ..DhtConfig::default()
        }
    }

    /// The default configuration on the public DHT ([`PUBLIC_BOOTSTRAP`]): for online
    /// play only.
    pub fn public() -> Self {
        DhtConfig::with_bootstrap(PUBLIC_BOOTSTRAP.iter().map(|s| s.to_string()).collect())
    }

    /// The bootstrap nodes' IPv4 addresses: each entry must be `HOST:PORT`; a name that
    /// does not resolve is skipped (logged) unless none resolves.
    fn resolve(&self) -> Result<Vec<SocketAddrV4>, DhtError> {
        if self.request_timeout.is_zero() {
            return Err(DhtError::ZeroTimeout);
        }
        let given: Vec<&str> = self
            .bootstrap
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if given.is_empty() {
            return Err(DhtError::NoBootstrap);
        }
        let mut out = Vec::new();
        let mut first_failure = None;
        for text in given {
            let port_ok = text
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !port_ok {
                return Err(DhtError::BadBootstrap { text: text.to_string() });
            }
            match text.to_socket_addrs() {
                Ok(found) => {
                    let v4 = found.filter_map(|a| match a {
                        SocketAddr::V4(a) => Some(a),
                        SocketAddr::V6(_) => None,
                    });
                    let before = out.len();
                    for a in v4 {
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                    if out.len() == before {
                        log::debug!("DHT bootstrap {text}: no IPv4 address");
                        first_failure.get_or_insert((text.to_string(), std::io::ErrorKind::AddrNotAvailable.into()));
                    }
                }
                Err(e) => {
                    log::debug!("DHT bootstrap {text}: {e}");
                    first_failure.get_or_insert((text.to_string(), e));
                }
            }
        }
        match (out.is_empty(), first_failure) {
            (true, Some((text, source))) => Err(DhtError::Unresolvable { text, source }),
            _ => Ok(out),
        }
    }
}

/// Why the DHT client did not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DhtError {
    /// The configuration names no bootstrap node.
    #[error("no DHT bootstrap node was given (--dht-bootstrap HOST:PORT, or --online for the public ones)")]
    NoBootstrap,
    /// A bootstrap entry is not `HOST:PORT`.
    #[error("DHT bootstrap node {text:?} is not HOST:PORT")]
    BadBootstrap {
        /// What was given.
        text: String,
    },
    /// No bootstrap node resolves to an IPv4 address; the first that did not.
    #[error("DHT bootstrap node {text:?} does not resolve to an IPv4 address (is this machine online?): {source}")]
    Unresolvable {
        /// What was given.
        text: String,
        /// Why it does not resolve.
        source: std::io::Error,
    },
    /// The request timeout is zero.
    #[error("the DHT request timeout must be above zero")]
    ZeroTimeout,
    /// The DHT socket (or its thread) could not be made.
    #[error("cannot bind the DHT socket at {bind}:{port}: {source}")]
    Bind {
        /// The address asked for.
        bind: Ipv4Addr,
        /// The port asked for.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
}

/// Queries sent to the DHT since the client started (a request refused before sending,
/// [`PutFailure::TooLarge`], is not one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DhtStats {
    /// Puts started.
    pub puts: u64,
    /// Gets started.
    pub gets: u64,
    /// Time since the client started.
    pub uptime: Duration,
}

impl DhtStats {
    /// Puts and gets per minute since the client started.
    pub fn queries_per_minute(&self) -> f64 {
        let minutes = self.uptime.as_secs_f64() / 60.0;
        if minutes <= 0.0 {
            return 0.0;
        }
        (self.puts + self.gets) as f64 / minutes
    }
}

#[derive(Debug, Default)]
struct Counters {
    puts: AtomicU64,
    gets: AtomicU64,
}

/// A Mainline DHT node on its own socket, with worker threads that run requests.
/// Dropping it returns at once: idle workers and the node stop within a few tens of ms;
/// a worker inside a query ends with its query (bounded by the request timeout), its
/// reply unread.
#[derive(Debug)]
pub struct DhtClient {
    requests: Sender<DhtRequest>,
    /// (In a mutex so that the client is `Sync`: a Bevy resource holds it.)
    replies: Mutex<Receiver<DhtReply>>,
    /// For replies made at once (a value too large).
    reply_tx: Sender<DhtReply>,
    counters: Arc<Counters>,
    started: Instant,
    local_addr: SocketAddrV4,
    /// The node (its actor thread stops once this and the workers' copies are dropped).
    dht: Dht,
}

impl DhtClient {
    /// Checks `config`, resolves its bootstrap nodes (a name is looked up now: this may
    /// wait on the name service; addresses do not), binds the DHT socket and starts the
    /// node and its workers. The node starts joining the DHT through the bootstrap nodes
    /// at once, in the background.
    pub fn new(config: DhtConfig) -> Result<DhtClient, DhtError> {
        let dht = start_node(&config)?;
        let bind_error = |source| DhtError::Bind {
            bind: config.bind,
            port: config.port,
            source,
        };
        let local_addr = local_addr(&dht);
        log::debug!("DHT client on {local_addr}, bootstrap {:?}", config.bootstrap);
        let (requests, jobs) = mpsc::channel::<DhtRequest>();
        let (reply_tx, replies) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..WORKERS {
            let (dht, jobs, tx, counters) = (dht.clone(), jobs.clone(), reply_tx.clone(), counters.clone());
            std::thread::Builder::new()
                .name(format!("dht-worker-{i}"))
                .spawn(move || work(&dht, &jobs, &tx, &counters))
                .map_err(bind_error)?;
        }
        Ok(DhtClient {
            requests,
            replies: Mutex::new(replies),
            reply_tx,
            counters,
            started: Instant::now(),
            local_addr,
            dht,
        })
    }

    /// Queues `request` and returns at once; its reply comes from [`Self::poll_replies`].
    /// A put of more than [`MAX_VALUE`] bytes is answered [`PutFailure::TooLarge`] without
    /// sending anything (DHT nodes would drop it silently).
    pub(crate) fn submit(&self, request: DhtRequest) {
        if let DhtRequest::Put { id, value, .. } = &request
            && value.len() > MAX_VALUE
        {
            let _ = self.reply_tx.send(DhtReply::Put {
                id: *id,
                outcome: Err(PutFailure::TooLarge),
                took: Duration::ZERO,
            });
            return;
        }
        // The workers live as long as the client: a send cannot fail while it exists.
        let _ = self.requests.send(request);
    }

    /// The replies of the requests done since the last call (never blocks).
    pub(crate) fn poll_replies(&self) -> Vec<DhtReply> {
        let replies = self.replies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        replies.try_iter().collect()
    }

    /// Queries sent so far.
    pub fn stats(&self) -> DhtStats {
        DhtStats {
            puts: self.counters.puts.load(Ordering::Relaxed),
            gets: self.counters.gets.load(Ordering::Relaxed),
            uptime: self.started.elapsed(),
        }
    }

    /// The DHT socket's address (not the game socket's).
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local_addr
    }

    /// How many DHT nodes the node's routing table holds (nodes that answered it). Asks
    /// the node's thread: may wait up to its 50 ms socket read (for `netcheck`, not a frame).
    pub fn nodes_known(&self) -> usize {
        #[expect(deprecated, reason = "the sync API of mainline 8 is deprecated, still supported")]
        let nodes = self.dht.to_bootstrap();
        nodes.len()
    }
}

/// The node's socket address.
fn local_addr(dht: &Dht) -> SocketAddrV4 {
    // The blocking API is deprecated for the async one, which needs `mainline`'s `async`
    // feature (futures-sink, not available here); its calls block only the worker.
    #[expect(deprecated, reason = "the sync API of mainline 8 is deprecated, still supported")]
    dht.info().local_addr()
}

/// A worker: takes requests until the client is dropped.
fn work(dht: &Dht, jobs: &Mutex<Receiver<DhtRequest>>, tx: &Sender<DhtReply>, counters: &Counters) {
    loop {
        let next = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok(request) = next else { return };
        let reply = match request {
            DhtRequest::Put {
                id,
                item,
                seq,
                cas,
                value,
            } => {
                counters.puts.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let outcome = put(dht, &item, seq, cas, &value);
                DhtReply::Put {
                    id,
                    outcome,
                    took: started.elapsed(),
                }
            }
            DhtRequest::Get { id, item, newer_than } => {
                counters.gets.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let found = get(dht, &item, newer_than);
                DhtReply::Got {
                    id,
                    found,
                    took: started.elapsed(),
                }
            }
        };
        if tx.send(reply).is_err() {
            return;
        }
    }
}

/// Stores `value` under `item`; blocks until the put query ends.
fn put(dht: &Dht, item: &ItemKey, seq: i64, cas: Option<i64>, value: &[u8]) -> Result<(), PutFailure> {
    let signed = MutableItem::new(SigningKey::from_bytes(&item.seed), value, seq, Some(&item.salt));
    #[expect(deprecated, reason = "the sync API of mainline 8 is deprecated, still supported")]
    let result = dht.put_mutable(signed, cas);
    result.map(|_| ()).map_err(|e| {
        log::debug!("DHT put seq {seq}: {e}");
        put_failure(&e)
    })
}

/// What a failed put means to the logic.
fn put_failure(e: &PutMutableError) -> PutFailure {
    match e {
        PutMutableError::Concurrency(ConcurrencyError::CasFailed) => PutFailure::CasMismatch,
        PutMutableError::Concurrency(ConcurrencyError::NotMostRecent) => PutFailure::NewerExists,
        // Another put of this item without `cas` is still running on this node: the two
        // writers race, as with a CAS mismatch (read again, then write).
        PutMutableError::Concurrency(ConcurrencyError::ConflictRisk) => PutFailure::CasMismatch,
        // Nobody to ask, nobody answered, or (not produced by mainline 8.0.1 for puts:
        // its errors other than 301/302 end as a timeout) nodes answered with errors.
        PutMutableError::Query(
            PutQueryError::NoClosestNodes | PutQueryError::Timeout | PutQueryError::ErrorResponse(_),
        ) => PutFailure::NoNodes,
    }
}

/// The most recent item under `item` newer than `newer_than`; blocks until the get
/// query ends (nodes' answers are signature-checked by `mainline`).
fn get(dht: &Dht, item: &ItemKey, newer_than: Option<i64>) -> Option<(i64, Vec<u8>)> {
    let key = SigningKey::from_bytes(&item.seed).verifying_key().to_bytes();
    #[expect(deprecated, reason = "the sync API of mainline 8 is deprecated, still supported")]
    let items = dht.get_mutable(&key, Some(&item.salt), newer_than);
    newest(items.map(|m| (m.seq(), m.value().to_vec())), newer_than)
}

/// What a get answers from the versions of an item it found: the newest, if it is newer
/// than `newer_than` (the client's gets and the fake DHT's alike).
pub(crate) fn newest(
    found: impl IntoIterator<Item = (i64, Vec<u8>)>,
    newer_than: Option<i64>,
) -> Option<(i64, Vec<u8>)> {
    found
        .into_iter()
        .filter(|(seq, _)| newer_than.is_none_or(|n| *seq > n))
        .max_by_key(|(seq, _)| *seq)
}

/// Whether the DHT answers: a get of a random item through `config`'s bootstrap nodes,
/// on a client of its own that is dropped after; how many nodes answered (the routing
/// table it filled) and how long the get took. Blocks for the get (about one request
/// timeout when nobody answers). For `netcheck`.
pub(crate) fn probe(config: &DhtConfig) -> Result<(usize, Duration), DhtError> {
    let client = DhtClient::new(config.clone())?;
    let mut rng: StdRng = rand::make_rng();
    let item = ItemKey {
        seed: rng.random(),
        salt: rng.random(),
    };
    let started = Instant::now();
    client.submit(DhtRequest::Get {
        id: 0,
        item,
        newer_than: None,
    });
    // A get ends within a few request timeouts; the limit only guards against a worker
    // that died.
    let limit = config.request_timeout * 30;
    while started.elapsed() < limit {
        if let Some(took) = client.poll_replies().into_iter().find_map(|r| match r {
            DhtReply::Got { took, .. } => Some(took),
            DhtReply::Put { .. } => None,
        }) {
            return Ok((client.nodes_known(), took));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((client.nodes_known(), started.elapsed()))
}

/// A `mainline` node as `config` says, on its explicit bootstrap list (never
/// `mainline`'s default one).
fn start_node(config: &DhtConfig) -> Result<Dht, DhtError> {
    let bootstrap = config.resolve()?;
    if config.port != 0 {
        // `mainline` 8.0.1 may panic instead of returning a bind error (its actor thread
        // ends before it is asked whether it started): a port that is taken is told here.
        std::net::UdpSocket::bind((config.bind, config.port)).map_err(|source| DhtError::Bind {
            bind: config.bind,
            port: config.port,
            source,
        })?;
    }
    Dht::builder()
        .bootstrap(&bootstrap)
        .bind_address(config.bind)
        .port(config.port)
        .request_timeout(config.request_timeout)
        .build()
        .map_err(|source| DhtError::Bind {
            bind: config.bind,
            port: config.port,
            source,
        })
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
