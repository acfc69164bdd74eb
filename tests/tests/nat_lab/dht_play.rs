//! Playing through the lab's own Mainline DHT, with coturn and nothing else (no
//! rendezvous service): a host killed with SIGKILL (the others migrate and republish, its
//! code still lets a new player in and its player back from its seat), a stranger on the
//! DHT, and the DHT stopped in the middle of a session.

use std::time::{Duration, Instant};

use netcode_procs::PeerProc;
use netcode_tests::lab::{DhtNet, GAME_PORT, Lab, Nat, STEP, Service, link_on, machine_ns, public_code, stun_args};

/// This module's tests, as the harness lists them.
pub(super) const TESTS: &[(&str, fn())] = &[
    (
        "dht::four_players_in_three_homes_survive_a_killed_host_and_its_code_and_seat_work_through_the_dht",
        four_players_in_three_homes_survive_a_killed_host_and_its_code_and_seat_work_through_the_dht,
    ),
    (
        "dht::a_symmetric_home_is_relayed_by_a_member_both_reach_and_direct_where_its_router_maps_ports",
        a_symmetric_home_is_relayed_by_a_member_both_reach_and_direct_where_its_router_maps_ports,
    ),
    (
        "dht::a_symmetric_host_is_joined_from_a_full_cone_home_at_the_port_its_punch_opened",
        a_symmetric_host_is_joined_from_a_full_cone_home_at_the_port_its_punch_opened,
    ),
    (
        "dht::a_stranger_on_the_dht_finds_nothing_learns_nothing_and_plants_nothing",
        a_stranger_on_the_dht_finds_nothing_learns_nothing_and_plants_nothing,
    ),
    (
        "dht::with_the_dht_stopped_play_goes_on_and_a_join_fails_saying_why",
        with_the_dht_stopped_play_goes_on_and_a_join_fails_saying_why,
    ),
    (
        "dht::two_symmetric_players_get_an_error_saying_what_would_help_within_the_join_timeout",
        two_symmetric_players_get_an_error_saying_what_would_help_within_the_join_timeout,
    ),
];

/// coturn and the lab's DHT, and the flags that name them.
pub(super) struct Online {
    _stun: Service,
    pub(super) dht: DhtNet,
    pub(super) args: Vec<String>,
}

impl Online {
    pub(super) fn start(lab: &Lab) -> Online {
        let stun = lab.start_stun();
        let dht = lab.start_dht_testnet();
        let mut args = stun_args();
        args.extend(dht.args(2));
        Online { _stun: stun, dht, args }
    }

    /// `peer host` on machine (`k`, `i`) with `extra` (`--port-mapping` where its router
    /// `maps`): the process, the code it hands out once STUN (and the router) answered,
    /// its id.
    pub(super) fn host(
        &self,
        lab: &Lab,
        (k, i): (u8, u8),
        name: &str,
        extra: &[&str],
        maps: bool,
    ) -> (PeerProc, String, String) {
        let mut args = vec!["host", "--name", name, "--port", GAME_PORT];
        args.extend(self.args.iter().map(String::as_str));
        args.extend_from_slice(extra);
        let mut p = lab.peer(&machine_ns(k, i), &args);
        let (first, id) = netcode_procs::hosting(&mut p, STEP).unwrap_or_else(|| panic!("{}", p.failure("no invite")));
        let code = public_code(&mut p, &first, maps).unwrap_or_else(|e| panic!("{e}"));
        (p, code, id)
    }

    /// `peer join CODE` on machine (`k`, `i`) with `extra`: the process (not yet joined).
    pub(super) fn start_join(&self, lab: &Lab, (k, i): (u8, u8), code: &str, name: &str, extra: &[&str]) -> PeerProc {
        let mut args = vec!["join", code, "--name", name];
        if !extra.contains(&"--port") {
            args.extend(["--port", GAME_PORT]);
        }
        args.extend(self.args.iter().map(String::as_str));
        args.extend_from_slice(extra);
        lab.peer(&machine_ns(k, i), &args)
    }

    /// [`Online::start_join`] until it joined: the process, its id, how long it took.
    pub(super) fn join(
        &self,
        lab: &Lab,
        at: (u8, u8),
        code: &str,
        name: &str,
        extra: &[&str],
    ) -> (PeerProc, String, Duration) {
        let started = Instant::now();
        let mut p = self.start_join(lab, at, code, name, extra);
        let v = p
            .wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error")
            .unwrap_or_else(|| panic!("{}", p.failure("neither joined nor failed")));
        if v["event"] != "joined" {
            let _ = p.wait_exit(Duration::from_secs(3)); // its error output, once it ended
            panic!("{}", p.failure("the join failed"));
        }
        let id = v["peer"].as_str().expect("an id").to_string();
        (p, id, started.elapsed())
    }
}

/// Waits until `p` sees `members` active members, `host` hosting and every one of
/// `others` fresh.
fn settle(p: &mut PeerProc, host: Option<&str>, members: usize, others: &[String]) -> serde_json::Value {
    p.wait_for(STEP, |v| netcode_procs::settled(v, host, members, others))
        .unwrap_or_else(|| {
            p.kill(); // its error output is read once it ended
            std::thread::sleep(Duration::from_millis(300));
            panic!("{}", p.failure(&format!("never saw {members} members settled")))
        })
}

/// Waits until `p` (whose id is `me`) has a direct link to each of `everyone` but itself.
fn direct_to_all(p: &mut PeerProc, me: &str, everyone: &[String]) {
    let direct = |v: &serde_json::Value| {
        v["event"] == "status"
            && everyone
                .iter()
                .filter(|o| *o != me)
                .all(|o| v["links"][o]["state"] == "direct")
    };
    if p.wait_for(STEP, direct).is_none() {
        p.kill(); // its error output is read once it ended
        std::thread::sleep(Duration::from_millis(300));
        panic!("{}", p.failure("never linked directly to every other player"));
    }
}

/// Waits until `of`'s score, as `p` reads it in the store, rose by 5 (the host's state
/// reaches `p`, on a direct link or relayed by a member).
fn scores_rise(p: &mut PeerProc, of: &str) {
    let score = |v: &serde_json::Value| v["scores"][of].as_u64();
    let first = p
        .wait_for(STEP, |v| v["event"] == "status" && score(v).is_some())
        .and_then(|v| score(&v))
        .unwrap_or_else(|| panic!("{}", p.failure(&format!("no score of {of}"))));
    p.wait_for(STEP, |v| {
        v["event"] == "status" && score(v).is_some_and(|s| s >= first + 5)
    })
    .unwrap_or_else(|| panic!("{}", p.failure(&format!("{of}'s score stalled"))));
}

/// Homes 1 to 3 behind port-restricted routers, two machines in homes 1 and 2, coturn and
/// the DHT only. Mira hosts, three join through the DHT; Mira is killed with SIGKILL. The
/// three agree on a new host, which writes the record at its epoch; Lena joins with
/// Mira's code (its address is dead: only the DHT names the session now) and Mira comes
/// back from her seat, through the DHT too.
fn four_players_in_three_homes_survive_a_killed_host_and_its_code_and_seat_work_through_the_dht() {
    let mut lab = Lab::start();
    for k in 1..=3 {
        lab.home(k, Nat::PortRestricted);
    }
    lab.machine(1, 1);
    lab.machine(2, 1);
    let online = Online::start(&lab);
    let dir = netcode_procs::temp_dir("natlab-dht");
    let seat = dir.join("mira.seat").display().to_string();
    let (mut host, code, host_id) = online.host(&lab, (1, 0), "Mira", &["--seat", &seat], false);
    let mut players = Vec::new();
    // Juno plays beside Mira's machine on the same port: their router maps Juno's game
    // socket to another public port (Mira's mapping holds the first), and STUN tells Juno.
    for (at, name, port) in [
        ((1, 1), "Juno", GAME_PORT),
        ((2, 0), "Ines", GAME_PORT),
        ((3, 0), "Otto", GAME_PORT),
    ] {
        let (p, id, took) = online.join(&lab, at, &code, name, &["--port", port]);
        eprintln!("{name} joined in {took:?}");
        players.push((p, id));
    }
    let ids: Vec<String> = players.iter().map(|(_, id)| id.clone()).collect();
    // Every player sees the four of them, the host's state flowing and a direct link to
    // each of the others (links between two members form through the session's
    // signalling alone: no service introduces them).
    let everyone: Vec<String> = ids.iter().chain([&host_id]).cloned().collect();
    for (p, id) in players.iter_mut() {
        settle(p, Some(&host_id), 4, std::slice::from_ref(&host_id));
        direct_to_all(p, id, &everyone);
    }
    settle(&mut host, Some(&host_id), 4, &ids);
    std::thread::sleep(Duration::from_millis(500)); // the seat file names the members
    host.kill();
    let killed = Instant::now();
    let mut new_hosts = Vec::new();
    for (p, _) in players.iter_mut() {
        let v = p
            .wait_for(STEP, |v| {
                v["host"].as_str().is_some_and(|h| h != host_id) && netcode_procs::settled(v, None, 3, &[])
            })
            .unwrap_or_else(|| panic!("{}", p.failure("never settled on a new host")));
        new_hosts.push(v["host"].as_str().unwrap_or_default().to_string());
    }
    eprintln!("the survivors agreed {:?} after the kill", killed.elapsed());
    for ((p, _), new_host) in players.iter_mut().zip(&new_hosts) {
        scores_rise(p, new_host);
    }
    new_hosts.dedup();
    assert_eq!(new_hosts.len(), 1, "one new host: {new_hosts:?}");
    let new_host = new_hosts[0].clone();
    // The new host republished: the record on the DHT is of the new epoch (its sequence
    // number is the epoch's, shifted 24 bits), as a DHT node sees it.
    let republished = Instant::now();
    let epoch = loop {
        let mut peek = lab.dht_stranger("h3", &stranger_args("peek", &code, &online.dht));
        let seq = peek
            .wait_for(STEP, |v| v["event"].is_string())
            .and_then(|v| v["seq"].as_i64())
            .unwrap_or(0);
        if seq >> 24 >= 2 || republished.elapsed() > STEP {
            break seq >> 24;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(epoch, 2, "the record's epoch on the DHT");
    let (mut late, _, took) = online.join(&lab, (2, 1), &code, "Lena", &[]);
    eprintln!("a new player joined with the dead host's code in {took:?}");
    settle(&mut late, Some(&new_host), 4, &[]);
    scores_rise(&mut late, &new_host);
    let started = Instant::now();
    let mut back_args = vec!["host", "--name", "Mira", "--port", GAME_PORT, "--seat", &seat];
    back_args.extend(online.args.iter().map(String::as_str));
    let mut back = lab.peer("h1", &back_args);
    let v = back
        .wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error")
        .unwrap_or_else(|| panic!("{}", back.failure("never rejoined")));
    assert_eq!(
        (v["rejoined"].as_bool(), v["peer"].as_str()),
        (Some(true), Some(host_id.as_str())),
        "{v}"
    );
    eprintln!("the killed player rejoined from its seat in {:?}", started.elapsed());
    settle(&mut back, Some(&new_host), 5, &[]);
    scores_rise(&mut back, &new_host);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Four homes, coturn and the DHT only: Mira hosts behind a full-cone router, Ines plays
/// behind a port-restricted one, Otto and Pia behind symmetric ones, Pia's router mapping
/// ports (`--port-mapping`). All join through the DHT and reach Mira directly. Ines and
/// Otto have no direct path (Otto's router gives each destination another port): Mira,
/// whom both reach, relays between them: what they write to the store and their own state
/// streams flow. Ines reaches Pia directly at the port Pia's router maps.
fn a_symmetric_home_is_relayed_by_a_member_both_reach_and_direct_where_its_router_maps_ports() {
    let mut lab = Lab::start();
    lab.home(1, Nat::FullCone);
    lab.home(2, Nat::PortRestricted);
    lab.home(3, Nat::Symmetric);
    let (_, _, _daemon) = lab.upnp_home_behind(4, Nat::Symmetric, true, "");
    let online = Online::start(&lab);
    let (mut host, code, host_id) = online.host(&lab, (1, 0), "Mira", &[], false);
    let (mut ines, ines_id, took) = online.join(&lab, (2, 0), &code, "Ines", &[]);
    eprintln!("the port-restricted home joined in {took:?}");
    let (mut otto, otto_id, took) = online.join(&lab, (3, 0), &code, "Otto", &[]);
    eprintln!("the symmetric home joined in {took:?}");
    let (mut pia, pia_id, took) = online.join(&lab, (4, 0), &code, "Pia", &["--port-mapping"]);
    eprintln!("the symmetric home whose router maps ports joined in {took:?}");
    link_on(&mut host, &[&ines_id, &otto_id, &pia_id], "internet");
    let v = link_on(&mut otto, &[&ines_id], "member");
    eprintln!("Otto -> Ines relayed by a member: {}", v["links"]);
    link_on(&mut ines, &[&otto_id], "member");
    // What each writes to the store reaches the other through the member (relayed writes,
    // signed by their writer), and so does each one's own state stream (its avatar: the
    // heartbeat with state in a forward it signs, docs/design.md, "Relay").
    scores_rise(&mut otto, &ines_id);
    scores_rise(&mut ines, &otto_id);
    settle(&mut otto, Some(&host_id), 4, &[ines_id.clone(), host_id.clone()]);
    settle(&mut ines, Some(&host_id), 4, &[otto_id.clone(), host_id.clone()]);
    let v = link_on(&mut ines, &[&pia_id], "mapped");
    eprintln!("Ines -> Pia direct at the mapped port: {}", v["links"]);
    link_on(&mut pia, &[&ines_id], "internet");
    settle(&mut pia, Some(&host_id), 4, &[ines_id, otto_id, host_id.clone()]);
}

/// A host behind a symmetric router (each destination another port), a joiner behind a
/// full-cone one, coturn and the DHT only. No address the code or the record names reaches
/// the host; its punch towards the joiner's knock comes from a port opened for the joiner
/// alone, which the joiner then dials: they link directly.
fn a_symmetric_host_is_joined_from_a_full_cone_home_at_the_port_its_punch_opened() {
    let mut lab = Lab::start();
    lab.home(1, Nat::Symmetric);
    lab.home(2, Nat::FullCone);
    let online = Online::start(&lab);
    let (mut host, code, host_id) = online.host(&lab, (1, 0), "Mira", &[], false);
    let (mut guest, guest_id, took) = online.join(&lab, (2, 0), &code, "Juno", &[]);
    eprintln!("joined a symmetric host from a full-cone home in {took:?}");
    link_on(&mut guest, &[&host_id], "internet");
    link_on(&mut host, &[&guest_id], "internet");
    settle(&mut guest, Some(&host_id), 2, std::slice::from_ref(&host_id));
}

/// Two port-restricted homes playing through the DHT, and a stranger in a third home.
/// With a code of another key it finds nothing (a join fails saying the DHT holds no
/// record); what a DHT node holding the record sees names none of the host's addresses;
/// a captured knock put back, and a knock sealed with another key, are ignored by the
/// host and counted, and the session goes on as it was.
fn a_stranger_on_the_dht_finds_nothing_learns_nothing_and_plants_nothing() {
    let mut lab = Lab::start();
    let (lan1, wan1) = lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::PortRestricted);
    lab.home(3, Nat::PortRestricted);
    let online = Online::start(&lab);
    let (mut host, code, host_id) = online.host(&lab, (1, 0), "Mira", &[], false);
    let (mut guest, guest_id, _) = online.join(&lab, (2, 0), &code, "Juno", &[]);
    settle(&mut host, Some(&host_id), 2, std::slice::from_ref(&guest_id));
    // Finds nothing: the same code with another key.
    let mut other = netcode::invite::Invite::decode(&code).expect("a valid code");
    other.session.key[0] ^= 1;
    let other = other.encode();
    let mut lost = online.start_join(&lab, (3, 0), &other, "Eve", &["--join-timeout", "6"]);
    let v = lost
        .wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error")
        .unwrap_or_else(|| panic!("{}", lost.failure("neither joined nor failed")));
    assert_eq!(v["event"], "error", "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains("the DHT holds no record of this session"), "{v}");
    // Learns nothing: the record as the DHT holds it names no address of the host's.
    let mut peek = lab.dht_stranger("h3", &stranger_args("peek", &code, &online.dht));
    let v = peek
        .wait_for(STEP, |v| v["event"].is_string())
        .unwrap_or_else(|| panic!("{}", peek.failure("no answer")));
    assert_eq!(v["event"], "record", "{v}");
    let sealed = v["hex"].as_str().expect("the value");
    let len = v["len"].as_u64().expect("a length");
    eprintln!("the record as a DHT node sees it: {len} bytes, seq {}", v["seq"]);
    assert!(len <= 1000, "{v}");
    for ip in [wan1, lan1] {
        let plain: String = ip.octets().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!sealed.contains(&plain), "{ip} in the sealed record {sealed}");
    }
    // Plants nothing: a replayed knock, then a forged one, each once the host read the last.
    let counted = |v: &serde_json::Value, what: &str| v["dht"][what].as_u64().unwrap_or(0);
    for (what, counter) in [("replay", "stale_or_replayed"), ("forge", "forged")] {
        let mut s = lab.dht_stranger("h3", &stranger_args(what, &code, &online.dht));
        let v = s
            .wait_for(STEP, |v| v["event"].is_string())
            .unwrap_or_else(|| panic!("{}", s.failure("no answer")));
        assert_eq!(v["stored"], true, "the DHT took the {what}: {v}");
        let v = host
            .wait_for(STEP, |v| v["event"] == "status" && counted(v, counter) >= 1)
            .unwrap_or_else(|| panic!("{}", host.failure(&format!("the {what} was not counted"))));
        eprintln!("after the {what}: the host's DHT {}", v["dht"]);
    }
    std::thread::sleep(Duration::from_secs(2));
    for (p, other) in [(&mut host, &guest_id), (&mut guest, &host_id)] {
        let v = p.last_status().expect("a status");
        assert_eq!(
            (v["members"].as_u64(), v["links"][other.as_str()]["state"].as_str()),
            (Some(2), Some("direct")),
            "{v}"
        );
        p.pump();
        let bad = p
            .lines
            .iter()
            .find(|v| v["event"] == "error" || v["event"] == "peer_away");
        assert!(bad.is_none(), "{}: {bad:?}", p.name);
    }
}

/// `dht-stranger WHAT CODE` through the lab's first two DHT nodes.
fn stranger_args<'a>(what: &'a str, code: &'a str, dht: &'a DhtNet) -> Vec<&'a str> {
    let mut args = vec![what, code];
    for node in dht.bootstrap.iter().take(2) {
        args.extend(["--dht-bootstrap", node.as_str()]);
    }
    args
}

/// Two port-restricted homes joined through the DHT, then the DHT stopped: play goes on
/// for 15 s as it was (links direct, state flowing, no error), and a third player's join
/// fails within its timeout saying that no DHT node answered.
fn with_the_dht_stopped_play_goes_on_and_a_join_fails_saying_why() {
    let mut lab = Lab::start();
    for k in 1..=3 {
        lab.home(k, Nat::PortRestricted);
    }
    let online = Online::start(&lab);
    let (mut host, code, host_id) = online.host(&lab, (1, 0), "Mira", &[], false);
    let (mut guest, guest_id, _) = online.join(&lab, (2, 0), &code, "Juno", &[]);
    settle(&mut host, Some(&host_id), 2, std::slice::from_ref(&guest_id));
    let Online { _stun, dht, args } = online;
    let log = dht.service.stop();
    eprintln!("DHT stopped ({} bytes of its log)", log.len());
    let score = |p: &mut PeerProc, of: &str| p.last_status().and_then(|v| v["scores"][of].as_u64()).unwrap_or(0);
    let before = score(&mut guest, &host_id);
    let play = Instant::now();
    while play.elapsed() < Duration::from_secs(15) {
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
    assert!(
        score(&mut guest, &host_id) > before + 30,
        "{}",
        guest.failure("the host's state stalled")
    );
    let timeout = Duration::from_secs(6);
    let started = Instant::now();
    let mut join = vec![
        "join",
        code.as_str(),
        "--name",
        "Otto",
        "--port",
        GAME_PORT,
        "--join-timeout",
        "6",
    ];
    join.extend(args.iter().map(String::as_str));
    let mut late = lab.peer("h3", &join);
    let v = late
        .wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error")
        .unwrap_or_else(|| panic!("{}", late.failure("neither joined nor failed")));
    let took = started.elapsed();
    eprintln!("with the DHT stopped, a join failed after {took:?}: {}", v["message"]);
    assert_eq!(v["event"], "error", "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains("no node of the BitTorrent DHT answered"), "{v}");
    // The timeout plus what starting takes (see `alone::assert_in_time`), +20 %.
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(1500),
        "{took:?}"
    );
}

/// Two homes behind symmetric routers, neither mapping ports, coturn and the DHT only: the
/// joiner finds the record and knocks, but no path exists (each router gives every
/// destination another port). The join fails within its timeout, naming what would help.
fn two_symmetric_players_get_an_error_saying_what_would_help_within_the_join_timeout() {
    let mut lab = Lab::start();
    lab.home(1, Nat::Symmetric);
    lab.home(2, Nat::Symmetric);
    let online = Online::start(&lab);
    let (_host, code, _) = online.host(&lab, (1, 0), "Mira", &[], false);
    let timeout = Duration::from_secs(6);
    let started = Instant::now();
    let mut guest = online.start_join(&lab, (2, 0), &code, "Juno", &["--join-timeout", "6"]);
    let v = guest
        .wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error")
        .unwrap_or_else(|| panic!("{}", guest.failure("neither joined nor failed")));
    let took = started.elapsed();
    eprintln!("two symmetric homes: failed after {took:?}: {}", v["message"]);
    assert_eq!(v["event"], "error", "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    for words in ["maps ports", "rendezvous service"] {
        assert!(message.contains(words), "{words:?} in {message}");
    }
    // The timeout plus what starting takes (see `alone::assert_in_time`), +20 %.
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(1500),
        "{took:?}"
    );
}
