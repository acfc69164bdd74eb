//! Port mapping in the NAT lab: Debian's `miniupnpd` (the nftables build) on a home router,
//! serving PCP and NAT-PMP on port 5351 and UPnP-IGD on its LAN (nat-facts lists its
//! traps). Its WAN address must lie outside the reserved ranges (miniupnpd 2.3.1 refuses to
//! map behind a private or documentation address), so that router sits in
//! [`PORTMAP_NET`], an ordinary unicast range that exists only on the lab's closed
//! internet bridge: nothing routes out of the namespaces.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Lab, Nat, Service, read_in_background};

/// The internet namespace's address in the port-mapping range (a /24 on its bridge).
pub const PORTMAP_NET: Ipv4Addr = Ipv4Addr::new(11, 11, 0, 1);

/// The WAN address of home `k`'s router when it runs miniupnpd.
pub const fn portmap_wan(k: u8) -> Ipv4Addr {
    Ipv4Addr::new(11, 11, 0, 10 + k)
}

/// [`portmap_wan`] of home 1.
pub const PORTMAP_WAN: Ipv4Addr = portmap_wan(1);

/// The chains the nftables build of miniupnpd writes into (Debian's init helper does not
/// make them): its filter chain `miniupnpd`, its nat chains, and the jumps to them.
const NFT_CHAINS: &str = "table inet filter {
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
";

/// A running miniupnpd and its lease file.
pub struct Miniupnpd {
    /// The daemon (stopped when dropped).
    pub service: Service,
    /// Its lease file: one line per mapping it holds.
    pub lease_file: PathBuf,
    dir: PathBuf,
}

impl Miniupnpd {
    /// The lease file's lines (the mappings the daemon holds).
    pub fn leases(&self) -> Vec<String> {
        std::fs::read_to_string(&self.lease_file)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Miniupnpd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    /// Home `k`, port-restricted, whose router runs miniupnpd (NAT-PMP and PCP only with
    /// `natpmp`; UPnP-IGD always): the home's LAN address, the router's WAN address in
    /// [`PORTMAP_NET`]'s range, and the daemon. `.ci/run` installs `miniupnpd-nftables`.
    pub fn upnp_home(&mut self, k: u8, natpmp: bool) -> (Ipv4Addr, Ipv4Addr, Miniupnpd) {
        self.upnp_home_with(k, natpmp, "")
    }

    /// [`Lab::upnp_home`] with `extra` lines in the daemon's configuration (e.g. a short
    /// `max_lifetime`).
    pub fn upnp_home_with(&mut self, k: u8, natpmp: bool, extra: &str) -> (Ipv4Addr, Ipv4Addr, Miniupnpd) {
        self.upnp_home_behind(k, Nat::PortRestricted, natpmp, extra)
    }

    /// [`Lab::upnp_home_with`] behind a router that translates as `nat` says (miniupnpd's
    /// mappings come first: a mapped port is reachable whatever the router does to the
    /// home's other flows).
    pub fn upnp_home_behind(&mut self, k: u8, nat: Nat, natpmp: bool, extra: &str) -> (Ipv4Addr, Ipv4Addr, Miniupnpd) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.ns("inet"), "ip", "addr", "add"])
            .args([&format!("{PORTMAP_NET}/24"), "dev", "br0"])
            .output();
        let (lan, wan) = self.home_at(k, nat, portmap_wan(k));
        let router = format!("r{k}");
        let dir = netcode_procs::temp_dir(&format!("miniupnpd{k}"));
        let nft = dir.join("chains.nft");
        std::fs::write(&nft, NFT_CHAINS).expect("written");
        self.exec(&router, &["nft", "-f", &nft.display().to_string()]);
        // The home's FORWARD drops what comes from the WAN unsolicited: let mapped traffic in.
        self.exec(
            &router,
            &[
                "iptables",
                "-I",
                "FORWARD",
                "1",
                "-m",
                "conntrack",
                "--ctstate",
                "DNAT",
                "-j",
                "ACCEPT",
            ],
        );
        let lease_file = dir.join("leases");
        let conf = dir.join("miniupnpd.conf");
        let yes = if natpmp { "yes" } else { "no" };
        std::fs::write(
            &conf,
            format!(
                "ext_ifname=wan\nlistening_ip=lanbr\nhttp_port=0\nenable_natpmp={yes}\nenable_upnp=yes\n\
                 secure_mode=yes\nsystem_uptime=yes\nlease_file={}\n\
                 uuid=3d3cec3a-8cf0-11e0-98ee-00000000000{k}\n\
                 {extra}allow 1024-65535 10.{k}.0.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
                lease_file.display()
            ),
        )
        .expect("written");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(&router), "miniupnpd", "-d", "-f"])
            .arg(&conf)
            // A pid file of its own: with the default one, a second daemon (a test running
            // beside) refuses to start.
            .arg("-P")
            .arg(dir.join("miniupnpd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("miniupnpd does not start ({e}): apt-get install -y miniupnpd-nftables"));
        let log = child.stderr.take().map(read_in_background);
        self.wait_listening(&router, natpmp);
        let service = Service {
            child: Some(child),
            log,
        };
        (
            lan,
            wan,
            Miniupnpd {
                service,
                lease_file,
                dir,
            },
        )
    }
}

impl Lab {
    /// Waits (at most 10 s: a loaded machine starts it slowly) until the daemon in `router`
    /// listens on port 5351 (with `natpmp`) and for HTTP (UPnP-IGD's SOAP).
    fn wait_listening(&self, router: &str, natpmp: bool) {
        let ns = self.ns(router);
        let listening = |proto: &str, filter: &str| {
            Command::new("ip")
                .args(["netns", "exec", &ns, "ss", "-H", proto, filter])
                .output()
                .is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
        };
        for _ in 0..200 {
            let udp = !natpmp || listening("-lun", "sport = :5351");
            if udp && listening("-ltn", "") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("miniupnpd in {router} does not listen after 10 s");
    }
}
