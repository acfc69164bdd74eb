//! STUN in the lab: Debian's coturn, on two addresses of the lab's internet, tells real
//! `peer` programs their home's reflexive address and how its router maps: one port for
//! every destination behind `MASQUERADE` (port-restricted), a new port per destination
//! behind `MASQUERADE --random-fully` (symmetric); forged answers change nothing.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use netcode::stun::binding_success;
use netcode_tests::lab::{
    GAME_PORT, Lab, Nat, SERVICE_IP, SERVICE_PORT, STEP, STUN_PORT, machine_ns, service_addr, stun_args,
};

/// This module's tests, as the harness lists them.
pub(super) const TESTS: &[(&str, fn())] = &[
    (
        "stun::coturn_tells_each_home_its_reflexive_address_and_mapping",
        coturn_tells_each_home_its_reflexive_address_and_mapping,
    ),
    (
        "stun::netcheck_tells_each_home_its_nat_type",
        netcheck_tells_each_home_its_nat_type,
    ),
    (
        "stun::forged_stun_answers_from_the_lan_change_nothing",
        forged_stun_answers_from_the_lan_change_nothing,
    ),
    (
        "stun::a_full_cone_host_is_joined_with_its_invite_code_alone",
        a_full_cone_host_is_joined_with_its_invite_code_alone,
    ),
];

/// A host behind a full-cone router (its game port forwarded) learns its public address
/// from coturn and names it in its invite code; a friend behind a port-restricted router
/// joins with that code alone (no rendezvous service runs) and plays on a direct link.
/// The code the host printed before coturn answered (its LAN address only) would not do.
fn a_full_cone_host_is_joined_with_its_invite_code_alone() {
    let mut lab = Lab::start();
    let (_, wan1) = lab.home(1, Nat::FullCone);
    lab.home(2, Nat::PortRestricted);
    let _stun = lab.start_stun();
    let mut args = vec!["host", "--name", "cone", "--port", GAME_PORT];
    let servers = stun_args();
    args.extend(servers.iter().map(String::as_str));
    let mut host = lab.peer("h1", &args);
    let (first, host_id) =
        netcode_procs::hosting(&mut host, STEP).unwrap_or_else(|| panic!("{}", host.failure("no invite")));
    let public = SocketAddr::from((wan1, 5000));
    let v = host
        .wait_for(STEP, |v| v["event"] == "invite")
        .unwrap_or_else(|| panic!("{}", host.failure("no invite naming the public address")));
    let code = v["invite"].as_str().expect("a code").to_string();
    let invite = netcode::invite::Invite::decode(&code).expect("a valid code");
    assert_eq!(invite.public, vec![public], "{invite:?}");
    assert!(
        netcode::invite::Invite::decode(&first)
            .expect("valid")
            .public
            .is_empty()
    );
    let mut guest = lab.peer("h2", &["join", &code, "--port", GAME_PORT]);
    let (guest_id, _) = netcode_procs::joined(&mut guest, STEP)
        .unwrap_or_else(|| panic!("{}", guest.failure("the guest did not join")));
    let v = guest
        .wait_for(STEP, |v| {
            v["event"] == "status" && v["host"] == host_id.as_str() && v["links"][host_id.as_str()]["state"] == "direct"
        })
        .unwrap_or_else(|| panic!("{}", guest.failure("no direct link to the host")));
    assert_eq!(v["members"], 2, "{v}");
    host.wait_for(STEP, |v| {
        v["event"] == "status" && v["links"][guest_id.as_str()]["state"] == "direct"
    })
    .unwrap_or_else(|| panic!("{}", host.failure("no direct link to the guest")));
}

/// A machine on the home's LAN floods the peer's game port with STUN binding answers
/// naming another address (transaction ids the peer never sent, from an address it never
/// asked) while the peer asks coturn: the peer learns what coturn saw, and a guest still
/// joins it on the LAN.
fn forged_stun_answers_from_the_lan_change_nothing() {
    let mut lab = Lab::start();
    let (lan1, wan1) = lab.home(1, Nat::PortRestricted);
    lab.machine(1, 1);
    let _stun = lab.start_stun();
    let dir = netcode_procs::temp_dir("forged-stun");
    let liar: SocketAddr = "203.0.113.66:6666".parse().expect("address");
    let forged = dir.join("forged");
    std::fs::write(&forged, binding_success(&[0x42; 12], liar, true)).expect("written");
    let flood = format!(
        "for i in $(seq 3000); do cat {} > /dev/udp/{lan1}/{GAME_PORT}; done",
        forged.display()
    );
    let mut forger = Command::new("ip")
        .args(["netns", "exec", &lab.ns(&machine_ns(1, 1)), "bash", "-c", &flood])
        .spawn()
        .expect("starts");
    std::thread::sleep(Duration::from_millis(200)); // the flood is under way
    let mut args = vec!["host", "--name", "stun", "--port", GAME_PORT];
    let servers = stun_args();
    args.extend(servers.iter().map(String::as_str));
    let mut host = lab.peer("h1", &args);
    let (code, _) = netcode_procs::hosting(&mut host, STEP).unwrap_or_else(|| panic!("{}", host.failure("no invite")));
    let v = host
        .wait_for(STEP, |v| v["event"] == "status" && v["nat_mapping"] != "unknown")
        .unwrap_or_else(|| panic!("{}", host.failure("no mapping behaviour")));
    assert_eq!(v["nat_mapping"], "endpoint-independent", "{v}");
    assert_eq!(v["reflexive"], SocketAddr::from((wan1, 5000)).to_string(), "{v}");
    let ignored = |v: &serde_json::Value| v["stun_ignored"].as_u64().unwrap_or(0);
    let v = host
        .wait_for(STEP, |v| v["event"] == "status" && ignored(v) > 0)
        .unwrap_or_else(|| panic!("{}", host.failure("no forged answer arrived")));
    assert_eq!(v["reflexive"], SocketAddr::from((wan1, 5000)).to_string(), "{v}");
    let mut guest = lab.peer(&machine_ns(1, 1), &["join", &code, "--port", "5001"]);
    let joined = netcode_procs::joined(&mut guest, STEP);
    assert!(joined.is_some(), "{}", guest.failure("the guest did not join"));
    let status = forger.wait().expect("the flood ends");
    assert!(status.success(), "the forger ran");
    let _ = std::fs::remove_dir_all(dir);
}

/// `peer netcheck` on the game port of a port-restricted, a symmetric and a full-cone home,
/// and of a home whose router drops STUN (no answer, given up after 3 s); each also asks
/// the lab's rendezvous service, which answers and sees the home's router, and a service
/// address where nothing runs is reported silent.
fn netcheck_tells_each_home_its_nat_type() {
    let mut lab = Lab::start();
    let (lan1, wan1) = lab.home(1, Nat::PortRestricted);
    let (_, wan2) = lab.home(2, Nat::Symmetric);
    let (lan3, wan3) = lab.home(3, Nat::FullCone);
    lab.home(4, Nat::PortRestricted);
    lab.exec(
        "r4",
        &[
            "iptables",
            "-I",
            "FORWARD",
            "-p",
            "udp",
            "--dport",
            &STUN_PORT.to_string(),
            "-j",
            "DROP",
        ],
    );
    let _stun = lab.start_stun();
    let _service = lab.start_service();
    let cases: [(&str, &str, &str, Option<SocketAddr>); 4] = [
        (
            "h1",
            "punchable",
            "endpoint-independent",
            Some(SocketAddr::from((wan1, 5000))),
        ),
        ("h2", "symmetric", "endpoint-dependent", None),
        (
            "h3",
            "punchable",
            "endpoint-independent",
            Some(SocketAddr::from((wan3, 5000))),
        ),
        ("h4", "no-answer", "unknown", None),
    ];
    for (ns, advice, mapping, reflexive) in cases {
        let mut args = vec!["netcheck".to_string(), "--port".into(), GAME_PORT.into()];
        args.extend(stun_args());
        args.extend(["--rendezvous".to_string(), service_addr()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut p = lab.peer(ns, &args);
        let v = p
            .wait_for(STEP, |v| v["event"] == "netcheck")
            .unwrap_or_else(|| panic!("{}", p.failure("no report")));
        assert_eq!(v["advice"], advice, "{ns}: {v}");
        assert_eq!(v["mapping"], mapping, "{ns}: {v}");
        let service = &v["rendezvous"][0];
        assert_eq!(
            (service["service"].as_str(), service["answered"].as_bool()),
            (Some(service_addr().as_str()), Some(true)),
            "{ns}: {v}"
        );
        // The lab adds no delay: an answer at all, not a figure (no round trip was measured here).
        assert!(service["rtt_ms"].as_f64().is_some_and(|ms| ms < 500.0), "{ns}: {v}");
        if let Some(want) = reflexive {
            assert_eq!(v["reflexive"], want.to_string(), "{ns}: {v}");
            assert_eq!(service["observed"], want.to_string(), "the service sees the same: {v}");
        }
        if ns == "h2" {
            assert_eq!(
                v["stun"][0]["reflexive"]
                    .as_str()
                    .map(|a| a.starts_with(&format!("{wan2}:"))),
                Some(true)
            );
        }
        if ns == "h1" {
            assert_eq!(v["local"][0], format!("{lan1}:{GAME_PORT}"), "{v}");
        }
        if ns == "h3" {
            assert_eq!(v["local"][0], format!("{lan3}:{GAME_PORT}"), "{v}");
        }
    }
    // A service address where nothing runs: reported silent, and the advice says so.
    let silent = format!("{SERVICE_IP}:{}", SERVICE_PORT + 1);
    let mut p = lab.peer("h1", &["netcheck", "--rendezvous", &silent]);
    let v = p
        .wait_for(STEP, |v| v["event"] == "netcheck")
        .unwrap_or_else(|| panic!("{}", p.failure("no report")));
    assert_eq!(v["rendezvous"][0]["answered"], false, "{v}");
    assert_eq!(v["advice"], "service-silent", "{v}");
}

fn coturn_tells_each_home_its_reflexive_address_and_mapping() {
    let mut lab = Lab::start();
    let (_, wan1) = lab.home(1, Nat::PortRestricted);
    let (_, wan2) = lab.home(2, Nat::Symmetric);
    let stun = lab.start_stun();
    let servers = stun_args();
    let cases: [(u8, Ipv4Addr, &str); 2] = [(1, wan1, "endpoint-independent"), (2, wan2, "endpoint-dependent")];
    for (k, wan, mapping) in cases {
        let mut args = vec!["host", "--name", "stun", "--port", GAME_PORT];
        args.extend(servers.iter().map(String::as_str));
        let mut p = lab.peer(&machine_ns(k, 0), &args);
        let v = p
            .wait_for(STEP, |v| v["event"] == "status" && v["nat_mapping"] != "unknown")
            .unwrap_or_else(|| panic!("{}", p.failure("no mapping behaviour")));
        assert_eq!(v["nat_mapping"], mapping, "home {k}: {v}");
        let reflexive: SocketAddr = v["reflexive"].as_str().expect("an address").parse().expect("parses");
        assert_eq!(reflexive.ip(), wan, "home {k}: the router's WAN address");
        if k == 1 {
            // MASQUERADE keeps the source port when it is free.
            assert_eq!(reflexive.port().to_string(), GAME_PORT, "home {k}: {v}");
        }
        p.kill();
    }
    let log = stun.stop();
    assert!(
        log.contains("Listener address to use: 198.51.100.2"),
        "coturn's log: {log}"
    );
}
