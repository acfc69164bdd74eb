//! Real `peer` programs playing through the rendezvous service across the lab's NATs:
//! directly through two port-restricted routers, relayed by the service past a symmetric
//! one, on LAN addresses within one home, a host killed and its player back from its seat,
//! and a session that keeps playing through short mapping timeouts, a flood at the
//! service and a stranger.

use std::time::{Duration, Instant};

use netcode_procs::{PeerProc, unix_ms};
use serde_json::Value;

use super::{Lab, Nat, SERVICE_IP, SERVICE_PORT, lab_or_skip, machine_ns};

/// The longest wait for one step of a scenario.
const STEP: Duration = Duration::from_secs(20);
/// The game port of every peer (inside its own namespace).
const GAME_PORT: &str = "5000";

fn service_addr() -> String {
    format!("{SERVICE_IP}:{SERVICE_PORT}")
}

/// The service's last counters line, as `name: value` pairs.
fn service_stat(log: &str, name: &str) -> u64 {
    let line = log.lines().rev().find(|l| l.contains("ServerStats")).unwrap_or("");
    let key = format!("{name}: ");
    line.split(&key)
        .nth(1)
        .and_then(|rest| rest.split([',', ' ', '}']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the service's log: {log}"))
}

/// A running service, read when it is stopped.
struct Service(std::process::Child);

impl Service {
    /// Stops it after its next counters line; returns its log.
    fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(1200));
        let _ = self.0.kill();
        let out = self.0.wait_with_output().expect("ends");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Lab {
    fn start_service(&self) -> Service {
        let s = Service(self.service());
        std::thread::sleep(Duration::from_millis(300)); // it binds its port
        s
    }

    /// `peer host` on machine (`k`, `i`) through the service; its invite code.
    fn host_game(&self, k: u8, i: u8, name: &str, extra: &[&str]) -> (PeerProc, String, String) {
        let svc = service_addr();
        let mut args = vec!["host", "--name", name, "--port", GAME_PORT, "--rendezvous", &svc];
        args.extend_from_slice(extra);
        let mut p = self.peer(&machine_ns(k, i), &args);
        let (code, id) = netcode_procs::hosting(&mut p, STEP).unwrap_or_else(|| panic!("{}", p.failure("no invite")));
        (p, code, id)
    }

    /// `peer join CODE` on machine (`k`, `i`); its id and how long it took to join, in ms.
    fn join_game(&self, k: u8, i: u8, code: &str, name: &str, extra: &[&str]) -> (PeerProc, String, u64) {
        let mut args = vec!["join", code, "--name", name, "--port", GAME_PORT];
        args.extend_from_slice(extra);
        let started = unix_ms();
        let mut p = self.peer(&machine_ns(k, i), &args);
        let v = p
            .wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error")
            .unwrap_or_else(|| panic!("{}", p.failure("never joined")));
        assert_eq!(v["event"], "joined", "{}", p.failure("join failed"));
        let id = v["peer"].as_str().expect("an id").to_string();
        let took = v["t_ms"].as_u64().expect("a time").saturating_sub(started);
        (p, id, took)
    }
}

/// Waits until `p`'s status shows its link to each of `others` up, direct (from the
/// session's view) on `path`; returns the first status line that does.
fn link_on(p: &mut PeerProc, others: &[&str], path: &str) -> Value {
    p.wait_for(STEP, |v| {
        v["event"] == "status"
            && others
                .iter()
                .all(|o| v["links"][*o]["state"] == "direct" && v["links"][*o]["path"] == path)
    })
    .unwrap_or_else(|| panic!("{}", p.failure(&format!("no {path} link to {others:?}"))))
}

#[test]
fn two_port_restricted_homes_play_directly_through_the_rendezvous() {
    let Some(mut lab) = lab_or_skip("two_port_restricted_homes_play_directly_through_the_rendezvous") else {
        return;
    };
    let (_, wan1) = lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::PortRestricted);
    let service = lab.start_service();
    let (mut host, code, host_id) = lab.host_game(1, 0, "Mira", &[]);
    let invite = netcode::invite::Invite::decode(&code).expect("a valid invite");
    assert_eq!(invite.rendezvous, vec![service_addr().parse().unwrap()], "{invite:?}");
    assert_eq!(invite.addrs[0].ip(), wan1, "the host is known by its router's address");
    let (mut guest, guest_id, took) = lab.join_game(2, 0, &code, "Juno", &[]);
    eprintln!("joined through two port-restricted NATs in {took} ms");
    link_on(&mut guest, &[&host_id], "internet");
    link_on(&mut host, &[&guest_id], "internet");
    let log = service.stop();
    assert_eq!(
        service_stat(&log, "relayed_bytes"),
        0,
        "direct: the service relayed nothing"
    );
}

#[test]
fn a_symmetric_nat_is_relayed_by_the_service_and_play_goes_on() {
    let Some(mut lab) = lab_or_skip("a_symmetric_nat_is_relayed_by_the_service_and_play_goes_on") else {
        return;
    };
    lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::Symmetric);
    let service = lab.start_service();
    let (mut host, code, host_id) = lab.host_game(1, 0, "Mira", &[]);
    let (mut guest, guest_id, took) = lab.join_game(2, 0, &code, "Juno", &[]);
    eprintln!("joined past a symmetric NAT in {took} ms");
    link_on(&mut guest, &[&host_id], "rendezvous");
    link_on(&mut host, &[&guest_id], "rendezvous");
    // State flows over the relay: each side's counter keeps rising at the other.
    let score = |p: &mut PeerProc, of: &str| p.last_status().and_then(|v| v["scores"][of].as_u64()).unwrap_or(0);
    let before = score(&mut guest, &host_id);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        score(&mut guest, &host_id) > before + 5,
        "{}",
        guest.failure("the host's state stalled")
    );
    let log = service.stop();
    assert!(service_stat(&log, "relayed_bytes") > 10_000, "{log}");
    assert_eq!(service_stat(&log, "relay_refused"), 0, "{log}");
}

#[test]
fn two_players_in_one_home_connect_on_their_lan_addresses() {
    let Some(mut lab) = lab_or_skip("two_players_in_one_home_connect_on_their_lan_addresses") else {
        return;
    };
    lab.home(1, Nat::PortRestricted);
    lab.machine(1, 1);
    let service = lab.start_service();
    let (mut host, code, host_id) = lab.host_game(1, 0, "Mira", &[]);
    let (mut guest, guest_id, took) = lab.join_game(1, 1, &code, "Juno", &[]);
    eprintln!("joined within one home in {took} ms");
    link_on(&mut guest, &[&host_id], "lan");
    link_on(&mut host, &[&guest_id], "lan");
    let log = service.stop();
    assert_eq!(service_stat(&log, "relayed_bytes"), 0);
}

#[test]
fn four_players_in_three_homes_survive_a_killed_host_who_rejoins_through_the_rendezvous() {
    let Some(mut lab) = lab_or_skip("four_players_in_three_homes_survive_a_killed_host_who_rejoins") else {
        return;
    };
    for k in 1..=3 {
        lab.home(k, Nat::PortRestricted);
    }
    lab.machine(1, 1);
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
    back.wait_for(STEP, |v| netcode_procs::settled(v, Some(&new_hosts[0]), 4, &ids))
        .unwrap_or_else(|| panic!("{}", back.failure("never saw the session again")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn short_mappings_a_flood_and_a_stranger_do_not_break_a_session() {
    let Some(mut lab) = lab_or_skip("short_mappings_a_flood_and_a_stranger_do_not_break_a_session") else {
        return;
    };
    lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::PortRestricted);
    lab.home(3, Nat::PortRestricted);
    for k in 1..=2 {
        lab.mapping_timeout(k, 5);
    }
    let _service = lab.start_service();
    let (mut host, code, host_id) = lab.host_game(1, 0, "Mira", &[]);
    let (mut guest, guest_id, _) = lab.join_game(2, 0, &code, "Juno", &[]);
    link_on(&mut guest, &[&host_id], "internet");
    link_on(&mut host, &[&guest_id], "internet");
    // A stranger floods the service with garbage from home 3 ...
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
    for (p, other) in [(&mut host, &guest_id), (&mut guest, &host_id)] {
        let v = p.last_status().expect("a status");
        assert_eq!(
            (v["members"].as_u64(), v["links"][other.as_str()]["state"].as_str()),
            (Some(2), Some("direct")),
            "{v}"
        );
    }
}
