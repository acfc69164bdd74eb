//! The NAT lab's harness: an "internet" network namespace holding the rendezvous
//! service, and homes each behind a NAT router namespace of its own (veth pairs, a LAN
//! bridge, iptables), with the real programs running in them. Linux NAT types as
//! `nat-facts` measured them: plain `MASQUERADE` is port-restricted cone,
//! `MASQUERADE --random-fully` symmetric; every router drops unsolicited WAN input.
//! Traffic stays inside the namespaces the lab made (documentation range 198.51.100.0/24
//! as the internet, 10.K.0.0/24 as home K). Used by the `nat_lab` tests and the `nat_lab`
//! and `lab_figures` benches. Needs root, iptables, coturn and miniupnpd ([`unavailable`]
//! says why not, [`HOW_TO_RUN`] how).
//!
//! Its parts: this file holds the lab itself (namespaces, veth pairs, the internet bridge),
//! the programs run in it and the scenarios' steps; `lab_home.rs` the homes (routers, their
//! NAT, machines); `lab_services.rs` the servers on the internet (the rendezvous service,
//! coturn); `lab_portmap.rs` miniupnpd on a home's router; `lab_dht.rs` the lab's own
//! Mainline DHT (the `dht-testnet` program).

use std::net::Ipv4Addr;
use std::process::Command;
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
}

impl Lab {
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

#[path = "lab_dht.rs"]
mod dht;
#[path = "lab_home.rs"]
mod home;
#[path = "lab_portmap.rs"]
mod portmap;
#[path = "lab_services.rs"]
mod services;
pub use dht::{DHT_FIRST, DHT_NODES, DhtNet, dht_program};
pub use portmap::{Miniupnpd, PORTMAP_NET, PORTMAP_WAN};
use services::read_in_background;
pub use services::{Service, service_addr, service_stat, stun_args};

/// The namespace name of machine `i` of home `k`.
pub fn machine_ns(k: u8, i: u8) -> String {
    if i == 0 { format!("h{k}") } else { format!("h{k}m{i}") }
}

/// The longest wait for one step of a scenario.
pub const STEP: Duration = Duration::from_secs(20);
/// The game port of every peer (inside its own namespace).
pub const GAME_PORT: &str = "5000";

impl Lab {
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

/// Waits until `p`'s status shows its link to each of `others` up on `path`: direct on
/// `lan`, `internet` or `mapped`, relayed by a `member` or the `service`; returns the first
/// status line that does.
pub fn link_on(p: &mut PeerProc, others: &[&str], path: &str) -> Value {
    let state = if matches!(path, "member" | "service") {
        "relayed"
    } else {
        "direct"
    };
    p.wait_for(STEP, |v| {
        v["event"] == "status"
            && others
                .iter()
                .all(|o| v["links"][*o]["state"] == state && v["links"][*o]["path"] == path)
    })
    .unwrap_or_else(|| panic!("{}", p.failure(&format!("no {path} link to {others:?}"))))
}

/// Waits until the guest's link to the host (it hosting) and the host's link to the guest
/// are both direct, whatever their path.
pub fn direct_both_ways(host: &mut PeerProc, host_id: &str, guest: &mut PeerProc, guest_id: &str) {
    guest
        .wait_for(STEP, |v| {
            v["event"] == "status" && v["host"] == host_id && v["links"][host_id]["state"] == "direct"
        })
        .unwrap_or_else(|| panic!("{}", guest.failure("no direct link to the host")));
    host.wait_for(STEP, |v| {
        v["event"] == "status" && v["links"][guest_id]["state"] == "direct"
    })
    .unwrap_or_else(|| panic!("{}", host.failure("no direct link to the guest")));
}

/// The code a hosting `peer` (started with `--stun`, and `--port-mapping` when its router
/// `maps`) hands out once it knows where the internet reaches it: its newest `invite` line
/// after STUN told the NAT's mapping (and the router granted the port, when it maps), or
/// `first` (its `hosting` code) when nothing changed it. An error says what never came.
pub fn public_code(host: &mut PeerProc, first: &str, maps: bool) -> Result<String, String> {
    let known =
        |v: &Value| v["event"] == "status" && v["nat_mapping"] != "unknown" && (!maps || !v["mapped"].is_null());
    host.wait_for(STEP, known)
        .ok_or_else(|| host.failure("STUN or the router never answered"))?;
    // A changed code is printed right after the status line that shows why.
    host.wait_for(STEP, |v| v["event"] == "status")
        .ok_or_else(|| host.failure("no status"))?;
    let newest = host.lines.iter().rev().find(|v| v["event"] == "invite");
    Ok(newest.and_then(|v| v["invite"].as_str()).unwrap_or(first).to_string())
}
