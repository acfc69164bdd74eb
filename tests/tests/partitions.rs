//! A partition is a stable state: the side that holds the host keeps it, the other side
//! elects once and keeps its host until the merge, under loss and jitter
//! (`docs/design.md`, "Host election and epochs", Partitions). Measured as host changes
//! per peer and minute of partition (`Metrics::partition_flaps`), seeded.

use std::time::Duration;

use netcode::sim::{Scene, Sim, SimConfig};
use netcode_tests::{assert_healthy, link};

/// Splits `peers` peers into two halves from 10 s to 40 s on links of 50 ms ± 30 ms with
/// `loss` independent loss and `burst_loss` bursts (the issue's `netsim` scenario, with a
/// 30 s split), heals, runs to 60 s; returns the simulation.
fn split_in_halves(peers: usize, seed: u64, loss: f64, burst_loss: f64) -> Sim {
    let mut sim = Sim::new(
        SimConfig::default()
            .peers(peers)
            .seed(seed)
            .link(link(50, 30, loss).burst_loss(burst_loss))
            .scene(Scene::Store),
    );
    sim.run_until(Duration::from_secs(10));
    let (a, b): (Vec<usize>, Vec<usize>) = (0..peers).partition(|i| *i < peers / 2);
    sim.partition(&[a, b]);
    sim.run_until(Duration::from_secs(40));
    sim.heal_partition();
    sim.run_until(Duration::from_secs(60));
    sim
}

/// Host changes per peer and minute of partition.
fn flaps(sim: &Sim) -> f64 {
    let (changes, minutes, rate) = sim.metrics.partition_flaps().expect("a partition happened");
    eprintln!("{changes} host changes in {minutes:.2} peer-minutes of partition: {rate:.2} per peer-minute");
    rate
}

/// 16 peers split 8/8 at 8 % loss with bursts: the side without the host elects and
/// mostly stays; groups of eight lose their host to a burst now and then. One seed swings
/// from 1 to 8 a peer-minute, so four seeds are summed, each healthy at the end: 187
/// changes in 32 peer-minutes, 5.8 a peer-minute (seeds 1-12: 559, 5.8). Before the fix of
/// flapping back to a stale term: 108 changes for seed 1 alone, 13.5 a peer-minute.
#[test]
fn sixteen_peers_split_in_halves_under_loss_elect_once() {
    let (mut changes, mut minutes) = (0, 0.0);
    for seed in 1..=4 {
        let sim = split_in_halves(16, seed, 0.08, 0.02);
        let (c, m, _) = sim.metrics.partition_flaps().expect("a partition happened");
        eprintln!("seed {seed}: {c} host changes in {m:.2} peer-minutes of partition");
        (changes, minutes) = (changes + c, minutes + m);
        assert_healthy(&sim, 16);
    }
    let rate = changes as f64 / minutes;
    // Measured 5.84 (seeds 1-4); +20 %.
    assert!(
        rate <= 7.0,
        "{changes} host changes in {minutes:.2} peer-minutes: {rate:.2} per peer-minute"
    );
}

/// 8 peers split 4/4 at 2 % loss: one election on the side without the host, and nothing
/// else (measured: 4 changes in 4 peer-minutes; before the fix 24, 6.0 a peer-minute).
#[test]
fn eight_peers_split_in_halves_at_two_percent_loss_elect_once() {
    let sim = split_in_halves(8, 1, 0.02, 0.0);
    let rate = flaps(&sim);
    // Measured 1.0 (seed 1); +20 %.
    assert!(rate <= 1.2, "{rate:.2} host changes per peer-minute of partition");
    assert_healthy(&sim, 8);
}

/// 8 peers split 4/4 at 8 % loss with bursts (about a fifth of datagrams lost, in bursts
/// of 8): groups of four still lose their host for a moment now and then (the same happens
/// in a 4-peer session without any split), but neither side flaps back to a stale term
/// (measured: 33 changes in 4 peer-minutes; before the fix 69, 17.25 a peer-minute; over
/// seeds 1-8, `netsim --peers 8 --latency 50 --jitter 30 --loss 0.08 --burst-loss 0.02
/// --partition 0,1,2,3/4,5,6,7@10-40 --duration 60 --seeds 8`: 5.06 a peer-minute).
#[test]
fn eight_peers_split_in_halves_under_bursty_loss_flap_less() {
    let sim = split_in_halves(8, 1, 0.08, 0.02);
    let rate = flaps(&sim);
    // Measured 8.25 (seed 1); +20 %.
    assert!(rate <= 9.9, "{rate:.2} host changes per peer-minute of partition");
    assert_healthy(&sim, 8);
}
