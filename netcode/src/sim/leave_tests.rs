//! A graceful leave as every member sees it, whether it had a link to the leaver or not:
//! a leave, with no ban. A member without a link hears the goodbye through the host (a
//! relayed goodbye, or only the host's next roster, whichever comes first); the roster lists
//! the members the host expelled, and the others left of their own accord.

use super::{Sim, SimConfig};
use crate::LeaveReason;
use crate::session::SessionEvent;

#[test]
fn a_goodbye_is_a_leave_to_a_member_without_a_link_to_the_leaver() {
    // Ten sessions: in some the host's roster without the leaver reaches guest 1 before the
    // goodbye the host relays (seeds 29 to 34 among these, as measured when this was
    // written), in the others after it.
    for seed in 25..35 {
        let mut sim = Sim::new(SimConfig::default().peers(3).seed(seed));
        // The guests never link: 2's goodbye to 1 goes through the host or not at all.
        sim.cut(1, 2);
        sim.run_for_secs(3.0);
        assert!(
            sim.roster_agree() && sim.live_indices().len() == 3,
            "seed {seed}: formed"
        );
        let leaver = sim.session(2).unwrap().peer_id();
        sim.leave(2);
        sim.run_for_secs(2.0);
        for i in [0, 1] {
            let s = sim.session(i).unwrap();
            let reasons: Vec<LeaveReason> = sim
                .events_of(s.peer_id())
                .into_iter()
                .filter_map(|(_, e)| match e {
                    SessionEvent::PeerLeft { peer, reason } if peer == leaver => Some(reason),
                    _ => None,
                })
                .collect();
            assert_eq!(reasons, vec![LeaveReason::Graceful], "seed {seed}, peer {i}");
            assert!(!s.bans(leaver), "seed {seed}: peer {i} refuses the leaver's links");
            assert!(s.roster().get(leaver).is_none(), "seed {seed}: peer {i}");
        }
    }
}
