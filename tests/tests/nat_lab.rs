//! The NAT lab: an "internet" network namespace holding the rendezvous service, and homes
//! each behind a NAT router namespace of its own (veth pairs, iptables), with the real
//! `netcode-rendezvous` program running in them. Linux NAT types as `nat-facts` measured
//! them: plain `MASQUERADE` is port-restricted cone, `MASQUERADE --random-fully` symmetric;
//! every router drops unsolicited WAN input. Traffic stays inside the namespaces the test
//! made (documentation range 198.51.100.0/24 as the internet, 10.K.0.0/24 as home K).
//!
//! Needs root and iptables (`.ci/run` runs as root and installs iptables when missing).
//! Without them each test says it skipped the lab and how to run it, and passes.
//!
//! Scenarios: the `punch-test` diagnostic through two port-restricted NATs (direct) and
//! past a symmetric one (no direct path); a LAN with no internet (no default route) plays
//! on its LAN addresses with the real `peer`; and in `play`, real `peer` programs playing
//! through the rendezvous service across NATs.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use netcode_procs::PeerProc;
use serde_json::Value;

/// The rendezvous service's address in the internet namespace.
const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Its port.
const SERVICE_PORT: u16 = 7777;
/// The game port of every peer in the lab (inside its own namespace).
const PEER_PORT: u16 = 5000;
/// How long each side of a punch test tries.
const PUNCH_SECS: &str = "4";
/// The session key of the lab's sessions.
const KEY_HEX: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// Lab instances in this process (namespace names stay unique when tests run in parallel).
static LABS: AtomicU32 = AtomicU32::new(0);

/// How a home router translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nat {
    /// `MASQUERADE`: endpoint-independent mapping, address-and-port dependent filtering.
    PortRestricted,
    /// `MASQUERADE --random-fully`: a new port per destination.
    Symmetric,
}

/// Namespaces made by one test, removed when it ends.
struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    links: u32,
}

fn program() -> PathBuf {
    netcode_tests::workspace_program("netcode-rendezvous", &["-p", "netcode-rendezvous"])
}

/// Why the lab cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        return Some("it needs root (network namespaces)".into());
    }
    let iptables = Command::new("iptables")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !iptables {
        return Some("iptables is missing (apt-get install -y iptables)".into());
    }
    None
}

/// Runs the lab, or says clearly why it was skipped and how to run it.
fn lab_or_skip(test: &str) -> Option<Lab> {
    if let Some(why) = unavailable() {
        eprintln!(
            "NAT lab skipped ({test}): {why}. Run it as root: `sudo -E cargo test -p netcode-tests --test nat_lab` (bash .ci/run does)."
        );
        return None;
    }
    let n = LABS.fetch_add(1, Ordering::SeqCst);
    let prefix = format!("nl{}x{n}", std::process::id() % 100_000);
    let mut lab = Lab {
        prefix,
        namespaces: Vec::new(),
        links: 0,
    };
    lab.internet();
    Some(lab)
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lab {
    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn exec(&self, ns: &str, args: &[&str]) {
        let ns = self.ns(ns);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        sh(&all);
    }

    fn add_ns(&mut self, name: &str) {
        let ns = self.ns(name);
        sh(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns);
        self.exec(name, &["ip", "link", "set", "lo", "up"]);
    }

    /// A veth pair from namespace `a` (named `a_if`) to `b` (named `b_if`).
    fn veth(&mut self, a: &str, a_if: &str, b: &str, b_if: &str) {
        self.links += 1;
        let (ta, tb) = (
            format!("{}a{}", self.prefix, self.links),
            format!("{}b{}", self.prefix, self.links),
        );
        sh(&["ip", "link", "add", &ta, "type", "veth", "peer", "name", &tb]);
        for (t, ns, name) in [(&ta, a, a_if), (&tb, b, b_if)] {
            let full = self.ns(ns);
            sh(&["ip", "link", "set", t, "netns", &full]);
            self.exec(ns, &["ip", "link", "set", t, "name", name]);
            self.exec(ns, &["ip", "link", "set", name, "up"]);
        }
    }

    /// The internet: a bridge with the service's address.
    fn internet(&mut self) {
        self.add_ns("inet");
        self.exec("inet", &["ip", "link", "add", "br0", "type", "bridge"]);
        self.exec(
            "inet",
            &["ip", "addr", "add", &format!("{SERVICE_IP}/24"), "dev", "br0"],
        );
        self.exec("inet", &["ip", "link", "set", "br0", "up"]);
    }

    /// Home `k` behind router `k` with `nat`: returns the home's LAN address and the
    /// router's WAN address. Its first machine is `h{k}`; [`Lab::machine`] adds more.
    fn home(&mut self, k: u8, nat: Nat) -> (Ipv4Addr, Ipv4Addr) {
        let router = format!("r{k}");
        let wan = Ipv4Addr::new(198, 51, 100, 10 + k);
        let gw = Ipv4Addr::new(10, k, 0, 1);
        self.add_ns(&router);
        let port = format!("p{k}");
        self.veth("inet", &port, &router, "wan");
        self.exec("inet", &["ip", "link", "set", &port, "master", "br0"]);
        self.exec(&router, &["ip", "addr", "add", &format!("{wan}/24"), "dev", "wan"]);
        self.exec(&router, &["ip", "link", "add", "lanbr", "type", "bridge"]);
        self.exec(&router, &["ip", "addr", "add", &format!("{gw}/24"), "dev", "lanbr"]);
        self.exec(&router, &["ip", "link", "set", "lanbr", "up"]);
        self.exec(&router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        let mut masquerade = vec![
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "wan",
            "-j",
            "MASQUERADE",
        ];
        if nat == Nat::Symmetric {
            masquerade.push("--random-fully");
        }
        self.exec(&router, &masquerade);
        // A home router: nothing unsolicited from the WAN side gets in.
        let established = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"];
        for chain in ["INPUT", "FORWARD"] {
            let mut accept = vec!["iptables", "-A", chain, "-i", "wan"];
            accept.extend_from_slice(&established);
            self.exec(&router, &accept);
            self.exec(&router, &["iptables", "-A", chain, "-i", "wan", "-j", "DROP"]);
        }
        (self.machine(k, 0), wan)
    }

    /// Machine `i` of home `k` (`h{k}` for the first, `h{k}m{i}` after): its LAN address.
    fn machine(&mut self, k: u8, i: u8) -> Ipv4Addr {
        let (router, name) = (format!("r{k}"), machine_ns(k, i));
        let (gw, host) = (Ipv4Addr::new(10, k, 0, 1), Ipv4Addr::new(10, k, 0, 2 + i));
        self.add_ns(&name);
        let port = format!("l{i}");
        self.veth(&router, &port, &name, "eth0");
        self.exec(&router, &["ip", "link", "set", &port, "master", "lanbr"]);
        self.exec(&name, &["ip", "addr", "add", &format!("{host}/24"), "dev", "eth0"]);
        self.exec(&name, &["ip", "route", "add", "default", "via", &gw.to_string()]);
        host
    }

    /// Sets home `k`'s router to forget an idle UDP mapping after `secs` seconds (both
    /// the unreplied and the established timeouts).
    fn mapping_timeout(&self, k: u8, secs: u32) {
        let router = format!("r{k}");
        for key in ["nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"] {
            self.exec(&router, &["sysctl", "-qw", &format!("net.netfilter.{key}={secs}")]);
        }
    }

    fn spawn(&self, ns: &str, args: &[&str]) -> Child {
        let ns = self.ns(ns);
        let bin = program();
        Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts")
    }

    fn service(&self) -> Child {
        let listen = format!("{SERVICE_IP}:{SERVICE_PORT}");
        self.spawn("inet", &["--listen", &listen, "--report-secs", "1"])
    }

    /// A punch test from home `k` as `peer` (joining or registering); its JSON lines.
    fn punch_test(&self, k: u8, host: Ipv4Addr, peer: u64, join: bool) -> Child {
        let (server, bind, peer) = (
            format!("{SERVICE_IP}:{SERVICE_PORT}"),
            SocketAddr::from((host, PEER_PORT)).to_string(),
            peer.to_string(),
        );
        let mut args = vec![
            "punch-test",
            "--server",
            &server,
            "--key",
            KEY_HEX,
            "--peer",
            &peer,
            "--secs",
            PUNCH_SECS,
            "--bind",
            &bind,
        ];
        if join {
            args.push("--join");
        }
        self.spawn(&format!("h{k}"), &args)
    }
}

impl Lab {
    /// A LAN of two machines `h1` and `h2` (10.9.0.1 and 10.9.0.2) and nothing else: no
    /// router, no default route.
    fn lan_party(&mut self) {
        self.add_ns("h1");
        self.add_ns("h2");
        self.veth("h1", "eth0", "h2", "eth0");
        self.exec("h1", &["ip", "addr", "add", "10.9.0.1/24", "dev", "eth0"]);
        self.exec("h2", &["ip", "addr", "add", "10.9.0.2/24", "dev", "eth0"]);
    }

    /// The `peer` program in namespace `ns`, read as JSON lines.
    fn peer(&self, ns: &str, args: &[&str]) -> PeerProc {
        let bin = netcode_tests::workspace_program("examples/peer", &["-p", "netcode", "--example", "peer"]);
        let mut all = vec![
            "netns".to_string(),
            "exec".into(),
            self.ns(ns),
            bin.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        PeerProc::spawn(ns, std::path::Path::new("ip"), &all).expect("starts")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "delete", ns]).output();
        }
    }
}

/// The namespace name of machine `i` of home `k`.
fn machine_ns(k: u8, i: u8) -> String {
    if i == 0 { format!("h{k}") } else { format!("h{k}m{i}") }
}

/// The JSON lines a finished program printed.
fn lines(child: Child) -> Vec<Value> {
    let out = child.wait_with_output().expect("ends");
    BufReader::new(&out.stdout[..])
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["event"] == name).collect()
}

/// Both sides of a punch test between home 1 (`nat1`) and home 2 (`nat2`).
fn punch(lab: &mut Lab, nat1: Nat, nat2: Nat) -> [(Vec<Value>, Ipv4Addr); 2] {
    let (h1, wan1) = lab.home(1, nat1);
    let (h2, wan2) = lab.home(2, nat2);
    let mut service = lab.service();
    std::thread::sleep(Duration::from_millis(300)); // the service binds its port
    let first = lab.punch_test(1, h1, 1, false);
    std::thread::sleep(Duration::from_millis(300)); // registered before the joiner asks
    let second = lab.punch_test(2, h2, 2, true);
    let (a, b) = (lines(first), lines(second));
    let _ = service.kill();
    let _ = service.wait();
    [(a, wan1), (b, wan2)]
}

#[test]
fn two_port_restricted_nats_punch_a_direct_path() {
    let Some(mut lab) = lab_or_skip("two_port_restricted_nats_punch_a_direct_path") else {
        return;
    };
    let sides = punch(&mut lab, Nat::PortRestricted, Nat::PortRestricted);
    for (i, (lines, wan)) in sides.iter().enumerate() {
        let observed = events(lines, "observed");
        let seen: SocketAddr = observed[0]["addr"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            seen.ip(),
            *wan,
            "side {i}: the service sees the router's WAN address: {lines:?}"
        );
        let direct = events(lines, "direct");
        assert_eq!(direct.len(), 1, "side {i} reached the other directly: {lines:?}");
        eprintln!("side {i}: {}", direct[0]);
        let from: SocketAddr = direct[0]["from"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            from.ip(),
            sides[1 - i].1,
            "side {i}: from the other router's WAN address"
        );
    }
}

#[test]
fn a_symmetric_nat_on_one_side_gets_no_direct_path() {
    let Some(mut lab) = lab_or_skip("a_symmetric_nat_on_one_side_gets_no_direct_path") else {
        return;
    };
    let sides = punch(&mut lab, Nat::PortRestricted, Nat::Symmetric);
    for (i, (lines, _)) in sides.iter().enumerate() {
        assert!(!events(lines, "observed").is_empty(), "side {i} registered: {lines:?}");
    }
    // The symmetric side's probes leave from a port the service never saw, and the
    // port-restricted side only lets in the address it sent to: no direct path either way
    // (a relay will be needed, as nat-facts measured).
    let direct: usize = sides.iter().map(|(l, _)| events(l, "direct").len()).sum();
    assert_eq!(direct, 0, "{sides:?}");
}

#[test]
fn a_lan_without_internet_plays_on_its_lan_addresses() {
    let Some(mut lab) = lab_or_skip("a_lan_without_internet_plays_on_its_lan_addresses") else {
        return;
    };
    lab.lan_party();
    let step = Duration::from_secs(20);
    let mut host = lab.peer("h1", &["host", "--name", "Mira"]);
    let (code, _) = netcode_procs::hosting(&mut host, step).unwrap_or_else(|| panic!("{}", host.failure("no invite")));
    // The invite names the LAN address, not loopback (before: 127.0.0.1, and nobody could join).
    let invite = netcode::invite::Invite::decode(&code).expect("a valid invite");
    assert_eq!(invite.addrs[0].ip(), Ipv4Addr::new(10, 9, 0, 1), "{invite:?}");
    let mut guest = lab.peer("h2", &["join", &code, "--name", "Juno"]);
    let joined = guest.wait_for(step, |v| v["event"] == "joined");
    assert!(joined.is_some(), "{}", guest.failure("never joined"));
    let seen = host.wait_for(step, |v| v["event"] == "peer_joined");
    assert!(seen.is_some(), "{}", host.failure("never saw the guest"));
    guest.kill();
    host.kill();
}

#[path = "nat_lab/play.rs"]
mod play;
