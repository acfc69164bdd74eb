//! `netcheck`: what the network lets this machine do, asked from one UDP socket as a
//! game's would be (the STUN part of the connectivity report of issue 23): the local
//! addresses, what each STUN server saw, the NAT's mapping behaviour, the port-mapping
//! protocol the home router speaks and the external address it mapped, whether each
//! rendezvous service the player named answers and its round trip, whether the Mainline
//! DHT answers (from a DHT node of its own, see `crate::dht`) and how long a lookup took,
//! and one line of advice in plain words.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;
use serde::Serialize;

use super::service_check::{RendezvousReport, ServiceCheck};
use super::{Clock, LinkConditions, TransportError, UdpTransport, mapping::start_port_mapping, peer::candidates};
use crate::dht::{DhtConfig, DhtReport};
use crate::portmap::{PortMapConfig, Protocol};
use crate::stun::{NatMapping, StunClient, StunConfig, StunOutcome};

/// Sleep between polls of the socket while waiting for answers.
const POLL: Duration = Duration::from_millis(2);

/// What to check. Every field's default is in its doc.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetcheckOptions {
    /// Address to bind (the game's port, to see its mapping). Default: `0.0.0.0:0`.
    pub bind: SocketAddr,
    /// STUN servers to ask and their timing. Default: none (then the report can only
    /// list local addresses).
    pub stun: StunConfig,
    /// Ask the default gateway for a port mapping (PCP, NAT-PMP, UPnP-IGD), deleted again
    /// before the report. Default: false.
    pub port_mapping: bool,
    /// Rendezvous services to ask whether they answer (those the player named, or the
    /// invite names; nothing else is asked). Default: none.
    pub rendezvous: Vec<SocketAddr>,
    /// How long to wait for a rendezvous service's answer. Default: 3 s.
    pub rendezvous_timeout: Duration,
    /// The DHT to ask whether it answers (online play or `--dht-bootstrap`). Default:
    /// none (the report says it was not asked).
    pub dht: Option<DhtConfig>,
}

impl Default for NetcheckOptions {
    fn default() -> Self {
        NetcheckOptions {
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            stun: StunConfig::default(),
            port_mapping: false,
            rendezvous: Vec::new(),
            rendezvous_timeout: Duration::from_secs(3),
            dht: None,
        }
    }
}

crate::config::setters!(NetcheckOptions {
    bind: SocketAddr,
    stun: StunConfig,
    port_mapping: bool,
    rendezvous: Vec<SocketAddr>,
    rendezvous_timeout: Duration,
    dht: Option<DhtConfig>,
});

/// One line of advice, from what the STUN servers said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Advice {
    /// The home router mapped the port: reachable from anywhere.
    MapsPorts,
    /// No server was given.
    NoServer,
    /// No server answered.
    NoAnswer,
    /// A server saw one of this machine's own addresses: no NAT in the way.
    NoNat,
    /// Endpoint-independent mapping: punching works with most peers.
    Punchable,
    /// Endpoint-dependent mapping: direct paths are rare, relays carry the game.
    Symmetric,
    /// Only one server (address) answered: the mapping behaviour is unknown.
    OneServer,
    /// A rendezvous service the player named did not answer.
    ServiceSilent,
    /// The DHT was asked and no node answered.
    DhtSilent,
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Advice::MapsPorts => "your router maps ports: friends can join you directly",
            Advice::NoServer => "no STUN server was asked: pass --online, or --stun HOST:PORT",
            Advice::NoAnswer => {
                "no STUN server answered: this machine seems offline or UDP is blocked; friends on your network can still join"
            }
            Advice::NoNat => "no NAT in the way: friends can reach you directly (unless a firewall drops them)",
            Advice::Punchable => {
                "your router keeps one port for every destination: links to friends behind ordinary routers can be punched direct"
            }
            Advice::Symmetric => {
                "your router maps a new port for every destination (symmetric NAT): most links will be relayed"
            }
            Advice::OneServer => "only one STUN server answered: name two to tell how your router maps",
            Advice::ServiceSilent => {
                "a rendezvous service you named did not answer: is it running, and is its address right?"
            }
            Advice::DhtSilent => {
                "no DHT node answered: this machine may be offline or UDP blocked, or the --dht-bootstrap nodes are down or wrong; joins will need an address in the code or a rendezvous service"
            }
        })
    }
}

/// What one STUN server said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StunReport {
    /// The server.
    pub server: SocketAddr,
    /// Where it saw us, if it answered.
    pub reflexive: Option<SocketAddr>,
    /// Its error code, if it refused.
    pub error: Option<u16>,
}

/// What the home router said to the port-mapping client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortMapReport {
    /// The default gateway asked (none: no default route, nothing was asked).
    pub gateway: Option<Ipv4Addr>,
    /// The protocol that mapped the port, if any.
    pub protocol: Option<Protocol>,
    /// The external address it mapped.
    pub external: Option<SocketAddr>,
}

/// The connectivity report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetReport {
    /// The socket's addresses on this machine's networks (what LAN peers reach).
    pub local: Vec<SocketAddr>,
    /// Each STUN server asked, in order.
    pub stun: Vec<StunReport>,
    /// Where the internet sees the socket (the first server that answered).
    pub reflexive: Option<SocketAddr>,
    /// The NAT's mapping behaviour.
    pub mapping: NatMapping,
    /// The port mapping, when it was asked for.
    pub port_mapping: Option<PortMapReport>,
    /// Each rendezvous service asked, in order.
    pub rendezvous: Vec<RendezvousReport>,
    /// Whether the Mainline DHT answers.
    pub dht: DhtReport,
    /// What follows, in a word ([`Advice`]'s `Display` says it in plain words).
    pub advice: Advice,
}

impl fmt::Display for NetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local: Vec<String> = self.local.iter().map(ToString::to_string).collect();
        writeln!(f, "local addresses: {}", local.join(", "))?;
        for s in &self.stun {
            match (s.reflexive, s.error) {
                (Some(a), _) => writeln!(f, "STUN {}: sees you at {a}", s.server)?,
                (None, Some(code)) => writeln!(f, "STUN {}: refused (error {code})", s.server)?,
                (None, None) => writeln!(f, "STUN {}: no answer", s.server)?,
            }
        }
        writeln!(f, "NAT mapping: {}", self.mapping.word())?;
        match self.port_mapping {
            None => {}
            Some(PortMapReport { gateway: None, .. }) => writeln!(f, "port mapping: no default gateway")?,
            Some(PortMapReport {
                gateway: Some(g),
                protocol: Some(p),
                external: Some(e),
            }) => writeln!(f, "port mapping: {} at {g} maps you at {e}", p.name())?,
            Some(PortMapReport { gateway: Some(g), .. }) => {
                writeln!(f, "port mapping: {g} answered no PCP, NAT-PMP or UPnP-IGD request")?
            }
        }
        for r in &self.rendezvous {
            match (r.rtt_ms, r.observed) {
                (Some(ms), Some(at)) => writeln!(f, "rendezvous {}: answers in {ms} ms, sees you at {at}", r.service)?,
                _ => writeln!(f, "rendezvous {}: no answer", r.service)?,
            }
        }
        let d = &self.dht;
        let through = d.bootstrap.join(", ");
        match (d.asked, &d.error, d.lookup_ms) {
            (false, _, _) => writeln!(f, "DHT: not asked (--online, or --dht-bootstrap HOST:PORT)")?,
            (true, Some(e), _) => writeln!(f, "DHT: does not start: {e}")?,
            (true, None, Some(ms)) if d.answered => writeln!(
                f,
                "DHT: {} nodes answered a lookup in {ms} ms (through {through})",
                d.nodes
            )?,
            (true, None, _) => writeln!(f, "DHT: no node answered (through {through})")?,
        }
        write!(f, "advice: {}", self.advice)
    }
}

/// Binds `options.bind`, asks the STUN servers, the router and the rendezvous services from
/// that socket until each answered or was given up ([`StunConfig::give_up_after`] and
/// [`NetcheckOptions::rendezvous_timeout`], 3 s by default), and reports.
pub fn netcheck(options: &NetcheckOptions) -> Result<NetReport, TransportError> {
    let mut transport = UdpTransport::bind(options.bind, LinkConditions::perfect())?;
    // The DHT lookup runs on a node (and socket) of its own, beside the STUN questions.
    let dht = options
        .dht
        .clone()
        .map(|config| std::thread::spawn(move || crate::dht::check(&config)));
    let local_addr = transport.local_addr();
    let clock = Clock::default();
    let servers: Vec<SocketAddr> = options
        .stun
        .servers
        .iter()
        .filter(|s| s.is_ipv4() == local_addr.is_ipv4())
        .copied()
        .collect();
    let cfg = StunConfig {
        servers,
        ..options.stun.clone()
    };
    let mut rng: StdRng = rand::make_rng();
    let mut stun = StunClient::new(cfg, rng.random());
    stun.start(clock.now());
    transport.set_stun(stun);
    if options.port_mapping {
        start_port_mapping(&mut transport, PortMapConfig::default(), rng.random(), clock.now());
    }
    let services: Vec<SocketAddr> = options
        .rendezvous
        .iter()
        .filter(|s| s.is_ipv4() == local_addr.is_ipv4())
        .copied()
        .collect();
    let mut check = ServiceCheck::new(&services, options.rendezvous_timeout, rng.random(), clock.now());
    let busy = |t: &UdpTransport| t.stun().is_some_and(|s| !s.done()) || t.portmap().is_some_and(|p| !p.done());
    while busy(&transport) || !check.done(clock.now()) {
        check.update(clock.now());
        let mut probes = Vec::new();
        check.drain(&mut probes);
        for (to, bytes) in probes {
            transport.queue(to, bytes);
        }
        transport.send(None, clock.now())?;
        std::thread::sleep(POLL);
        let now = clock.now();
        transport.receive_each(None, now, |from, bytes| check.handle(from, bytes, now))?;
    }
    let stun = transport.stun().expect("set above");
    let mut report = report(candidates(local_addr), stun);
    if let Some(p) = transport.portmap() {
        let mapping = p.mapping();
        report.port_mapping = Some(PortMapReport {
            gateway: p.gateway(),
            protocol: mapping.map(|m| m.protocol),
            external: mapping.map(|m| m.external),
        });
        if mapping.is_some() {
            report.advice = Advice::MapsPorts;
        }
    }
    report.rendezvous = check.reports();
    if report.rendezvous.iter().any(|r| !r.answered) {
        report.advice = Advice::ServiceSilent;
    }
    if let Some(lookup) = dht {
        report.dht = lookup.join().unwrap_or_else(|_| DhtReport::not_asked());
        if report.dht.silent() {
            report.advice = Advice::DhtSilent;
        }
    }
    Ok(report)
}

/// The report of a STUN client that is done, for a socket at `local`.
fn report(local: Vec<SocketAddr>, stun: &StunClient) -> NetReport {
    let servers: Vec<StunReport> = stun
        .outcomes()
        .map(|(server, outcome)| StunReport {
            server,
            reflexive: match outcome {
                StunOutcome::Reflexive(a) => Some(a),
                _ => None,
            },
            error: match outcome {
                StunOutcome::Refused(code) => Some(code),
                _ => None,
            },
        })
        .collect();
    let reflexive = stun.reflexive();
    let mapping = stun.mapping();
    let advice = match (reflexive, mapping) {
        _ if servers.is_empty() => Advice::NoServer,
        (None, _) => Advice::NoAnswer,
        (Some(r), _) if local.contains(&r) => Advice::NoNat,
        (Some(_), NatMapping::EndpointIndependent) => Advice::Punchable,
        (Some(_), NatMapping::EndpointDependent) => Advice::Symmetric,
        (Some(_), NatMapping::Unknown) => Advice::OneServer,
    };
    NetReport {
        local,
        stun: servers,
        reflexive,
        mapping,
        port_mapping: None,
        rendezvous: Vec::new(),
        dht: DhtReport::not_asked(),
        advice,
    }
}
