//! Joining with the invite code alone, no rendezvous service, as online play does it:
//! coturn tells each peer where the internet sees it and the routers that run miniupnpd
//! map the game port. A host behind a symmetric router that maps ports is joined
//! directly; without a mapping a port-restricted or symmetric host cannot be reached, and
//! the join fails within its timeout with an error that says what would help.

use std::time::{Duration, Instant};

use netcode_tests::lab::{GAME_PORT, Lab, Nat, STEP, direct_both_ways, public_code, stun_args};

/// This module's tests, as the harness lists them.
pub(super) const TESTS: &[(&str, fn())] = &[
    (
        "alone::a_symmetric_host_whose_router_maps_ports_is_joined_directly_with_its_code_alone",
        a_symmetric_host_whose_router_maps_ports_is_joined_directly_with_its_code_alone,
    ),
    (
        "alone::without_a_mapping_or_a_service_the_join_fails_in_time_saying_what_would_help",
        without_a_mapping_or_a_service_the_join_fails_in_time_saying_what_would_help,
    ),
];

/// `peer host` on home `k`'s first machine, asking coturn (and its router, `--port-mapping`):
/// the process, the code it hands out once it knows where it is reachable, its id.
fn host(lab: &Lab, k: u8, maps: bool) -> (netcode_procs::PeerProc, String, String) {
    let mut args = vec!["host", "--name", "alone", "--port", GAME_PORT, "--port-mapping"];
    let servers = stun_args();
    args.extend(servers.iter().map(String::as_str));
    let mut p = lab.peer(&format!("h{k}"), &args);
    let (first, id) = netcode_procs::hosting(&mut p, STEP).unwrap_or_else(|| panic!("{}", p.failure("no invite")));
    let code = public_code(&mut p, &first, maps).unwrap_or_else(|e| panic!("{e}"));
    (p, code, id)
}

/// Home 1 is symmetric (`MASQUERADE --random-fully`: coturn sees a new port per
/// destination) and its router runs miniupnpd; home 2 is port-restricted. The host's code
/// names the mapped port (not a reflexive address, which a symmetric NAT does not keep),
/// and the friend joins with it alone on a direct link.
fn a_symmetric_host_whose_router_maps_ports_is_joined_directly_with_its_code_alone() {
    let mut lab = Lab::start();
    let (_, wan1, _daemon) = lab.upnp_home_behind(1, Nat::Symmetric, true, "");
    lab.home(2, Nat::PortRestricted);
    let _stun = lab.start_stun();
    let (mut host, code, host_id) = host(&lab, 1, true);
    let status = host.last_status().expect("a status line");
    assert_eq!(status["nat_mapping"], "endpoint-dependent", "{status}");
    let invite = netcode::invite::Invite::decode(&code).expect("a valid code");
    assert_eq!(
        invite.public,
        vec![std::net::SocketAddr::from((wan1, 5000))],
        "{invite:?}"
    );
    let mut guest = lab.peer("h2", &["join", &code, "--port", GAME_PORT]);
    let (guest_id, _) = netcode_procs::joined(&mut guest, STEP)
        .unwrap_or_else(|| panic!("{}", guest.failure("the guest did not join")));
    direct_both_ways(&mut host, &host_id, &mut guest, &guest_id);
}

/// The join timeout the failing joins are given (`--join-timeout`).
const JOIN_TIMEOUT: Duration = Duration::from_secs(4);

/// `peer join CODE` from home 2 with [`JOIN_TIMEOUT`]: its error line and how long after its
/// start it came.
fn failed_join(lab: &Lab, code: &str) -> (String, Duration) {
    let secs = JOIN_TIMEOUT.as_secs().to_string();
    let started = Instant::now();
    let mut guest = lab.peer("h2", &["join", code, "--port", GAME_PORT, "--join-timeout", &secs]);
    let v = guest
        .wait_for(STEP, |v| v["event"] == "error" || v["event"] == "joined")
        .unwrap_or_else(|| panic!("{}", guest.failure("neither joined nor failed")));
    let took = started.elapsed();
    assert_eq!(v["event"], "error", "{v}");
    let (exit, _) = guest.wait_exit(STEP).expect("it exits");
    assert_eq!(exit, Some(2), "{v}");
    (v["message"].as_str().expect("a message").to_string(), took)
}

/// The join gave up at its timeout, and the program said so soon after: from its start,
/// the timeout plus what starting and setting up took (measured 0.9 to 1.2 s on a machine
/// at load 8 on 2 cores), +20 %.
fn assert_in_time(took: Duration) {
    let margin = Duration::from_millis(1500);
    assert!(took >= JOIN_TIMEOUT && took < JOIN_TIMEOUT + margin, "{took:?}");
}

/// Two port-restricted homes, neither router mapping ports, no service: the host's code
/// names its reflexive address (coturn saw one mapping for every destination), but its
/// router drops the friend's packets there, since the host never sent to the friend. The
/// join fails after its timeout, saying the host needs a router that maps ports or a
/// service. A symmetric host's code names only its LAN address (a reflexive one would not
/// be kept): the join fails saying so, and what would help.
fn without_a_mapping_or_a_service_the_join_fails_in_time_saying_what_would_help() {
    let mut lab = Lab::start();
    let (_, wan1) = lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::PortRestricted);
    lab.home(3, Nat::Symmetric);
    let _stun = lab.start_stun();
    let (mut port_restricted, code, _) = host(&lab, 1, false);
    let invite = netcode::invite::Invite::decode(&code).expect("a valid code");
    assert_eq!(
        invite.public,
        vec![std::net::SocketAddr::from((wan1, 5000))],
        "{invite:?}"
    );
    let (message, took) = failed_join(&lab, &code);
    eprintln!("port-restricted host: failed after {took:?}: {message}");
    assert!(
        message.starts_with(&format!("no member of the session answered at {wan1}:5000")),
        "{message}"
    );
    for words in ["public address did not answer", "maps ports", "rendezvous service"] {
        assert!(message.contains(words), "{words:?} in {message}");
    }
    assert_in_time(took);
    port_restricted.kill();

    let (mut symmetric, code, _) = host(&lab, 3, false);
    assert!(netcode::invite::Invite::decode(&code).expect("valid").public.is_empty());
    let (message, took) = failed_join(&lab, &code);
    eprintln!("symmetric host: failed after {took:?}: {message}");
    for words in ["only home-network addresses", "maps ports", "rendezvous service"] {
        assert!(message.contains(words), "{words:?} in {message}");
    }
    assert_in_time(took);
    symmetric.kill();
}
