//! Real `peer` programs playing through the rendezvous service across the lab's NATs:
//! directly through two port-restricted routers, relayed by the service past a symmetric
//! one, on LAN addresses within one home, a host killed (its code still lets a new player
//! in, and its player comes back from its seat),
//! and a session that keeps playing through short mapping timeouts, a flood, a forged
//! and a replayed request at the service, and a stranger.

use std::time::{Duration, Instant};

use netcode_procs::PeerProc;
use netcode_tests::lab::{
    GAME_PORT, Lab, Nat, SERVICE_IP, SERVICE_PORT, STEP, Service, link_on, service_addr, service_stat,
};

/// This module's tests, as the harness lists them.
pub(super) const TESTS: &[(&str, fn())] = &[
    (
        "play::two_port_restricted_homes_play_directly_through_the_rendezvous",
        two_port_restricted_homes_play_directly_through_the_rendezvous,
    ),
    (
        "play::a_symmetric_nat_is_relayed_by_the_service_and_play_goes_on",
        a_symmetric_nat_is_relayed_by_the_service_and_play_goes_on,
    ),
    (
        "play::two_players_in_one_home_connect_on_their_lan_addresses",
        two_players_in_one_home_connect_on_their_lan_addresses,
    ),
    (
        "play::four_players_in_three_homes_survive_a_killed_host_and_its_code_and_seat_still_work",
        four_players_in_three_homes_survive_a_killed_host_and_its_code_and_seat_still_work,
    ),
    (
        "play::short_mappings_a_flood_forgeries_replays_and_a_stranger_do_not_break_a_session",
        short_mappings_a_flood_forgeries_replays_and_a_stranger_do_not_break_a_session,
    ),
    (
        "play::a_symmetric_nat_reaches_a_full_cone_one_directly_by_latching",
        a_symmetric_nat_reaches_a_full_cone_one_directly_by_latching,
    ),
    (
        "play::a_router_that_accepts_unsolicited_input_still_connects",
        a_router_that_accepts_unsolicited_input_still_connects,
    ),
    (
        "play::two_symmetric_homes_are_relayed_by_a_member_both_reach",
        two_symmetric_homes_are_relayed_by_a_member_both_reach,
    ),
    (
        "play::ipv6_machines_play_directly_on_their_global_addresses",
        ipv6_machines_play_directly_on_their_global_addresses,
    ),
];

/// A host on machine 0 of home 1 and a guest playing through the service.
struct Played {
    /// Kept to keep the host playing (killed when dropped).
    _host: PeerProc,
    guest: PeerProc,
    host_id: String,
    code: String,
    service: Service,
}

/// Starts the service, a host on machine 0 of home 1 and a guest on machine `guest`
/// (home, machine), and waits for their links to be up on `path` both ways.
fn play(lab: &Lab, guest: (u8, u8), path: &str) -> Played {
    let service = lab.start_service();
    let (mut host, code, host_id) = lab.host_game(1, 0, "Mira", &[]);
    let (mut g, guest_id, took) = lab.join_game(guest.0, guest.1, &code, "Juno", &[]);
    eprintln!("joined on a {path} path in {took} ms");
    link_on(&mut g, &[&host_id], path);
    link_on(&mut host, &[&guest_id], path);
    Played {
        _host: host,
        guest: g,
        host_id,
        code,
        service,
    }
}

fn two_port_restricted_homes_play_directly_through_the_rendezvous() {
    let mut lab = Lab::start();
    let (_, wan1) = lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::PortRestricted);
    let played = play(&lab, (2, 0), "internet");
    let invite = netcode::invite::Invite::decode(&played.code).expect("a valid invite");
    assert_eq!(invite.rendezvous, vec![service_addr().parse().unwrap()], "{invite:?}");
    assert_eq!(invite.addrs[0].ip(), wan1, "the host is known by its router's address");
    let log = played.service.stop();
    assert_eq!(
        service_stat(&log, "relayed_bytes"),
        0,
        "direct: the service relayed nothing"
    );
}

fn a_symmetric_nat_is_relayed_by_the_service_and_play_goes_on() {
    let mut lab = Lab::start();
    lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::Symmetric);
    let mut played = play(&lab, (2, 0), "service");
    // State flows over the relay: each side's counter keeps rising at the other.
    let score = |p: &mut PeerProc, of: &str| p.last_status().and_then(|v| v["scores"][of].as_u64()).unwrap_or(0);
    let before = score(&mut played.guest, &played.host_id);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        score(&mut played.guest, &played.host_id) > before + 5,
        "{}",
        played.guest.failure("the host's state stalled")
    );
    let log = played.service.stop();
    assert!(service_stat(&log, "relayed_bytes") > 10_000, "{log}");
    assert_eq!(service_stat(&log, "relay_refused"), 0, "{log}");
}

fn two_players_in_one_home_connect_on_their_lan_addresses() {
    let mut lab = Lab::start();
    lab.home(1, Nat::PortRestricted);
    lab.machine(1, 1);
    let log = play(&lab, (1, 1), "lan").service.stop();
    assert_eq!(service_stat(&log, "relayed_bytes"), 0);
}

fn four_players_in_three_homes_survive_a_killed_host_and_its_code_and_seat_still_work() {
    let mut lab = Lab::start();
    for k in 1..=3 {
        lab.home(k, Nat::PortRestricted);
    }
    lab.machine(1, 1);
    lab.machine(2, 1);
    let _service = lab.start_service();
    let dir = netcode_procs::temp_dir("natlab");
    let seat = dir.join("mira.seat").display().to_string();
    let (mut host, code, host_id) = lab.host_game(1, 0, "Mira", &["--seat", &seat]);
    let mut players = Vec::new();
    for (k, i, name) in [(1, 1, "Juno"), (2, 0, "Ines"), (3, 0, "Otto")] {
        players.push(lab.join_game(k, i, &code, name, &[]));
    }
    let ids: Vec<String> = players.iter().map(|(_, id, _)| id.clone()).collect();
    for (p, id, _) in players.iter_mut() {
        let others: Vec<&str> = ids.iter().filter(|o| *o != id).map(String::as_str).collect();
        p.wait_for(STEP, |v| {
            netcode_procs::settled(v, Some(&host_id), 4, &[])
                && others.iter().all(|o| v["links"][*o]["state"] == "direct")
        })
        .unwrap_or_else(|| panic!("{}", p.failure("never saw the whole session")));
    }
    host.wait_for(STEP, |v| netcode_procs::settled(v, Some(&host_id), 4, &ids))
        .unwrap_or_else(|| panic!("{}", host.failure("the host never saw everyone")));
    std::thread::sleep(Duration::from_millis(500)); // the seat file names the members
    host.kill();
    let killed = Instant::now();
    let mut new_hosts = Vec::new();
    for (p, id, _) in players.iter_mut() {
        let others: Vec<String> = ids.iter().filter(|o| *o != id).cloned().collect();
        let v = p
            .wait_for(STEP, |v| {
                v["host"].as_str().is_some_and(|h| h != host_id) && netcode_procs::settled(v, None, 3, &others)
            })
            .unwrap_or_else(|| panic!("{}", p.failure("never settled on a new host")));
        new_hosts.push(v["host"].as_str().unwrap_or_default().to_string());
        let change = p.first("host_changed").expect("a host change");
        eprintln!("{}: migration pause {} ms", p.name, change["pause_ms"]);
    }
    eprintln!(
        "all survivors agreed {} ms after the kill",
        killed.elapsed().as_millis()
    );
    new_hosts.dedup();
    assert_eq!(new_hosts.len(), 1, "one new host: {new_hosts:?}");
    // The host's code works without the host (its first address is dead): the service
    // lists the members who are left.
    let (mut late, _, took) = lab.join_game(2, 1, &code, "Lena", &[]);
    eprintln!("a late player joined with the dead host's code in {took} ms");
    late.wait_for(STEP, |v| netcode_procs::settled(v, Some(&new_hosts[0]), 4, &ids))
        .unwrap_or_else(|| panic!("{}", late.failure("never saw the session")));
    // The killed player comes back from its seat, through the rendezvous (the code's
    // first address was its own, dead now).
    let mut back = lab.peer("h1", &["host", "--name", "Mira", "--port", GAME_PORT, "--seat", &seat]);
    let v = back
        .wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error")
        .unwrap_or_else(|| panic!("{}", back.failure("never rejoined")));
    assert_eq!(
        (v["rejoined"].as_bool(), v["peer"].as_str()),
        (Some(true), Some(host_id.as_str())),
        "{v}"
    );
    back.wait_for(STEP, |v| netcode_procs::settled(v, Some(&new_hosts[0]), 5, &ids))
        .unwrap_or_else(|| panic!("{}", back.failure("never saw the session again")));
    let _ = std::fs::remove_dir_all(&dir);
}

fn short_mappings_a_flood_forgeries_replays_and_a_stranger_do_not_break_a_session() {
    let mut lab = Lab::start();
    lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::PortRestricted);
    lab.home(3, Nat::PortRestricted);
    for k in 1..=2 {
        lab.mapping_timeout(k, 5);
    }
    lab.machine(3, 1);
    let service = lab.start_service();
    let (mut host, code, host_id) = lab.host_game(1, 0, "Mira", &[]);
    let (mut guest, guest_id, _) = lab.join_game(2, 0, &code, "Juno", &[]);
    link_on(&mut guest, &[&host_id], "internet");
    link_on(&mut host, &[&guest_id], "internet");
    // From home 3: a forged "the host leaves" (the session's public key, a signature that is
    // not its), and a genuine one replayed (signed with the key, as if captured 10 s ago:
    // older than the host's newest registration) ...
    let key = netcode::invite::Invite::decode(&code)
        .expect("a valid invite")
        .session
        .key;
    let signer = netcode::rendezvous::SessionSigner::new(&key);
    let host_peer = netcode::PeerId(u64::from_str_radix(&host_id, 16).expect("a hex id"));
    let now_ms = netcode_procs::unix_ms();
    let netcode::rendezvous::Frame::Signed { signed, sig } =
        signer.request(host_peer, now_ms - 10_000, 1, netcode::rendezvous::Request::Leave)
    else {
        panic!("a signed request")
    };
    let forged = netcode::rendezvous::Frame::Signed {
        signed: netcode::rendezvous::Signed {
            at_ms: now_ms,
            nonce: u64::MAX,
            ..signed.clone()
        },
        sig,
    };
    let replayed = netcode::rendezvous::Frame::Signed { signed, sig };
    let dir = netcode_procs::temp_dir("forged");
    for (name, frame) in [("forged", forged), ("replayed", replayed)] {
        let file = dir.join(name);
        std::fs::write(&file, frame.encode().expect("encodes")).expect("writes");
        let send = format!("cat {} > /dev/udp/{SERVICE_IP}/{SERVICE_PORT}", file.display());
        lab.exec("h3", &["bash", "-c", &send]);
    }
    let _ = std::fs::remove_dir_all(&dir);
    // ... a flood of garbage ...
    let flood = format!("for i in $(seq 3000); do printf 'garbage %s' $i > /dev/udp/{SERVICE_IP}/{SERVICE_PORT}; done");
    lab.exec("h3", &["bash", "-c", &flood]);
    // ... and tries the session with a key of its own.
    let mut forged = netcode::invite::Invite::decode(&code).expect("a valid invite");
    forged.session.key[0] ^= 1;
    let forged = forged.encode();
    let mut stranger = lab.peer("h3", &["join", &forged, "--port", GAME_PORT, "--join-timeout", "3"]);
    let v = stranger.wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error");
    assert_eq!(
        v.map(|v| v["event"].clone()),
        Some("error".into()),
        "the stranger got nowhere"
    );
    // 40 s of play with mappings that die after 5 s idle: the links hold.
    let play = Instant::now();
    while play.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_secs(1));
        for p in [&mut host, &mut guest] {
            p.pump();
            let bad = p.lines.iter().find(|v| {
                (v["event"] == "link_changed" && v["state"] != "direct")
                    || v["event"] == "peer_away"
                    || v["event"] == "error"
            });
            assert!(bad.is_none(), "{}: {bad:?}", p.name);
        }
    }
    // The session is still listed with its host: a new player joins through the service.
    let (mut late, _, _) = lab.join_game(3, 1, &code, "Lena", &[]);
    late.wait_for(STEP, |v| netcode_procs::settled(v, Some(&host_id), 3, &[]))
        .unwrap_or_else(|| panic!("{}", late.failure("never saw the session")));
    let log = service.stop();
    assert!(
        service_stat(&log, "bad_signatures") >= 1,
        "the forgery was refused: {log}"
    );
    assert!(
        service_stat(&log, "replayed_or_stale") >= 1,
        "the replay was refused: {log}"
    );
    assert!(service_stat(&log, "rate_limited") > 0, "the flood was cut: {log}");
    for (p, other) in [(&mut host, &guest_id), (&mut guest, &host_id)] {
        let v = p.last_status().expect("a status");
        assert_eq!(
            (v["members"].as_u64(), v["links"][other.as_str()]["state"].as_str()),
            (Some(3), Some("direct")),
            "{v}"
        );
    }
}

fn a_symmetric_nat_reaches_a_full_cone_one_directly_by_latching() {
    let mut lab = Lab::start();
    lab.home(1, Nat::FullCone);
    lab.home(2, Nat::Symmetric);
    let log = play(&lab, (2, 0), "internet").service.stop();
    assert_eq!(service_stat(&log, "relayed_bytes"), 0);
}

fn a_router_that_accepts_unsolicited_input_still_connects() {
    let mut lab = Lab::start();
    lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::AcceptingPortRestricted);
    let _service = lab.start_service();
    let (mut host, code, host_id) = lab.host_game(1, 0, "Mira", &[]);
    let (mut guest, guest_id, took) = lab.join_game(2, 0, &code, "Juno", &[]);
    let path = |v: &serde_json::Value, id: &str| v["links"][id]["path"].as_str().map(String::from);
    let up = |p: &mut PeerProc, other: &str| {
        p.wait_for(STEP, |v| v["event"] == "status" && !v["links"][other]["path"].is_null())
            .unwrap_or_else(|| panic!("{}", p.failure("never connected")))
    };
    let g = up(&mut guest, &host_id);
    let h = up(&mut host, &guest_id);
    eprintln!(
        "accepting router: joined in {took} ms, paths {:?} / {:?}",
        path(&g, &host_id),
        path(&h, &guest_id)
    );
}

fn two_symmetric_homes_are_relayed_by_a_member_both_reach() {
    let mut lab = Lab::start();
    lab.home(1, Nat::FullCone);
    lab.home(2, Nat::Symmetric);
    lab.home(3, Nat::Symmetric);
    let mut played = play(&lab, (2, 0), "internet");
    let (mut third, third_id, took) = lab.join_game(3, 0, &played.code, "Otto", &[]);
    eprintln!("a second symmetric home joined in {took} ms");
    let guest_id = played.guest.first("joined").expect("joined")["peer"]
        .as_str()
        .expect("an id")
        .to_string();
    // Home 1 reaches both directly (latching); homes 2 and 3 have no direct path to each
    // other, and the member that reaches both relays for them, not the service.
    link_on(&mut third, &[&played.host_id], "internet");
    let relayed = |p: &mut PeerProc, other: &str| {
        p.wait_for(STEP, |v| {
            v["event"] == "status" && v["links"][other]["state"] == "relayed" && v["links"][other]["path"] == "member"
        })
        .unwrap_or_else(|| panic!("{}", p.failure(&format!("no relay through a member to {other}"))))
    };
    relayed(&mut third, &guest_id);
    relayed(&mut played.guest, &third_id);
    let log = played.service.stop();
    assert_eq!(service_stat(&log, "relayed_bytes"), 0, "{log}");
}

fn ipv6_machines_play_directly_on_their_global_addresses() {
    let mut lab = Lab::start();
    lab.ipv6_machines(2);
    let svc = "[2001:db8::1]:7777";
    let service = lab.start_service_at(svc);
    let v6 = ["--bind", "::", "--port", GAME_PORT];
    let mut host = lab.peer(
        "v0",
        &[&["host", "--name", "Mira", "--rendezvous", svc][..], &v6].concat(),
    );
    let (code, host_id) =
        netcode_procs::hosting(&mut host, STEP).unwrap_or_else(|| panic!("{}", host.failure("no invite")));
    let invite = netcode::invite::Invite::decode(&code).expect("a valid invite");
    assert_eq!(invite.addrs[0], "[2001:db8::10]:5000".parse().unwrap(), "{invite:?}");
    let mut guest = lab.peer("v1", &[&["join", &code, "--name", "Juno"][..], &v6].concat());
    let joined = guest
        .wait_for(STEP, |v| v["event"] == "joined")
        .unwrap_or_else(|| panic!("{}", guest.failure("never joined")));
    let guest_id = joined["peer"].as_str().expect("an id").to_string();
    link_on(&mut guest, &[&host_id], "internet");
    link_on(&mut host, &[&guest_id], "internet");
    assert_eq!(service_stat(&service.stop(), "relayed_bytes"), 0);
}
