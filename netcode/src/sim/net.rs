//! A deterministic in-memory datagram network: virtual time, links that behave as their
//! [`LinkConditions`] say (the model the UDP transport's conditioner uses too), cut links,
//! partitions.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use crate::conditions::LinkConditions;

/// A datagram in flight or delivered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Datagram {
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// Counters of the simulated network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagrams delivered (duplicates included).
    pub delivered: u64,
    /// Datagrams dropped by loss, bursts, MTU, cuts, partitions or dead receivers.
    pub dropped: u64,
    /// Bytes handed to the network.
    pub bytes_sent: u64,
    /// The largest datagram handed to the network, in bytes.
    pub largest_datagram: usize,
}

/// The simulated network.
pub struct SimNetwork {
    rng: StdRng,
    default: LinkConditions,
    overrides: BTreeMap<(SocketAddr, SocketAddr), LinkConditions>,
    in_burst: BTreeSet<(SocketAddr, SocketAddr)>,
    cut: BTreeSet<(SocketAddr, SocketAddr)>,
    groups: BTreeMap<SocketAddr, usize>,
    attached: BTreeSet<SocketAddr>,
    queue: BinaryHeap<Reverse<(Duration, u64, Datagram)>>,
    seq: u64,
    stats: NetStats,
}

fn pair(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

impl SimNetwork {
    /// A network where every link behaves as `default`, seeded for reproducibility.
    pub fn new(seed: u64, default: LinkConditions) -> Self {
        SimNetwork {
            rng: StdRng::seed_from_u64(seed),
            default,
            overrides: BTreeMap::new(),
            in_burst: BTreeSet::new(),
            cut: BTreeSet::new(),
            groups: BTreeMap::new(),
            attached: BTreeSet::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            stats: NetStats::default(),
        }
    }

    /// Plugs an address in (a peer starts listening).
    pub fn attach(&mut self, addr: SocketAddr) {
        self.attached.insert(addr);
    }

    /// Unplugs an address (a peer crashed or quit): datagrams to it vanish.
    pub fn detach(&mut self, addr: SocketAddr) {
        self.attached.remove(&addr);
        self.groups.remove(&addr);
    }

    /// Sets the conditions of the link from `a` to `b` (one direction).
    pub fn set_conditions(&mut self, from: SocketAddr, to: SocketAddr, conditions: LinkConditions) {
        self.overrides.insert((from, to), conditions);
    }

    /// Cuts the link between `a` and `b` (both directions).
    pub fn cut(&mut self, a: SocketAddr, b: SocketAddr) {
        self.cut.insert(pair(a, b));
    }

    /// Heals a cut link.
    pub fn heal(&mut self, a: SocketAddr, b: SocketAddr) {
        self.cut.remove(&pair(a, b));
    }

    /// Splits the network: datagrams only flow within a group. Addresses not listed
    /// form a group of their own.
    pub fn partition(&mut self, groups: &[Vec<SocketAddr>]) {
        self.groups.clear();
        for (i, g) in groups.iter().enumerate() {
            for a in g {
                self.groups.insert(*a, i + 1);
            }
        }
    }

    /// Ends every partition.
    pub fn heal_partition(&mut self) {
        self.groups.clear();
    }

    /// Whether datagrams can flow between `a` and `b` at all (ignoring random loss).
    pub fn connected(&self, a: SocketAddr, b: SocketAddr) -> bool {
        self.attached.contains(&a)
            && self.attached.contains(&b)
            && !self.cut.contains(&pair(a, b))
            && self.groups.get(&a).copied().unwrap_or(0) == self.groups.get(&b).copied().unwrap_or(0)
    }

    /// Whether a datagram in flight from `a` still reaches `b` (`a` may have died since).
    fn reachable(&self, a: SocketAddr, b: SocketAddr) -> bool {
        self.attached.contains(&b)
            && !self.cut.contains(&pair(a, b))
            && self.groups.get(&a).copied().unwrap_or(0) == self.groups.get(&b).copied().unwrap_or(0)
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Hands a datagram to the network at time `now`.
    pub fn send(&mut self, now: Duration, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.stats.sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        self.stats.largest_datagram = self.stats.largest_datagram.max(bytes.len());
        let cond = self.overrides.get(&(from, to)).unwrap_or(&self.default).clone();
        if !self.connected(from, to) {
            self.stats.dropped += 1;
            return;
        }
        let key = (from, to);
        let mut in_burst = self.in_burst.contains(&key);
        let fate = cond.fate(&mut self.rng, &mut in_burst, bytes.len());
        if in_burst {
            self.in_burst.insert(key);
        } else {
            self.in_burst.remove(&key);
        }
        let Some(delays) = fate else {
            self.stats.dropped += 1;
            return;
        };
        for delay in delays.delays() {
            self.seq += 1;
            let dg = Datagram {
                from,
                to,
                bytes: bytes.clone(),
            };
            self.queue.push(Reverse((now + delay, self.seq, dg)));
        }
    }

    /// Takes the next datagram due at or before `now`, if any.
    pub fn pop_due(&mut self, now: Duration) -> Option<Datagram> {
        loop {
            let Reverse((at, _, _)) = self.queue.peek()?;
            if *at > now {
                return None;
            }
            let Reverse((_, _, dg)) = self.queue.pop()?;
            // Links cut or receivers gone while the datagram was in flight lose it too. A
            // sender that crashed meanwhile does not: what it sent is on the wire.
            if self.reachable(dg.from, dg.to) {
                self.stats.delivered += 1;
                return Some(dg);
            }
            self.stats.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    fn run(seed: u64, cond: LinkConditions) -> Vec<(Duration, Vec<u8>)> {
        let mut net = SimNetwork::new(seed, cond);
        net.attach(addr(1));
        net.attach(addr(2));
        let mut out = Vec::new();
        for i in 0..200u32 {
            let now = Duration::from_millis(u64::from(i));
            net.send(now, addr(1), addr(2), i.to_le_bytes().to_vec());
            while let Some(d) = net.pop_due(now) {
                out.push((now, d.bytes));
            }
        }
        let end = Duration::from_secs(10);
        while let Some(d) = net.pop_due(end) {
            out.push((end, d.bytes));
        }
        out
    }

    #[test]
    fn same_seed_same_run() {
        let cond = LinkConditions {
            jitter: Duration::from_millis(15),
            loss: 0.1,
            burst_loss: 0.02,
            duplicate: 0.05,
            reorder: 0.1,
            ..LinkConditions::default()
        };
        assert_eq!(run(3, cond.clone()), run(3, cond.clone()));
        assert_ne!(run(3, cond.clone()), run(4, cond));
    }

    #[test]
    fn loss_and_partitions_drop() {
        let lossy = run(
            1,
            LinkConditions {
                loss: 0.3,
                ..LinkConditions::default()
            },
        );
        assert!(
            lossy.len() > 100 && lossy.len() < 170,
            "about 30% lost: {}",
            lossy.len()
        );
        let mut net = SimNetwork::new(1, LinkConditions::default());
        for p in 1..=3 {
            net.attach(addr(p));
        }
        net.partition(&[vec![addr(1)], vec![addr(2), addr(3)]]);
        assert!(!net.connected(addr(1), addr(2)));
        assert!(net.connected(addr(2), addr(3)));
        net.heal_partition();
        net.cut(addr(1), addr(2));
        assert!(!net.connected(addr(2), addr(1)));
        net.send(Duration::ZERO, addr(1), addr(2), vec![1]);
        assert_eq!(net.pop_due(Duration::from_secs(1)), None);
    }

    #[test]
    fn mtu_and_latency() {
        let mut net = SimNetwork::new(
            1,
            LinkConditions {
                mtu: 10,
                ..LinkConditions::default()
            },
        );
        net.attach(addr(1));
        net.attach(addr(2));
        net.send(Duration::ZERO, addr(1), addr(2), vec![0; 11]);
        net.send(Duration::ZERO, addr(1), addr(2), vec![0; 10]);
        assert_eq!(net.pop_due(Duration::from_millis(19)), None);
        assert_eq!(net.pop_due(Duration::from_millis(20)).map(|d| d.bytes.len()), Some(10));
        assert_eq!(net.pop_due(Duration::from_secs(1)), None);
    }
}
