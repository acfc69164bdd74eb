//! The simulator's measures count their bad outcomes: writes that died with the host that
//! made them, migrations that never completed, host changes per (epoch, host).

use std::time::Duration;

use netcode_tests::{form, host, sim};

#[test]
fn writes_a_cut_off_host_made_die_with_it_and_are_counted() {
    let mut s = sim(4, 5, 20, 0, 0.0);
    form(&mut s, 5.0);
    s.run_for_secs(1.0);
    assert_eq!(s.write_outcome().lost, 0, "nothing lost while all is well");
    let h = host(&s);
    let hi = s.index_of(h).unwrap();
    // The host goes on writing (applied on the host: acknowledged) where nobody hears it,
    // then dies with its writes.
    for j in s.live_indices() {
        if j != hi {
            s.cut(hi, j);
        }
    }
    s.run_for_secs(0.3);
    s.crash(hi);
    s.run_for_secs(3.0);
    let new = host(&s);
    assert_ne!(new, h, "the others migrated");
    let outcome = s.write_outcome();
    assert!(outcome.lost >= 2, "its score and clock writes at least: {outcome:?}");
    assert_eq!(s.committed_reverted(), 0, "what everyone held stays");
    let report = s.report(Duration::from_secs(1));
    assert_eq!(report.writes_lost, outcome.lost);
    assert_eq!(report.state_lost, outcome.lost as usize);
}

#[test]
fn a_plain_host_crash_loses_no_write() {
    let mut s = sim(4, 6, 20, 5, 0.02);
    form(&mut s, 5.0);
    s.run_for_secs(1.0);
    let h = host(&s);
    s.crash_peer(h);
    s.run_for_secs(3.0);
    let outcome = s.write_outcome();
    assert!(outcome.recorded > 20, "{outcome:?}");
    assert_eq!((outcome.lost, s.committed_reverted()), (0, 0), "{outcome:?}");
}

#[test]
fn two_sides_electing_at_one_epoch_are_two_host_changes_and_an_incomplete_migration() {
    let mut s = sim(5, 3, 20, 0, 0.0);
    form(&mut s, 5.0);
    let h = host(&s);
    let hi = s.index_of(h).unwrap();
    let others: Vec<usize> = s.live_indices().into_iter().filter(|i| *i != hi).collect();
    s.crash(hi);
    s.partition(&[others[..2].to_vec(), others[2..].to_vec()]);
    s.run_for_secs(3.0);
    let changes = &s.metrics.host_changes;
    let at_epoch_2 = changes.iter().filter(|(e, _)| *e == 2).count();
    assert_eq!(
        at_epoch_2, 2,
        "both sides elected at epoch 2, two host changes: {changes:?}"
    );
    let report = s.report(Duration::from_secs(1));
    assert_eq!(report.migrations, changes.len());
    // The survivors never all agreed: the migration is incomplete, its pause runs to the end.
    assert_eq!(report.migrations_incomplete, 1, "{report:?}");
    assert!(report.migration_pause_ms_max >= 2_999.0, "{report:?}");
    assert_eq!(s.metrics.migration_pauses.len(), 0, "no completed migration");
}

#[test]
fn a_rejoin_that_never_happens_is_counted_to_the_end() {
    let mut s = sim(3, 7, 20, 0, 0.0);
    form(&mut s, 5.0);
    let h = host(&s);
    let member = s
        .live_indices()
        .into_iter()
        .find(|i| s.session(*i).unwrap().peer_id() != h)
        .unwrap();
    s.crash(member);
    s.run_for_secs(0.5);
    // Every other peer's links to the restarted process are cut: it cannot get back in.
    let others = s.live_indices();
    s.restart(member);
    for j in others {
        s.cut(member, j);
    }
    s.run_for_secs(2.0);
    let report = s.report(Duration::from_secs(1));
    assert_eq!((report.rejoins, report.rejoins_incomplete), (0, 1), "{report:?}");
    assert!(report.rejoin_ms_max >= 1_999.0, "{report:?}");
}
