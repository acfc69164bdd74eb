//! The session as the signalling channel: three players in three port-restricted homes,
//! no rendezvous service. The host's router maps its port (miniupnpd), so both friends
//! join it with its invite code alone; the two friends cannot dial each other's session
//! addresses (their home LANs), so they learn each other's candidates (the reflexive
//! address coturn told each) through the session, punch at once, and link directly.

use std::time::Instant;

use netcode_tests::lab::{GAME_PORT, Lab, Nat, STEP, STUN_IPS, STUN_PORT, link_on};

/// This module's tests, as the harness lists them.
pub(super) const TESTS: &[(&str, fn())] = &[(
    "mesh::two_friends_link_directly_through_candidates_exchanged_in_the_session",
    two_friends_link_directly_through_candidates_exchanged_in_the_session,
)];

fn two_friends_link_directly_through_candidates_exchanged_in_the_session() {
    let mut lab = Lab::start();
    let (_, wan1, _daemon) = lab.upnp_home(1, true);
    let (_, wan2) = lab.home(2, Nat::PortRestricted);
    let (_, wan3) = lab.home(3, Nat::PortRestricted);
    // Home 1's WAN is in another range (miniupnpd refuses the documentation ranges): the
    // routers reach each other on-link.
    for wan in [wan2, wan3] {
        lab.exec("r1", &["ip", "route", "add", &format!("{wan}/32"), "dev", "wan"]);
    }
    for r in ["r2", "r3"] {
        lab.exec(r, &["ip", "route", "add", &format!("{wan1}/32"), "dev", "wan"]);
    }
    let _stun = lab.start_stun();
    let mut host = lab.peer(
        "h1",
        &["host", "--name", "mapped", "--port", GAME_PORT, "--port-mapping"],
    );
    netcode_procs::hosting(&mut host, STEP).unwrap_or_else(|| panic!("{}", host.failure("no invite")));
    let v = host
        .wait_for(STEP, |v| v["event"] == "invite")
        .unwrap_or_else(|| panic!("{}", host.failure("no invite naming the mapped port")));
    let code = v["invite"].as_str().expect("a code").to_string();
    let stun: Vec<String> = STUN_IPS
        .iter()
        .flat_map(|ip| ["--stun".to_string(), format!("{ip}:{STUN_PORT}")])
        .collect();
    let mut args = vec!["join", code.as_str(), "--port", GAME_PORT];
    args.extend(stun.iter().map(String::as_str));
    let mut second = lab.peer("h2", &args);
    let (second_id, _) =
        netcode_procs::joined(&mut second, STEP).unwrap_or_else(|| panic!("{}", second.failure("no join")));
    let started = Instant::now();
    let mut third = lab.peer("h3", &args);
    let (third_id, _) =
        netcode_procs::joined(&mut third, STEP).unwrap_or_else(|| panic!("{}", third.failure("no join")));
    let v = link_on(&mut third, &[second_id.as_str()], "internet");
    eprintln!("third -> second direct {:?} after its start: {v}", started.elapsed());
    link_on(&mut second, &[third_id.as_str()], "internet");
}
