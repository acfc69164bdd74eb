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
