//! Port mapping in the lab: Debian's miniupnpd on home 1's router (PCP and NAT-PMP on
//! port 5351, UPnP-IGD on the LAN), a plain router beside it. Real `peer` programs ask
//! for a mapping of their game port: netcheck says which protocol mapped and where, a
//! datagram from the lab's internet reaches the mapped port, leaving deletes the mapping
//! (the daemon's lease file), and forged answers from the LAN change nothing.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use netcode_tests::lab::{GAME_PORT, Lab, Nat, STEP, direct_both_ways, link_on, machine_ns, stun_args};
use serde_json::Value;

/// This module's tests, as the harness lists them.
pub(super) const TESTS: &[(&str, fn())] = &[
    (
        "portmap::netcheck_tells_which_router_maps_ports",
        netcheck_tells_which_router_maps_ports,
    ),
    (
        "portmap::netcheck_tells_each_mapping_home_its_nat_and_mapping",
        netcheck_tells_each_mapping_home_its_nat_and_mapping,
    ),
    (
        "portmap::upnp_igd_maps_when_the_router_has_no_natpmp",
        upnp_igd_maps_when_the_router_has_no_natpmp,
    ),
    (
        "portmap::the_internet_reaches_the_mapped_port",
        the_internet_reaches_the_mapped_port,
    ),
    ("portmap::leaving_deletes_the_mapping", leaving_deletes_the_mapping),
    (
        "portmap::forged_port_mapping_answers_change_nothing",
        forged_port_mapping_answers_change_nothing,
    ),
    (
        "portmap::a_short_lease_is_renewed_and_the_port_stays_mapped",
        a_short_lease_is_renewed_and_the_port_stays_mapped,
    ),
    (
        "portmap::a_host_whose_router_maps_its_port_is_joined_with_its_code_alone",
        a_host_whose_router_maps_its_port_is_joined_with_its_code_alone,
    ),
    (
        "portmap::two_friends_link_directly_through_candidates_exchanged_in_the_session",
        two_friends_link_directly_through_candidates_exchanged_in_the_session,
    ),
];

/// Two homes behind routers that let nothing unsolicited in; the host's router maps ports
/// (miniupnpd). The host's code names its mapped port once the router granted it, and a
/// friend in the other home joins with that code alone (no rendezvous service, no STUN
/// server), on a direct link.
fn a_host_whose_router_maps_its_port_is_joined_with_its_code_alone() {
    let mut lab = Lab::start();
    let (_, wan1, _daemon) = lab.upnp_home(1, true);
    lab.home(2, Nat::PortRestricted);
    let mut host = lab.peer(
        "h1",
        &["host", "--name", "mapped", "--port", GAME_PORT, "--port-mapping"],
    );
    let (first, host_id) =
        netcode_procs::hosting(&mut host, STEP).unwrap_or_else(|| panic!("{}", host.failure("no invite")));
    let started = Instant::now();
    let v = host
        .wait_for(STEP, |v| v["event"] == "invite")
        .unwrap_or_else(|| panic!("{}", host.failure("no invite naming the mapped port")));
    let code = v["invite"].as_str().expect("a code").to_string();
    let invite = netcode::invite::Invite::decode(&code).expect("a valid code");
    assert_eq!(invite.public, vec![SocketAddr::from((wan1, 5000))], "{invite:?}");
    assert!(
        netcode::invite::Invite::decode(&first)
            .expect("valid")
            .public
            .is_empty()
    );
    let mut guest = lab.peer("h2", &["join", &code, "--port", GAME_PORT]);
    let (guest_id, _) = netcode_procs::joined(&mut guest, STEP)
        .unwrap_or_else(|| panic!("{}", guest.failure("the guest did not join")));
    eprintln!("joined {:?} after the code named the mapped port", started.elapsed());
    direct_both_ways(&mut host, &host_id, &mut guest, &guest_id);
    // The guest dialed the port the host's router maps (once the host's candidates say so
    // through the session, its link reads `mapped`); the host reaches the guest's NAT.
    link_on(&mut guest, &[&host_id], "mapped");
    link_on(&mut host, &[&guest_id], "internet");
}

/// `peer netcheck --port-mapping` on the game port in namespace `ns`: the report.
fn netcheck(lab: &Lab, ns: &str) -> (Value, Duration) {
    netcheck_with(lab, ns, &[])
}

/// [`netcheck`] with `extra` arguments.
fn netcheck_with(lab: &Lab, ns: &str, extra: &[String]) -> (Value, Duration) {
    let started = Instant::now();
    let mut args = vec!["netcheck", "--port", GAME_PORT, "--port-mapping"];
    args.extend(extra.iter().map(String::as_str));
    let mut p = lab.peer(ns, &args);
    let v = p
        .wait_for(STEP, |v| v["event"] == "netcheck")
        .unwrap_or_else(|| panic!("{}", p.failure("no report")));
    (v, started.elapsed())
}

/// The home behind miniupnpd gets a PCP mapping at its router's WAN address; the home
/// behind a plain router asks its gateway, gets nothing, and is told so within the 3 s
/// give-up of the probes.
fn netcheck_tells_which_router_maps_ports() {
    let mut lab = Lab::start();
    let (_, wan1, daemon) = lab.upnp_home(1, true);
    lab.home(2, Nat::PortRestricted);
    let (v, took) = netcheck(&lab, "h1");
    eprintln!("h1 netcheck ({took:?}): {v}");
    assert_eq!(v["port_mapping"]["protocol"], "pcp", "{v}");
    assert_eq!(v["port_mapping"]["gateway"], "10.1.0.1", "{v}");
    let external: SocketAddr = v["port_mapping"]["external"]
        .as_str()
        .expect("mapped")
        .parse()
        .expect("address");
    assert_eq!(external.ip(), wan1, "{v}");
    assert_eq!(v["advice"], "maps-ports", "{v}");
    assert_eq!(
        v["advice_text"],
        "your router maps ports: friends can join you directly"
    );
    // netcheck deletes its mapping when it ends.
    let mut left = daemon.leases();
    for _ in 0..20 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = daemon.leases();
    }
    assert!(left.is_empty(), "the mapping was deleted: {left:?}");
    let (v, took) = netcheck(&lab, "h2");
    eprintln!("h2 netcheck ({took:?}): {v}");
    assert_eq!(v["port_mapping"]["gateway"], "10.2.0.1", "{v}");
    assert_eq!(v["port_mapping"]["protocol"], Value::Null, "{v}");
    assert_ne!(v["advice"], "maps-ports", "{v}");
    // Probes given up at 3 s, the UPnP search at 2 s; the program starts in well under 1 s.
    assert!(took < Duration::from_millis(4800), "{took:?}");
}

/// `peer netcheck` asking coturn and the router, in the home types the other netcheck
/// scenarios leave out: port-restricted, symmetric and full-cone routers that run
/// miniupnpd, and a port-restricted router that accepts unsolicited input. Each report
/// names the NAT's mapping as coturn saw it and the router's PCP mapping at its WAN
/// address; the advice is `maps-ports` wherever the router maps, whatever its NAT.
fn netcheck_tells_each_mapping_home_its_nat_and_mapping() {
    let mut lab = Lab::start();
    let (_, wan1, _d1) = lab.upnp_home_behind(1, Nat::PortRestricted, true, "");
    let (_, wan2, _d2) = lab.upnp_home_behind(2, Nat::Symmetric, true, "");
    let (_, wan3, _d3) = lab.upnp_home_behind(3, Nat::FullCone, true, "");
    let (_, wan4) = lab.home(4, Nat::AcceptingPortRestricted);
    let _stun = lab.start_stun();
    let cases = [
        ("h1", wan1, "endpoint-independent", Some("pcp"), "maps-ports"),
        ("h2", wan2, "endpoint-dependent", Some("pcp"), "maps-ports"),
        ("h3", wan3, "endpoint-independent", Some("pcp"), "maps-ports"),
        ("h4", wan4, "endpoint-independent", None, "punchable"),
    ];
    for (ns, wan, mapping, protocol, advice) in cases {
        let (v, took) = netcheck_with(&lab, ns, &stun_args());
        eprintln!("{ns} netcheck ({took:?}): {v}");
        assert_eq!(v["mapping"], mapping, "{ns}: {v}");
        let seen: SocketAddr = v["stun"][0]["reflexive"]
            .as_str()
            .expect("coturn answered")
            .parse()
            .expect("address");
        assert_eq!(seen.ip(), wan, "{ns}: {v}");
        assert_eq!(v["port_mapping"]["protocol"].as_str(), protocol, "{ns}: {v}");
        if protocol.is_some() {
            assert_eq!(v["port_mapping"]["external"], format!("{wan}:{GAME_PORT}"), "{ns}: {v}");
        }
        assert_eq!(v["advice"], advice, "{ns}: {v}");
    }
}

/// With NAT-PMP and PCP off in miniupnpd, the mapping comes from UPnP-IGD (igd-next,
/// searching at the gateway's address only).
fn upnp_igd_maps_when_the_router_has_no_natpmp() {
    let mut lab = Lab::start();
    let (_, wan1, _daemon) = lab.upnp_home(1, false);
    let (v, took) = netcheck(&lab, "h1");
    eprintln!("h1 netcheck ({took:?}): {v}");
    assert_eq!(v["port_mapping"]["protocol"], "upnp", "{v}");
    let external: SocketAddr = v["port_mapping"]["external"]
        .as_str()
        .expect("mapped")
        .parse()
        .expect("address");
    assert_eq!(external, SocketAddr::from((wan1, 5000)), "{v}");
}

/// A hosting peer with `--port-mapping` reports its mapping; once it is gone (killed: the
/// mapping stays in the router), a datagram sent from the lab's internet to the mapped
/// address arrives at the game port of the home's machine.
fn the_internet_reaches_the_mapped_port() {
    let mut lab = Lab::start();
    let (_, wan1, daemon) = lab.upnp_home(1, true);
    let mut host = lab.peer(
        "h1",
        &["host", "--name", "mapped", "--port", GAME_PORT, "--port-mapping"],
    );
    let v = host
        .wait_for(STEP, |v| v["event"] == "status" && !v["mapped"].is_null())
        .unwrap_or_else(|| panic!("{}", host.failure("no mapping")));
    let mapped: SocketAddr = v["mapped"].as_str().expect("an address").parse().expect("address");
    assert_eq!(mapped.ip(), wan1, "{v}");
    assert_eq!(v["mapping_protocol"], "PCP", "{v}");
    assert_eq!(daemon.leases().len(), 1, "{:?}", daemon.leases());
    host.kill();
    assert_reaches(&lab, mapped);
}

/// miniupnpd grants at most 20 s (`max_lifetime`): the peer renews at half of it, so its
/// mapping outlives several leases (the daemon drops an expired one), and the internet
/// still reaches the mapped port afterwards.
fn a_short_lease_is_renewed_and_the_port_stays_mapped() {
    let mut lab = Lab::start();
    let (_, wan1, daemon) = lab.upnp_home_with(1, true, "min_lifetime=10\nmax_lifetime=20\n");
    let mut host = lab.peer(
        "h1",
        &["host", "--name", "renew", "--port", GAME_PORT, "--port-mapping"],
    );
    let granted = |v: &Value| v["portmap_granted"].as_u64().unwrap_or(0);
    let first = host
        .wait_for(STEP, |v| v["event"] == "status" && granted(v) >= 1)
        .unwrap_or_else(|| panic!("{}", host.failure("no mapping")));
    let mapped: SocketAddr = first["mapped"].as_str().expect("an address").parse().expect("address");
    assert_eq!(mapped.ip(), wan1, "{first}");
    let started = Instant::now();
    // Renewals 10, 20, 30, 40 and 50 s after the grant: past two and a half leases.
    let v = host
        .wait_for(Duration::from_secs(65), |v| v["event"] == "status" && granted(v) >= 6)
        .unwrap_or_else(|| panic!("{}", host.failure("not renewed")));
    let took = started.elapsed();
    eprintln!("five renewals in {took:?}: {v}");
    assert_eq!(v["mapped"], first["mapped"], "the same mapping throughout");
    // Five renewals 10 s apart: 50 s (+20 %).
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert_eq!(daemon.leases().len(), 1, "{:?}", daemon.leases());
    host.kill();
    assert_reaches(&lab, mapped);
}

/// A datagram from the lab's internet to `mapped` arrives at the game port of `h1`.
fn assert_reaches(lab: &Lab, mapped: SocketAddr) {
    let listen = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                  s.bind(('0.0.0.0',5000))\ns.settimeout(10)\nd,a=s.recvfrom(100)\nprint(d.decode(),a[0])";
    let receiver = Command::new("ip")
        .args(["netns", "exec", &lab.ns("h1"), "python3", "-c", listen])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 starts");
    std::thread::sleep(Duration::from_millis(300)); // it binds
    let send = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.bind(('198.51.100.1',0))\ns.sendto(b'hello',('{}',{}))",
        mapped.ip(),
        mapped.port()
    );
    lab.exec("inet", &["python3", "-c", &send]);
    let out = receiver.wait_with_output().expect("ends");
    let got = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        got.trim(),
        "hello 198.51.100.1",
        "the datagram arrived from the internet"
    );
}

/// A peer that leaves (`--quit-after`) deletes its mapping: the daemon's lease file is
/// empty again.
fn leaving_deletes_the_mapping() {
    let mut lab = Lab::start();
    let (_, _, daemon) = lab.upnp_home(1, true);
    let args = [
        "host",
        "--name",
        "leaver",
        "--port",
        GAME_PORT,
        "--port-mapping",
        "--quit-after",
        "6",
    ];
    let mut host = lab.peer("h1", &args);
    host.wait_for(STEP, |v| v["event"] == "status" && !v["mapped"].is_null())
        .unwrap_or_else(|| panic!("{}", host.failure("no mapping")));
    let held = daemon.leases();
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].contains(":5000:"), "{held:?}");
    let exit = host.wait_exit(STEP);
    assert!(exit.is_some(), "the peer left");
    assert!(daemon.leases().is_empty(), "deleted on leave: {:?}", daemon.leases());
}

/// A machine on the home's LAN floods the peer's game port with PCP answers from its own
/// port 5351 (another nonce, another external address) while the peer asks the router:
/// the peer keeps the router's mapping and counts the forgeries as ignored.
fn forged_port_mapping_answers_change_nothing() {
    let mut lab = Lab::start();
    let (lan1, wan1, _daemon) = lab.upnp_home(1, true);
    lab.machine(1, 1);
    let liar = Ipv4Addr::new(11, 11, 0, 66).to_ipv6_mapped().octets();
    let mut forged = vec![2u8, 0x81, 0, 0, 0, 0, 0x1c, 0x20, 0, 0, 0, 1];
    forged.extend_from_slice(&[0; 12]);
    forged.extend_from_slice(&[0x42; 12]);
    forged.extend_from_slice(&[17, 0, 0, 0, 0x13, 0x88, 0x1a, 0x0a]);
    forged.extend_from_slice(&liar);
    let hex: String = forged.iter().map(|b| format!("{b:02x}")).collect();
    let flood = format!(
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5351))\n\
         end=time.time()+4\nwhile time.time()<end:\n s.sendto(bytes.fromhex('{hex}'),('{lan1}',{GAME_PORT}))\n time.sleep(0.002)"
    );
    let mut forger = Command::new("ip")
        .args(["netns", "exec", &lab.ns(&machine_ns(1, 1)), "python3", "-c", &flood])
        .spawn()
        .expect("python3 starts");
    std::thread::sleep(Duration::from_millis(300)); // the flood is under way
    let mut host = lab.peer(
        "h1",
        &["host", "--name", "forged", "--port", GAME_PORT, "--port-mapping"],
    );
    let ignored = |v: &Value| v["portmap_ignored"].as_u64().unwrap_or(0);
    let v = host
        .wait_for(STEP, |v| {
            v["event"] == "status" && !v["mapped"].is_null() && ignored(v) > 0
        })
        .unwrap_or_else(|| panic!("{}", host.failure("no mapping, or no forged answer seen")));
    let mapped: SocketAddr = v["mapped"].as_str().expect("an address").parse().expect("address");
    assert_eq!(mapped.ip(), wan1, "{v}");
    host.kill();
    assert!(forger.wait().expect("the flood ends").success(), "the forger ran");
}

/// The session as the signalling channel: three players in three port-restricted homes,
/// no rendezvous service. The host's router maps its port (miniupnpd), so both friends
/// join it with its invite code alone; the two friends cannot dial each other's session
/// addresses (their home LANs), so they learn each other's candidates (the reflexive
/// address coturn told each) through the session, punch at once, and link directly.
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
    let stun = stun_args();
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
