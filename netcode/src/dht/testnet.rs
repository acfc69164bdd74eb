//! A Mainline DHT of its own, for tests and the NAT lab (feature `test-util`): `n` nodes in
//! server mode on one address, each on a port the system picks. `mainline::Testnet` is not
//! used: its nodes try port 6881 first, and a test binds no fixed port.
//!
//! On one address, BEP42 lets a routing table keep only one node per address unless the
//! address is loopback or private: bind a testnet to 127.0.0.1 or a private address
//! (the lab's is in 172.16/12, see `nat-facts`).

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use mainline::Dht;

/// The nodes of a private DHT; they stop when it is dropped.
#[derive(Debug)]
pub struct DhtTestnet {
    nodes: Vec<Dht>,
    bootstrap: Vec<String>,
}

impl DhtTestnet {
    /// `n` (at least 1) nodes on `bind`, each answering queries and timing out its own
    /// requests after `request_timeout`. The first knows nobody; each later one joins
    /// through the ones before it, so that every node is in some table.
    pub fn start(n: usize, bind: Ipv4Addr, request_timeout: Duration) -> io::Result<DhtTestnet> {
        DhtTestnet::start_on(&vec![bind; n.max(1)], request_timeout)
    }

    /// A node on each of `addrs` (one address each: BEP42 then keeps them all, whatever
    /// the range), as [`DhtTestnet::start`] does.
    pub fn start_on(addrs: &[Ipv4Addr], request_timeout: Duration) -> io::Result<DhtTestnet> {
        let n = addrs.len();
        let mut nodes: Vec<Dht> = Vec::with_capacity(n);
        let mut bootstrap: Vec<String> = Vec::with_capacity(n);
        for &bind in addrs {
            let mut builder = Dht::builder();
            builder
                .server_mode()
                .bind_address(bind)
                .port(0)
                .request_timeout(request_timeout);
            if bootstrap.is_empty() {
                builder.no_bootstrap();
            } else {
                builder.bootstrap(&bootstrap);
            }
            let node = builder.build()?;
            #[expect(deprecated, reason = "the sync API of mainline 8 is deprecated, still supported")]
            let addr = node.info().local_addr();
            bootstrap.push(addr.to_string());
            nodes.push(node);
        }
        Ok(DhtTestnet { nodes, bootstrap })
    }

    /// Every node's `IP:PORT`, for [`super::DhtConfig::bootstrap`].
    pub fn bootstrap(&self) -> &[String] {
        &self.bootstrap
    }

    /// How many nodes run.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node runs (never, once started).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// What the lab's stranger does to a session's items on a DHT (feature `test-util`).
///
/// A DHT node that stores a session's items sees their public keys, salts, sequence
/// numbers and sealed values: [`Stranger::record`] and [`Stranger::knock`] fetch exactly
/// that. Writing at an item takes its signing key, which only the session key gives: a
/// stranger without it cannot write there at all (a code with another key finds nothing,
/// which the lab shows with the `peer` program). To exercise the members' own checks
/// behind the signature, [`Stranger::put_knock`] signs as a key holder would: the lab puts
/// a captured knock back (a replay) and a value sealed with another session's key (a
/// forgery), and the host must ignore and count both.
#[derive(Debug)]
pub struct Stranger {
    client: super::DhtClient,
    keys: super::keys::DhtKeys,
    next_id: u64,
}

/// How long a stranger waits for one request's answer.
const STRANGER_WAIT: Duration = Duration::from_secs(30);

impl Stranger {
    /// A DHT client on `config` that acts on the items of `session`.
    pub fn new(config: super::DhtConfig, session: &crate::key::SessionKey) -> Result<Self, super::DhtError> {
        Ok(Self {
            client: super::DhtClient::new(config)?,
            keys: super::keys::DhtKeys::derive(session),
            next_id: 0,
        })
    }

    /// The session record as the DHT holds it: its sequence number and sealed bytes.
    pub fn record(&mut self) -> Option<(i64, Vec<u8>)> {
        let item = self.keys.record.clone();
        self.get(item)
    }

    /// The newest knock as the DHT holds it.
    pub fn knock(&mut self) -> Option<(i64, Vec<u8>)> {
        let item = self.keys.knock.clone();
        self.get(item)
    }

    /// Puts `value` at the knock item with sequence number `seq`, signed as a key holder
    /// would; whether the DHT took it.
    pub fn put_knock(&mut self, seq: i64, value: Vec<u8>) -> bool {
        let id = self.id();
        let item = self.keys.knock.clone();
        self.client.submit(super::item::DhtRequest::Put {
            id,
            item,
            seq,
            cas: None,
            value,
        });
        match self.wait(id) {
            Some(super::item::DhtReply::Put { outcome, .. }) => outcome.is_ok(),
            _ => false,
        }
    }

    /// A knock dated now, naming `addr`, sealed with the key of another session: what a
    /// stranger who guessed the format but not the key would plant.
    pub fn forged_knock(&self, addr: std::net::SocketAddr) -> Vec<u8> {
        let other = crate::key::SessionKey { id: 1, key: [0x5a; 32] };
        let knock = super::record::Knock {
            candidates: crate::protocol::Candidates {
                addrs: vec![crate::protocol::Candidate {
                    addr,
                    kind: crate::protocol::CandidateKind::Reflexive,
                }],
                mapping: crate::stun::NatMapping::Unknown,
            },
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            nonce: [0x5a; 16],
        };
        knock.seal(
            &super::keys::DhtKeys::derive(&other),
            [0x5a; super::record::NONCE_BYTES],
        )
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn get(&mut self, item: super::item::ItemKey) -> Option<(i64, Vec<u8>)> {
        let id = self.id();
        self.client.submit(super::item::DhtRequest::Get {
            id,
            item,
            newer_than: None,
        });
        match self.wait(id) {
            Some(super::item::DhtReply::Got { found, .. }) => found,
            _ => None,
        }
    }

    fn wait(&self, id: u64) -> Option<super::item::DhtReply> {
        let started = std::time::Instant::now();
        while started.elapsed() < STRANGER_WAIT {
            for mut reply in self.client.poll_replies() {
                if *reply.id_mut() == id {
                    return Some(reply);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}
