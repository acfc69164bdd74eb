//! What the simulated peers do besides being members: the store workload (scores and
//! a clock in the replicated store) and the arena scene (moving players and host-owned
//! objects as delta snapshots).

use super::*;
use crate::PeerId;
use crate::session::Session;
use crate::store::Scope;

impl Sim {
    pub(super) fn workload(&mut self, i: usize) {
        if !self.cfg.workload {
            return;
        }
        let now = self.now;
        let (write_interval, pickup_interval) = (self.cfg.write_interval, self.cfg.pickup_interval);
        let node = &mut self.nodes[i];
        let Some(s) = node.session.as_mut() else { return };
        if !s.in_session() || now < node.next_write {
            return;
        }
        node.next_write = now + write_interval;
        let me = s.peer_id();
        let host = s.is_host();
        let writer = (i, node.session_since);
        let score = read_u64(s.store().get(Scope::Peer(me), SCORE_KEY)) + 1;
        let mut writes = vec![(Scope::Peer(me), SCORE_KEY.to_owned(), score.to_le_bytes().to_vec())];
        if host {
            writes.push((
                Scope::Shared,
                CLOCK_KEY.to_owned(),
                (now.as_millis() as u64).to_le_bytes().to_vec(),
            ));
            if now >= node.next_pickup {
                node.next_pickup = now + pickup_interval;
                let n = s
                    .store()
                    .scope(Scope::Shared)
                    .filter(|(k, _)| k.starts_with(PICKUP_PREFIX))
                    .count();
                writes.push((Scope::Shared, format!("{PICKUP_PREFIX}{n}"), vec![1]));
            }
        }
        for (scope, key, value) in writes {
            let before = s.store().entry(scope, &key).cloned();
            let written = match scope {
                Scope::Shared => s.set_shared(&key, Some(value)),
                Scope::Peer(_) => s.set_own(&key, Some(value)),
            };
            if written.is_ok()
                && let Some(e) = s.store().entry(scope, &key)
            {
                self.metrics.wrote(writer, host, before.as_ref(), (scope, &key, e));
            }
        }
    }

    pub(super) fn play_arena(&mut self, i: usize) {
        let Scene::Arena { objects } = self.cfg.scene else {
            return;
        };
        let now = self.now;
        let tick = arena::tick_at(now);
        let peers: Vec<(usize, PeerId)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, n)| *j != i && n.session.as_ref().is_some_and(Session::in_session))
            .filter_map(|(j, n)| n.session.as_ref().map(|s| (j, s.peer_id())))
            .collect();
        let node = &mut self.nodes[i];
        let Some(s) = node.session.as_mut() else { return };
        if !s.in_session() {
            return;
        }
        let host = s.is_host();
        if node.scene_tick != tick {
            node.scene_tick = tick;
            s.publish_own(arena::own_snapshot(i, tick));
            if host {
                // The objects: the session's creator spawns them; a new host takes the ones
                // its replica holds, ids and all, at its promotion.
                let ids = node.hosted_objects.get_or_insert_with(|| match s.shared_state() {
                    Some((_, replica)) => replica.entities.keys().copied().collect(),
                    None => (0..objects as u32).collect(),
                });
                let _ = s.publish_shared(arena::shared_snapshot_of(ids.iter().copied(), tick));
            } else {
                node.hosted_objects = None;
            }
            // Render every remote player at the scene rate and compare with the truth.
            for (j, peer) in &peers {
                if let Some(snapshot) = s.remote_state(*peer) {
                    self.arena.receive(i, *peer, snapshot, now);
                }
                self.arena.render(i, *peer, *j, now);
            }
            if !host
                && tick.is_multiple_of(OBJECT_SAMPLE_TICKS)
                && let Some((_, shared)) = s.shared_state()
            {
                self.arena.objects(shared, now);
            }
        }
        if now >= node.next_naive {
            node.next_naive = now + s.heartbeat_interval();
            let receivers = s.roster().active().count().saturating_sub(1) as u64;
            let size = arena::naive_bytes(i, host.then_some(objects), now.as_secs_f64()) as u64;
            self.arena.naive_bytes += size * receivers;
        }
        let stats = s.replication_stats();
        (self.arena).count_naive_same_rate(node.addr, i, objects, stats, now.as_secs_f64());
    }
}
