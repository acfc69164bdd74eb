//! The servers on the lab's internet, each a real program: the `netcode-rendezvous`
//! service (and its `punch-test` diagnostic in a home) and Debian's coturn as a STUN server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{KEY_HEX, Lab, PEER_PORT, PUNCH_SECS, SERVICE_IP, SERVICE_PORT, STUN_IPS, STUN_PORT};
use crate::workspace_program;

fn program() -> PathBuf {
    workspace_program("netcode-rendezvous", &["-p", "netcode-rendezvous"])
}

impl Lab {
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

/// `--stun` twice, for coturn's two addresses ([`Lab::start_stun`]).
pub fn stun_args() -> Vec<String> {
    STUN_IPS
        .iter()
        .flat_map(|ip| ["--stun".to_string(), format!("{ip}:{STUN_PORT}")])
        .collect()
}

/// The rendezvous service's `HOST:PORT`.
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
    pub(super) child: Option<Child>,
    /// Its stderr, read as it comes (a pipe nobody reads would stall the service).
    pub(super) log: Option<std::thread::JoinHandle<String>>,
}

/// Reads `pipe` to its end on a thread (a pipe nobody reads would stall its writer).
pub(super) fn read_in_background(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
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
}
