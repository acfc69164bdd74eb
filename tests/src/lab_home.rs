//! The lab's homes: a router namespace per home between the internet's bridge and the
//! home's LAN bridge, translating as its [`Nat`] says and dropping unsolicited WAN input
//! (except the accepting variant), the machines on its LAN; an IPv6 prefix with global
//! addresses; a LAN with no router at all.

use std::net::Ipv4Addr;

use super::{GAME_PORT, Lab, Nat, PORTMAP_NET, SERVICE_IP, machine_ns};

impl Lab {
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
        // The internet is one bridge carrying two ranges (the documentation range, and the
        // one of routers that map ports): every router reaches the other range on-link.
        let other = if wan.octets()[..3] == PORTMAP_NET.octets()[..3] {
            SERVICE_IP
        } else {
            PORTMAP_NET
        };
        let [a, b, c, _] = other.octets();
        let net = format!("{}/24", Ipv4Addr::new(a, b, c, 0));
        self.exec(&router, &["ip", "route", "add", &net, "dev", "wan"]);
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
}
