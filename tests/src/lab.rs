//! The NAT lab's harness: an "internet" network namespace holding the rendezvous
//! service, and homes each behind a NAT router namespace of its own (veth pairs, a LAN
//! bridge, iptables), with the real programs running in them. Linux NAT types as
//! `nat-facts` measured them: plain `MASQUERADE` is port-restricted cone,
//! `MASQUERADE --random-fully` symmetric; every router drops unsolicited WAN input.
//! Traffic stays inside the namespaces the lab made (documentation range 198.51.100.0/24
//! as the internet, 10.K.0.0/24 as home K). Used by the `nat_lab` tests and the `nat_lab`
//! bench. Needs root and iptables ([`unavailable`] says why not, [`HOW_TO_RUN`] how).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use netcode_procs::{PeerProc, unix_ms};
use serde_json::Value;

use crate::workspace_program;

/// The rendezvous service's address in the internet namespace.
pub const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Its port.
pub const SERVICE_PORT: u16 = 7777;
/// The game port of every peer in the lab (inside its own namespace).
pub const PEER_PORT: u16 = 5000;
/// The STUN server's two addresses in the internet namespace (Debian's coturn listens on
/// both, so a client can compare what each saw).
pub const STUN_IPS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(198, 51, 100, 3)];
/// The STUN server's port.
pub const STUN_PORT: u16 = 3478;
/// How long each side of a punch test tries.
pub const PUNCH_SECS: &str = "4";
/// The session key of the lab's sessions.
pub const KEY_HEX: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// Lab instances in this process (namespace names stay unique when tests run in parallel).
static LABS: AtomicU32 = AtomicU32::new(0);

/// How a home router translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// `MASQUERADE`: endpoint-independent mapping, address-and-port dependent filtering.
    PortRestricted,
    /// `MASQUERADE --random-fully`: a new port per destination.
    Symmetric,
    /// `SNAT` of the home's first machine's game port to the same WAN port and `DNAT` of
    /// that port back (everything else `MASQUERADE`): endpoint-independent mapping and
    /// filtering on that port.
    FullCone,
    /// Port-restricted, on a router that accepts unsolicited WAN input (the trap of
    /// `nat-facts`: an early probe leaves an unreplied mapping that moves the home's own
    /// flow to another port).
    AcceptingPortRestricted,
}

/// Namespaces made by one test, removed when it ends.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    links: u32,
}

fn program() -> PathBuf {
    workspace_program("netcode-rendezvous", &["-p", "netcode-rendezvous"])
}

/// Why the lab cannot run here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Not root: network namespaces need it.
    Root,
    /// No `iptables` on the `PATH`.
    Iptables,
    /// No `turnserver` (coturn) or `miniupnpd` on the `PATH`: the STUN and port-mapping
    /// scenarios run the real daemons.
    Daemons,
}

impl Missing {
    /// A few words for a test list (the lab's trials show them beside `ignored`).
    pub fn short(self) -> &'static str {
        match self {
            Missing::Root => "needs root",
            Missing::Iptables => "needs iptables",
            Missing::Daemons => "needs coturn and miniupnpd",
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Missing::Root => "it needs root (network namespaces)",
            Missing::Iptables => "iptables is missing (apt-get install -y iptables)",
            Missing::Daemons => {
                "coturn or miniupnpd is missing (apt-get install -y coturn miniupnpd-nftables nftables)"
            }
        })
    }
}

/// How to run the lab, for the messages that say it did not run.
pub const HOW_TO_RUN: &str =
    "run it as root with iptables: `sudo -E cargo test --workspace --test nat_lab` (bash .ci/run does)";

/// Why the lab cannot run here, if it cannot. `NETCODE_LAB=off` says it cannot (as if
/// not root), so that what a machine without root sees can be tried on one with it.
pub fn unavailable() -> Option<Missing> {
    let root = std::env::var_os("NETCODE_LAB").is_none_or(|v| v != "off")
        && Command::new("id")
            .arg("-u")
            .output()
            .ok()
            .is_some_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        return Some(Missing::Root);
    }
    let iptables = Command::new("iptables")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !iptables {
        return Some(Missing::Iptables);
    }
    let daemons = Command::new("sh")
        .args(["-c", "command -v turnserver && command -v miniupnpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !daemons {
        return Some(Missing::Daemons);
    }
    None
}

/// Runs the lab, or says clearly why it was skipped and how to run it (for the `nat_lab`
/// bench; the `nat_lab` tests report themselves ignored instead, see [`Lab::start`]).
pub fn lab_or_skip(test: &str) -> Option<Lab> {
    if let Some(why) = unavailable() {
        eprintln!("NAT lab skipped ({test}): {why}; {HOW_TO_RUN}.");
        return None;
    }
    Some(Lab::new())
}

impl Lab {
    /// A lab with its internet namespace. Panics when the lab cannot run here: a test
    /// that calls it runs only where it can, or fails (the `nat_lab` harness marks the
    /// tests ignored where the lab cannot run, except under CI).
    pub fn start() -> Lab {
        if let Some(why) = unavailable() {
            panic!("the NAT lab cannot run here: {why}; {HOW_TO_RUN}");
        }
        Lab::new()
    }

    fn new() -> Lab {
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("nl{}x{n}", std::process::id() % 100_000);
        let mut lab = Lab {
            prefix,
            namespaces: Vec::new(),
            links: 0,
        };
        lab.internet();
        lab
    }
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
    pub fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    pub fn exec(&self, ns: &str, args: &[&str]) {
        let ns = self.ns(ns);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        sh(&all);
    }

    pub fn add_ns(&mut self, name: &str) {
        let ns = self.ns(name);
        sh(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns);
        self.exec(name, &["ip", "link", "set", "lo", "up"]);
    }

    /// A veth pair from namespace `a` (named `a_if`) to `b` (named `b_if`).
    pub fn veth(&mut self, a: &str, a_if: &str, b: &str, b_if: &str) {
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
    pub fn internet(&mut self) {
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
    pub fn home(&mut self, k: u8, nat: Nat) -> (Ipv4Addr, Ipv4Addr) {
        self.home_at(k, nat, Ipv4Addr::new(198, 51, 100, 10 + k))
    }

    /// [`Lab::home`] with the router's WAN address `wan` (on the internet's bridge).
    pub fn home_at(&mut self, k: u8, nat: Nat, wan: Ipv4Addr) -> (Ipv4Addr, Ipv4Addr) {
        let router = format!("r{k}");
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
        if nat == Nat::FullCone {
            let (host, port) = (Ipv4Addr::new(10, k, 0, 2).to_string(), GAME_PORT);
            let (to_wan, to_host) = (format!("{wan}:{port}"), format!("{host}:{port}"));
            self.exec(
                &router,
                &[
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    "wan",
                    "-p",
                    "udp",
                    "-s",
                    &host,
                    "--sport",
                    port,
                    "-j",
                    "SNAT",
                    "--to-source",
                    &to_wan,
                ],
            );
            self.exec(
                &router,
                &[
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-i",
                    "wan",
                    "-p",
                    "udp",
                    "--dport",
                    port,
                    "-j",
                    "DNAT",
                    "--to-destination",
                    &to_host,
                ],
            );
            self.exec(
                &router,
                &[
                    "iptables", "-A", "FORWARD", "-i", "wan", "-p", "udp", "-d", &host, "--dport", port, "-j", "ACCEPT",
                ],
            );
        }
        self.exec(&router, &masquerade);
        if nat == Nat::AcceptingPortRestricted {
            return (self.machine(k, 0), wan);
        }
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
    pub fn machine(&mut self, k: u8, i: u8) -> Ipv4Addr {
        let (router, name) = (format!("r{k}"), machine_ns(k, i));
        let (gw, host) = (Ipv4Addr::new(10, k, 0, 1), Ipv4Addr::new(10, k, 0, 2 + i));
        self.add_ns(&name);
        let port = format!("l{i}");
        self.veth(&router, &port, &name, "eth0");
        self.exec(&router, &["ip", "link", "set", &port, "master", "lanbr"]);
        self.exec(
            &name,
            &["ip", "addr", "add", &format!("{host}/24"), "brd", "+", "dev", "eth0"],
        );
        self.exec(&name, &["ip", "route", "add", "default", "via", &gw.to_string()]);
        host
    }

    /// An IPv6 prefix on the internet (2001:db8::/64, the documentation range; the
    /// internet namespace is 2001:db8::1) and machines `v{i}` on it at 2001:db8::1{i}, with
    /// global addresses and no NAT, as IPv6 homes have them.
    pub fn ipv6_machines(&mut self, count: u8) {
        self.exec(
            "inet",
            &["ip", "-6", "addr", "add", "2001:db8::1/64", "dev", "br0", "nodad"],
        );
        for i in 0..count {
            let (name, port) = (format!("v{i}"), format!("q{i}"));
            self.add_ns(&name);
            self.veth("inet", &port, &name, "eth0");
            self.exec("inet", &["ip", "link", "set", &port, "master", "br0"]);
            let ip = format!("2001:db8::1{i}/64");
            self.exec(&name, &["ip", "-6", "addr", "add", &ip, "dev", "eth0", "nodad"]);
        }
    }

    /// Sets home `k`'s router to forget an idle UDP mapping after `secs` seconds (both
    /// the unreplied and the established timeouts).
    pub fn mapping_timeout(&self, k: u8, secs: u32) {
        let router = format!("r{k}");
        for key in ["nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"] {
            self.exec(&router, &["sysctl", "-qw", &format!("net.netfilter.{key}={secs}")]);
        }
    }

    pub fn spawn(&self, ns: &str, args: &[&str]) -> Child {
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

    pub fn service(&self) -> Child {
        self.service_at(&service_addr())
    }

    /// The service listening on `listen` in the internet namespace.
    fn service_at(&self, listen: &str) -> Child {
        self.spawn("inet", &["--listen", listen, "--report-secs", "1"])
    }

    /// A punch test from home `k` as `peer` (joining or registering); its JSON lines.
    pub fn punch_test(&self, k: u8, host: Ipv4Addr, peer: u64, join: bool) -> Child {
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
    /// A LAN of two machines `h1` and `h2` (10.9.0.1 and 10.9.0.2, with their broadcast
    /// address set as DHCP sets it) and nothing else: no
    /// router, no default route.
    pub fn lan_party(&mut self) {
        self.add_ns("h1");
        self.add_ns("h2");
        self.veth("h1", "eth0", "h2", "eth0");
        self.exec("h1", &["ip", "addr", "add", "10.9.0.1/24", "brd", "+", "dev", "eth0"]);
        self.exec("h2", &["ip", "addr", "add", "10.9.0.2/24", "brd", "+", "dev", "eth0"]);
    }

    /// The `game` program in namespace `ns`, read as JSON lines.
    pub fn game(&self, ns: &str, args: &[&str]) -> PeerProc {
        self.program(ns, &workspace_program("game", &["-p", "game"]), args)
    }

    /// The `peer` program in namespace `ns`, read as JSON lines.
    pub fn peer(&self, ns: &str, args: &[&str]) -> PeerProc {
        let bin = workspace_program("examples/peer", &["-p", "netcode", "--example", "peer"]);
        self.program(ns, &bin, args)
    }

    /// Program `bin` with `args` in namespace `ns`, read as JSON lines.
    fn program(&self, ns: &str, bin: &std::path::Path, args: &[&str]) -> PeerProc {
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

#[path = "lab_portmap.rs"]
mod portmap;
pub use portmap::{PORTMAP_NET, PORTMAP_WAN};

/// The namespace name of machine `i` of home `k`.
pub fn machine_ns(k: u8, i: u8) -> String {
    if i == 0 { format!("h{k}") } else { format!("h{k}m{i}") }
}

/// The longest wait for one step of a scenario.
pub const STEP: Duration = Duration::from_secs(20);
/// The game port of every peer (inside its own namespace).
pub const GAME_PORT: &str = "5000";

pub fn service_addr() -> String {
    format!("{SERVICE_IP}:{SERVICE_PORT}")
}

/// The service's last counters line, as `name: value` pairs.
pub fn service_stat(log: &str, name: &str) -> u64 {
    let line = log.lines().rev().find(|l| l.contains("ServerStats")).unwrap_or("");
    let key = format!("{name}: ");
    line.split(&key)
        .nth(1)
        .and_then(|rest| rest.split([',', ' ', '}']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the service's log: {log}"))
}

/// A running service, read when it is stopped.
pub struct Service {
    child: Option<Child>,
    /// Its stderr, read as it comes (a pipe nobody reads would stall the service).
    log: Option<std::thread::JoinHandle<String>>,
}

/// Reads `pipe` to its end on a thread (a pipe nobody reads would stall its writer).
fn read_in_background(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

impl Service {
    /// Stops it after its next counters line; returns its log.
    pub fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(1200));
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.log.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }

    /// The service's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Lab {
    pub fn start_service(&self) -> Service {
        self.start_service_at(&service_addr())
    }

    /// [`Lab::start_service`] on another address of the internet namespace.
    pub fn start_service_at(&self, listen: &str) -> Service {
        let mut child = self.service_at(listen);
        let log = child.stderr.take().map(read_in_background);
        let s = Service {
            child: Some(child),
            log,
        };
        std::thread::sleep(Duration::from_millis(300)); // it binds its port
        s
    }

    /// Debian's coturn (`turnserver`, STUN only: no relay, no TLS, no CLI) on the internet's
    /// two [`STUN_IPS`], port [`STUN_PORT`]; stopped when dropped. `.ci/run` installs the
    /// `coturn` package when missing.
    pub fn start_stun(&self) -> Service {
        for ip in STUN_IPS {
            self.exec("inet", &["ip", "addr", "add", &format!("{ip}/24"), "dev", "br0"]);
        }
        let (one, two, port) = (STUN_IPS[0].to_string(), STUN_IPS[1].to_string(), STUN_PORT.to_string());
        let args = [
            "netns",
            "exec",
            &self.ns("inet"),
            "turnserver",
            "-S",
            "-n",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "-L",
            &one,
            "-L",
            &two,
            "-p",
            &port,
            "--log-file",
            "stdout",
        ];
        let mut child = Command::new("ip")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("turnserver does not start ({e}): apt-get install -y coturn"));
        let log = child.stdout.take().map(read_in_background);
        std::thread::sleep(Duration::from_millis(500)); // it binds its ports
        Service {
            child: Some(child),
            log,
        }
    }

    /// `peer host` on machine (`k`, `i`) through the service; its invite code.
    pub fn host_game(&self, k: u8, i: u8, name: &str, extra: &[&str]) -> (PeerProc, String, String) {
        let svc = service_addr();
        let mut args = vec!["host", "--name", name, "--port", GAME_PORT, "--rendezvous", &svc];
        args.extend_from_slice(extra);
        let mut p = self.peer(&machine_ns(k, i), &args);
        let (code, id) = netcode_procs::hosting(&mut p, STEP).unwrap_or_else(|| panic!("{}", p.failure("no invite")));
        (p, code, id)
    }

    /// `peer join CODE` on machine (`k`, `i`); its id and how long it took to join, in ms.
    pub fn join_game(&self, k: u8, i: u8, code: &str, name: &str, extra: &[&str]) -> (PeerProc, String, u64) {
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
pub fn link_on(p: &mut PeerProc, others: &[&str], path: &str) -> Value {
    p.wait_for(STEP, |v| {
        v["event"] == "status"
            && others
                .iter()
                .all(|o| v["links"][*o]["state"] == "direct" && v["links"][*o]["path"] == path)
    })
    .unwrap_or_else(|| panic!("{}", p.failure(&format!("no {path} link to {others:?}"))))
}
