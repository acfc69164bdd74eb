//! What a test or a report reads of a simulation: the live peers, the hosts, whether
//! rosters agree, the partitions, the state and writes lost, the summary.

use std::time::Duration;

use super::*;
use crate::PeerId;
use crate::session::{Session, SessionEvent};
use crate::store::Version;

impl Sim {
    /// Running nodes that are in the session.
    pub fn live_indices(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].session.as_ref().is_some_and(Session::in_session))
            .collect()
    }

    /// Peer ids of the running nodes that are in the session.
    pub fn live_peers(&self) -> Vec<PeerId> {
        self.live_indices()
            .iter()
            .filter_map(|i| self.session(*i).map(Session::peer_id))
            .collect()
    }

    /// Distinct hosts the live peers follow.
    pub fn hosts(&self) -> Vec<PeerId> {
        let mut hosts: Vec<PeerId> = self
            .live_indices()
            .iter()
            .filter_map(|i| self.session(*i).and_then(Session::current_host))
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// The host every live peer agrees on, if they agree and it is live itself.
    pub fn consensus_host(&self) -> Option<PeerId> {
        match self.hosts().as_slice() {
            [h] if self.live_peers().contains(h) => Some(*h),
            _ => None,
        }
    }

    /// Whether every live peer holds the same roster.
    pub fn roster_agree(&self) -> bool {
        let live = self.live_indices();
        let Some(first) = live.first().and_then(|i| self.session(*i)) else {
            return true;
        };
        live.iter()
            .filter_map(|i| self.session(*i))
            .all(|s| s.roster() == first.roster())
    }

    /// Groups of live node indices that can reach each other on the network.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let live = self.live_indices();
        let mut comps: Vec<Vec<usize>> = Vec::new();
        let mut seen = vec![false; self.nodes.len()];
        for &start in &live {
            if seen[start] {
                continue;
            }
            let mut comp = vec![start];
            seen[start] = true;
            let mut k = 0;
            while k < comp.len() {
                let a = comp[k];
                for &b in &live {
                    if !seen[b] && self.net.connected(self.nodes[a].addr, self.nodes[b].addr) {
                        seen[b] = true;
                        comp.push(b);
                    }
                }
                k += 1;
            }
            comp.sort();
            comps.push(comp);
        }
        comps
    }

    /// Replicated state lost: entries that some live peer lacks or holds at an older
    /// version than was once held by every live peer, plus acknowledged writes recorded
    /// through [`Sim::write`] (the workload's among them) that no live process ever held (see [`WriteOutcome`]).
    pub fn state_lost(&self) -> usize {
        self.metrics.state_lost(self)
    }

    /// What became of the writes recorded through [`Sim::write`] (the workload's among
    /// them), judged against the peers live now.
    pub fn write_outcome(&self) -> WriteOutcome {
        self.metrics.write_outcome(self)
    }

    /// Entries that some live peer lacks or holds older than all live peers once held.
    pub fn committed_reverted(&self) -> usize {
        self.metrics.committed_reverted(self)
    }

    /// The writes [`Sim::write_outcome`] counts as lost.
    pub fn lost_writes(&self) -> Vec<LostWrite> {
        self.metrics.lost_writes(self)
    }

    /// The entries [`Sim::committed_reverted`] counts, one per live peer that lacks one:
    /// (node, scope, key, the version all live peers once held, the version it holds).
    pub fn reverted_entries(&self) -> Vec<(usize, Scope, String, Version, Option<Version>)> {
        self.metrics.reverted_entries(self)
    }

    /// Sum of the sessions' traffic and rejection counters.
    pub fn total_rejected(&self) -> u64 {
        self.nodes
            .iter()
            .filter_map(|n| n.session.as_ref())
            .map(|s| s.stats().rejected_messages)
            .sum()
    }

    /// The summary of the run so far; `wall` is the real time it took (for `sim_speed`).
    pub fn report(&self, wall: Duration) -> Report {
        let report = self.metrics.report(self, wall.as_secs_f64());
        #[cfg(any(test, feature = "test-util"))]
        let report = self.with_arena_figures(report);
        report
    }

    /// Drains nothing but lets tests see the events a node produced (recorded in metrics).
    pub fn events_of(&self, peer: PeerId) -> Vec<(Duration, SessionEvent)> {
        self.metrics
            .events
            .iter()
            .filter(|(_, p, _)| *p == peer)
            .map(|(t, _, e)| (*t, e.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Scope;

    /// A test's own writes, made through [`Sim::write`], are counted like the workload's;
    /// a write the node may not make is a typed error.
    #[test]
    fn a_tests_writes_are_recorded_and_refused_writes_are_errors() {
        let mut sim = Sim::new(SimConfig {
            peers: 3,
            seed: 5,
            ..SimConfig::default()
        });
        sim.run_for_secs(2.0);
        let live = sim.live_indices();
        assert_eq!(live.len(), 3);
        let host = sim.consensus_host().and_then(|h| sim.index_of(h)).expect("a host");
        let guest = *live.iter().find(|i| **i != host).expect("a guest");
        let guest_id = sim.session(guest).unwrap().peer_id();
        let host_id = sim.session(host).unwrap().peer_id();
        sim.write(host, Scope::Shared, "round", Some(vec![1])).unwrap();
        sim.write(guest, Scope::Peer(guest_id), "name", Some(b"Juno".to_vec()))
            .unwrap();
        assert_eq!(
            sim.write(guest, Scope::Shared, "round", Some(vec![2])),
            Err(SessionError::NotHost)
        );
        assert_eq!(
            sim.write(guest, Scope::Peer(host_id), "name", Some(vec![0])),
            Err(SessionError::NotOwner)
        );
        assert_eq!(
            sim.write(99, Scope::Shared, "round", None),
            Err(SessionError::NotInSession)
        );
        sim.run_for_secs(1.0);
        let outcome = sim.write_outcome();
        assert_eq!((outcome.recorded, outcome.lost, outcome.discarded), (2, 0, 0));
        for i in live {
            let store = sim.session(i).unwrap().store();
            assert_eq!(store.get(Scope::Shared, "round"), Some(&[1u8][..]), "node {i}");
            assert_eq!(store.get(Scope::Peer(guest_id), "name"), Some(&b"Juno"[..]), "node {i}");
        }
    }

    /// A write that a merge replaced is discarded, and stays so when the processes that
    /// held it crash later (a long soak counted such writes as lost once every process
    /// that had held them had crashed, judged at the end).
    #[test]
    fn a_write_a_merge_replaced_stays_discarded_when_its_holders_crash() {
        let mut sim = Sim::new(SimConfig {
            peers: 5,
            seed: 9,
            ..SimConfig::default()
        });
        sim.run_for_secs(3.0);
        let old_host = sim.consensus_host().and_then(|h| sim.index_of(h)).expect("a host");
        let others: Vec<usize> = (0..5).filter(|i| *i != old_host).collect();
        let (minority, majority) = ([old_host, others[0]], others[1..].to_vec());
        sim.partition(&[minority.to_vec(), majority.clone()]);
        sim.run_for_secs(4.0);
        let new_host = sim
            .session(majority[0])
            .and_then(Session::current_host)
            .and_then(|h| sim.index_of(h))
            .expect("the majority elected");
        assert!(majority.contains(&new_host));
        // Both hosts write the same entry; the majority's later epoch wins the merge.
        sim.write(old_host, Scope::Shared, "round", Some(vec![1])).unwrap();
        sim.write(new_host, Scope::Shared, "round", Some(vec![2])).unwrap();
        sim.run_for_secs(1.0);
        sim.heal_partition();
        sim.run_for_secs(10.0);
        for i in sim.live_indices() {
            let store = sim.session(i).unwrap().store();
            assert_eq!(store.get(Scope::Shared, "round"), Some(&[2u8][..]), "node {i}");
        }
        for i in minority {
            sim.crash(i);
        }
        sim.run_for_secs(2.0);
        let outcome = sim.write_outcome();
        assert_eq!((outcome.recorded, outcome.lost, outcome.discarded), (2, 0, 1));
        assert_eq!(sim.state_lost(), 0);
    }

    /// A host's write still on the wire when the host crashes is not lost: it arrives, and
    /// the members that take it hold it.
    #[test]
    fn a_write_on_the_wire_when_its_writer_crashes_is_not_lost() {
        let mut sim = Sim::new(SimConfig {
            peers: 4,
            seed: 5,
            ..SimConfig::default()
        });
        sim.run_for_secs(3.0);
        let host = sim.consensus_host().and_then(|h| sim.index_of(h)).expect("a host");
        sim.write(host, Scope::Shared, "round", Some(vec![1])).unwrap();
        sim.step();
        sim.crash(host);
        sim.run_for_secs(8.0);
        assert_eq!(sim.write_outcome().lost, 0);
        for i in sim.live_indices() {
            let store = sim.session(i).unwrap().store();
            assert_eq!(store.get(Scope::Shared, "round"), Some(&[1u8][..]), "node {i}");
        }
    }
}
