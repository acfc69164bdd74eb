//! The lab's Mainline DHT: the `dht-testnet` program in the internet namespace, a node on
//! each of [`DHT_NODES`] addresses of the internet's range (BEP42 keeps one node per
//! address outside private ranges, so each node has its own), bootstrapped by the homes'
//! peers with `--dht-bootstrap`. Nothing in it knows a public node.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::{Lab, Service, read_in_background};
use crate::workspace_program;

/// The first DHT node's address on the internet's bridge; the others follow it.
pub const DHT_FIRST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 100);
/// How many DHT nodes the lab runs.
pub const DHT_NODES: u8 = 24;

/// The DHT testnet program's path, built when stale.
pub fn dht_program() -> std::path::PathBuf {
    workspace_program("dht-testnet", &["-p", "netcode-tests", "--bin", "dht-testnet"])
}

/// A running DHT testnet and the `IP:PORT` of each node.
pub struct DhtNet {
    /// The program (stopped when dropped, or with [`Service::stop`]).
    pub service: Service,
    /// Every node's `IP:PORT`.
    pub bootstrap: Vec<String>,
}

impl DhtNet {
    /// `--dht-bootstrap` for the first few nodes (a peer learns the rest from them).
    pub fn args(&self, how_many: usize) -> Vec<String> {
        self.bootstrap
            .iter()
            .take(how_many)
            .flat_map(|b| ["--dht-bootstrap".to_string(), b.clone()])
            .collect()
    }
}

impl Lab {
    /// Starts [`DHT_NODES`] DHT nodes in the internet namespace, one per address from
    /// [`DHT_FIRST`] (added to the bridge here), and returns their bootstrap list once the
    /// program printed it.
    pub fn start_dht_testnet(&self) -> DhtNet {
        let [a, b, c, d] = DHT_FIRST.octets();
        for i in 0..DHT_NODES {
            let ip = Ipv4Addr::new(a, b, c, d + i);
            self.exec("inet", &["ip", "addr", "add", &format!("{ip}/24"), "dev", "br0"]);
        }
        let (first, nodes) = (DHT_FIRST.to_string(), DHT_NODES.to_string());
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns("inet")])
            .arg(dht_program())
            .args(["--first", &first, "--nodes", &nodes])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dht-testnet starts");
        let log = child.stderr.take().map(read_in_background);
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        // Keep reading (and dropping) its stdout so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let service = Service {
            child: Some(child),
            log,
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("dht-testnet said {line:?}: {e}"));
        let bootstrap: Vec<String> = v["bootstrap"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        assert_eq!(bootstrap.len(), usize::from(DHT_NODES), "{line}");
        DhtNet { service, bootstrap }
    }
}

impl Lab {
    /// The `dht-stranger` program in namespace `ns` (see its doc), read as JSON lines.
    pub fn dht_stranger(&self, ns: &str, args: &[&str]) -> netcode_procs::PeerProc {
        let bin = workspace_program("dht-stranger", &["-p", "netcode-tests", "--bin", "dht-stranger"]);
        self.program(ns, &bin, args)
    }
}
