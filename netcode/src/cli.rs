//! The command-line flags of online play, declared once for every program on the library
//! (feature `cli`): `game host/join/netcheck` and the `peer` example flatten
//! [`OnlineArgs`] into their own options (`#[command(flatten)]`), and turn it into
//! [`PeerOptions`] or [`NetcheckOptions`] here.
//!
//! ```text
//! --rendezvous HOST:PORT      (or NETCODE_RENDEZVOUS)
//! --stun HOST:PORT ...        (repeatable, or NETCODE_STUN=a,b)
//! --online                    public STUN servers and port mapping
//! --port-mapping | --no-port-mapping
//! --dht-bootstrap HOST:PORT ...  (repeatable, or NETCODE_DHT_BOOTSTRAP=a,b)
//! --no-dht
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Args;

use crate::dht::DhtConfig;
use crate::invite::Invite;
use crate::stun::StunConfig;
use crate::transport::{NetcheckOptions, PeerOptions, TransportError, resolve_rendezvous, stun_servers};

/// How a peer reaches friends across the internet: the rendezvous service, the STUN
/// servers, online play and port mapping. Every field's default is off or empty: nothing
/// is sent to an address the player did not give.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct OnlineArgs {
    /// Rendezvous service (HOST:PORT) for playing across home routers: a host registers
    /// there and its invite code names it; a joiner finds the players through it (besides
    /// the one its code names); netcheck tells whether it answers.
    #[arg(long, value_name = "HOST:PORT", env = "NETCODE_RENDEZVOUS")]
    pub rendezvous: Option<String>,
    /// STUN server (HOST:PORT) to ask where the internet sees you; repeat it, or list
    /// several comma-separated in NETCODE_STUN. Replaces the public servers of `--online`.
    #[arg(long = "stun", value_name = "HOST:PORT", env = "NETCODE_STUN", value_delimiter = ',')]
    pub stun: Vec<String>,
    /// Online play: ask well-known public STUN servers where the internet sees you (unless
    /// `--stun` names others) and your home router to map the game port. Without it nothing
    /// is sent to an address you did not give.
    #[arg(long)]
    pub online: bool,
    /// Ask your home router to map the game port (PCP, NAT-PMP or UPnP-IGD; on with
    /// `--online`).
    #[arg(long, conflicts_with = "no_port_mapping")]
    pub port_mapping: bool,
    /// Never ask the home router for a port mapping, even with `--online`.
    #[arg(long)]
    pub no_port_mapping: bool,
    /// Mainline DHT node (HOST:PORT) to join the DHT through; repeat it, or list several
    /// comma-separated in NETCODE_DHT_BOOTSTRAP. Replaces the public bootstrap nodes of
    /// `--online`.
    #[arg(
        long = "dht-bootstrap",
        value_name = "HOST:PORT",
        env = "NETCODE_DHT_BOOTSTRAP",
        value_delimiter = ','
    )]
    pub dht_bootstrap: Vec<String>,
    /// Never use the Mainline DHT, even with `--online` or `--dht-bootstrap`.
    #[arg(long)]
    pub no_dht: bool,
}

impl OnlineArgs {
    /// The rendezvous services named (`--rendezvous`), resolved.
    pub fn rendezvous_services(&self) -> Result<Vec<SocketAddr>, TransportError> {
        match self.rendezvous.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Ok(vec![resolve_rendezvous(text)?]),
            _ => Ok(Vec::new()),
        }
    }

    /// The STUN servers to ask: those named, else the public ones with `--online`, else
    /// none ([`stun_servers`]).
    pub fn stun_config(&self) -> Result<StunConfig, TransportError> {
        Ok(StunConfig {
            servers: stun_servers(&self.stun, self.online)?,
            ..StunConfig::default()
        })
    }

    /// Whether to ask the home router for a port mapping: with `--online` or
    /// `--port-mapping`, never with `--no-port-mapping`.
    pub fn port_mapping(&self) -> bool {
        (self.online || self.port_mapping) && !self.no_port_mapping
    }

    /// The DHT the player chose: none with `--no-dht`; the nodes of `--dht-bootstrap` when
    /// given; the public ones ([`crate::dht::PUBLIC_BOOTSTRAP`]) only with `--online`;
    /// else none (nothing goes to the public DHT unless online play was chosen). Names are
    /// not resolved here ([`crate::dht::DhtClient::new`] does).
    pub fn dht(&self) -> Option<DhtConfig> {
        let given: Vec<String> = self
            .dht_bootstrap
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        match (self.no_dht, given.is_empty(), self.online) {
            (true, _, _) => None,
            (false, false, _) => Some(DhtConfig::with_bootstrap(given)),
            (false, true, true) => Some(DhtConfig::public()),
            (false, true, false) => None,
        }
    }

    /// The DHT a joiner of `invite` uses: [`OnlineArgs::dht`], else the public nodes when
    /// the code says its session is on the DHT (its host played online: a joiner follows
    /// what the code says), never with `--no-dht`.
    pub fn dht_for(&self, invite: &Invite) -> Option<DhtConfig> {
        self.dht()
            .or_else(|| (invite.dht && !self.no_dht).then(DhtConfig::public))
    }

    /// `options` with these flags' rendezvous services, STUN servers and port mapping.
    pub fn peer_options(&self, options: PeerOptions) -> Result<PeerOptions, TransportError> {
        let mut options = options;
        options.traversal.rendezvous = self.rendezvous_services()?;
        options.stun = self.stun_config()?;
        options.port_mapping = self.port_mapping();
        options.dht = self.dht();
        Ok(options)
    }

    /// What `netcheck` asks from a socket bound at `bind`: these flags' STUN servers,
    /// port mapping and rendezvous services.
    pub fn netcheck_options(&self, bind: SocketAddr) -> Result<NetcheckOptions, TransportError> {
        Ok(NetcheckOptions {
            bind,
            stun: self.stun_config()?,
            port_mapping: self.port_mapping(),
            rendezvous: self.rendezvous_services()?,
            dht: self.dht(),
            ..NetcheckOptions::default()
        })
    }
}

/// Options of `netcheck` (`game netcheck`, `peer netcheck`).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct NetcheckArgs {
    /// UDP port to bind (0: any free port; your game's port shows its mapping).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// IP address to bind.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// An invite code (`nc1-...`): also ask the rendezvous services it names.
    #[arg(long, value_name = "CODE")]
    pub invite: Option<String>,
    /// The STUN servers, port mapping and rendezvous services to ask.
    #[command(flatten)]
    pub online: OnlineArgs,
}

impl Default for NetcheckArgs {
    fn default() -> Self {
        NetcheckArgs {
            port: 0,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            invite: None,
            online: OnlineArgs::default(),
        }
    }
}

impl NetcheckArgs {
    /// What to check: the flags' servers and services, and those the invite names.
    pub fn options(&self) -> Result<NetcheckOptions, TransportError> {
        let mut options = self.online.netcheck_options(SocketAddr::new(self.bind, self.port))?;
        if let Some(code) = &self.invite {
            for s in Invite::decode(code.trim())?.rendezvous {
                if !options.rendezvous.contains(&s) {
                    options.rendezvous.push(s);
                }
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        online: OnlineArgs,
    }

    fn parse(args: &[&str]) -> Result<OnlineArgs, clap::Error> {
        let args = std::iter::once("prog").chain(args.iter().copied());
        Cli::try_parse_from(args).map(|c| c.online)
    }

    #[test]
    fn the_flags_parse_as_the_nat_lab_scripts_write_them() {
        // Only addresses: a test resolves no public name and never chooses online play.
        let a = parse(&[
            "--stun",
            "10.0.0.1:3478",
            "--stun",
            "10.0.0.2:3478",
            "--rendezvous",
            "127.0.0.1:7000",
            "--port-mapping",
        ])
        .unwrap();
        assert_eq!(a.stun, ["10.0.0.1:3478", "10.0.0.2:3478"]);
        assert!(a.port_mapping() && !a.online);
        let o = a.peer_options(PeerOptions::default()).unwrap();
        assert_eq!(o.traversal.rendezvous, ["127.0.0.1:7000".parse().unwrap()]);
        assert_eq!(o.stun.servers.len(), 2);
        assert!(o.port_mapping);
        let n = a.netcheck_options("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(n.rendezvous, o.traversal.rendezvous);
        assert!(n.port_mapping);
        assert!(
            parse(&["--port-mapping", "--no-port-mapping"]).is_err(),
            "they conflict"
        );
        let off = OnlineArgs {
            online: true,
            no_port_mapping: true,
            ..OnlineArgs::default()
        };
        assert!(!off.port_mapping(), "--no-port-mapping wins over --online");
    }

    #[test]
    fn by_default_nothing_is_named_nor_asked() {
        let none = OnlineArgs::default();
        assert_eq!(none.stun_config().unwrap().servers, Vec::<SocketAddr>::new());
        assert_eq!(none.rendezvous_services().unwrap(), Vec::<SocketAddr>::new());
        assert!(!none.port_mapping());
        let blank = OnlineArgs {
            rendezvous: Some(" ".into()),
            ..OnlineArgs::default()
        };
        assert_eq!(blank.rendezvous_services().unwrap(), Vec::<SocketAddr>::new());
        assert_eq!(none.dht(), None, "no DHT unless chosen");
        assert_eq!(none.netcheck_options("127.0.0.1:0".parse().unwrap()).unwrap().dht, None);
        let bad = OnlineArgs {
            rendezvous: Some("no port".into()),
            ..OnlineArgs::default()
        };
        assert!(matches!(
            bad.rendezvous_services(),
            Err(TransportError::BadRendezvous { .. })
        ));
    }

    #[test]
    fn a_joiner_follows_a_code_that_says_its_session_is_on_the_dht() {
        // Only the public list's names are compared: nothing is resolved or sent here.
        let code = |dht| Invite {
            addrs: vec!["10.0.0.1:5000".parse().unwrap()],
            rendezvous: Vec::new(),
            public: Vec::new(),
            session: crate::SessionKey { id: 1, key: [1; 32] },
            dht,
        };
        let none = OnlineArgs::default();
        assert_eq!(none.dht_for(&code(false)), None, "a code not on the DHT: nothing asked");
        let public = none
            .dht_for(&code(true))
            .expect("the public DHT: the host played online");
        assert_eq!(public.bootstrap, crate::dht::PUBLIC_BOOTSTRAP);
        let off = OnlineArgs {
            no_dht: true,
            ..OnlineArgs::default()
        };
        assert_eq!(off.dht_for(&code(true)), None, "--no-dht wins");
        let named = parse(&["--dht-bootstrap", "10.0.0.9:6881"]).unwrap();
        assert_eq!(named.dht_for(&code(true)).unwrap().bootstrap, ["10.0.0.9:6881"]);
    }

    #[test]
    fn the_dht_is_the_one_named_the_public_one_only_online_and_none_with_no_dht() {
        // Only addresses and the public list's names: nothing is resolved or sent here.
        let named = parse(&["--dht-bootstrap", "10.0.0.1:6881", "--dht-bootstrap", "10.0.0.2:6881"]).unwrap();
        let config = named.dht().expect("a DHT");
        assert_eq!(config.bootstrap, ["10.0.0.1:6881", "10.0.0.2:6881"]);
        assert_eq!(config.port, 0, "its own socket, any free port");
        let online_named = OnlineArgs {
            online: true,
            ..named.clone()
        };
        assert_eq!(
            online_named.dht(),
            Some(config),
            "the named nodes replace the public ones"
        );
        let online = OnlineArgs {
            online: true,
            ..OnlineArgs::default()
        };
        let public = online.dht().expect("the public DHT with --online");
        assert_eq!(public.bootstrap, crate::dht::PUBLIC_BOOTSTRAP);
        for off in [
            OnlineArgs {
                no_dht: true,
                ..online.clone()
            },
            OnlineArgs {
                no_dht: true,
                ..named.clone()
            },
        ] {
            assert_eq!(off.dht(), None, "--no-dht wins");
        }
        assert!(parse(&["--no-dht"]).unwrap().no_dht);
        let blank = OnlineArgs {
            dht_bootstrap: vec![" ".into()],
            ..OnlineArgs::default()
        };
        assert_eq!(blank.dht(), None, "a blank entry names nothing");
        assert_eq!(
            named
                .netcheck_options("127.0.0.1:0".parse().unwrap())
                .unwrap()
                .dht
                .map(|d| d.bootstrap),
            Some(vec!["10.0.0.1:6881".to_string(), "10.0.0.2:6881".to_string()])
        );
    }
}
