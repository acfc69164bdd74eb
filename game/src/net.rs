//! Starting a peer from the command line (host, join, or rejoin from a seat file), what
//! every running peer keeps doing beside the game (saving its seat, announcing a LAN
//! game), and describing the session's events as JSON.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use clap::Args;
use netcode::bevy::NetPeer;
use netcode::cli::OnlineArgs;
use netcode::invite::Invite;
use netcode::lan::{Announcer, Beacon, DEFAULT_LAN_PORT};
use netcode::roster::RosterDigest;
use netcode::transport::{LinkConditions, PeerOptions, Seat};
use netcode::{EventRecord, Link, Relayer, Session, SessionEvent};
use serde_json::{Value, json};

/// Network options of `game host` and `game join`.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Your name in the session.
    #[arg(long, default_value = "player")]
    pub name: String,
    /// UDP port to bind (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// IP address to bind.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Keep your seat here: when the file exists, take that seat back (same player, same score).
    #[arg(long)]
    pub seat: Option<PathBuf>,
    /// Length of a round, in seconds (used when you host, or become host of a new session).
    #[arg(long, default_value_t = crate::arena::ROUND.as_secs_f64())]
    pub round_secs: f64,
    /// Try a bad network: added one-way latency of what you send, in ms.
    #[arg(long, default_value_t = 0.0)]
    pub sim_latency: f64,
    /// Try a bad network: jitter (±), in ms.
    #[arg(long, default_value_t = 0.0)]
    pub sim_jitter: f64,
    /// Try a bad network: loss probability per datagram.
    #[arg(long, default_value_t = 0.0)]
    pub sim_loss: f64,
    /// The rendezvous service, STUN servers, online play and port mapping.
    #[command(flatten)]
    pub online: OnlineArgs,
    /// Announce the session on your local networks, so `game lan` and the menu list it
    /// (everyone on the network can then join).
    #[arg(long)]
    pub lan: bool,
    /// UDP port of LAN announcements.
    #[arg(long, env = "NETCODE_LAN_PORT", default_value_t = DEFAULT_LAN_PORT)]
    pub lan_port: u16,
}

/// Options of `game netcheck`. No argument group of its own: it would be named
/// `NetcheckArgs` like the flattened `netcode::cli::NetcheckArgs`'s, and clap's debug
/// check refuses two groups of one name (`game netcheck` panicked in debug builds).
#[derive(Debug, Clone, Args)]
#[group(skip)]
pub struct NetcheckArgs {
    /// What to ask: the port, the STUN servers, the router, the rendezvous services.
    #[command(flatten)]
    pub check: netcode::cli::NetcheckArgs,
    /// Print the report as one JSON line.
    #[arg(long)]
    pub json: bool,
}

/// `game netcheck`: the report, as text or one JSON line.
pub fn netcheck(args: &NetcheckArgs) -> Result<(), String> {
    let options = args.check.options().map_err(|e| e.to_string())?;
    let report = netcode::transport::netcheck(&options).map_err(|e| e.to_string())?;
    if args.json {
        let mut line = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        if let Value::Object(map) = &mut line {
            map.insert("advice_text".into(), json!(report.advice.to_string()));
        }
        println!("{line}");
    } else {
        println!("{report}");
    }
    Ok(())
}

/// `--lan`: announces the session on the local networks while it runs (dropping it stops
/// the beacons).
pub struct LanAnnounce {
    announcer: Announcer,
    name: String,
}

impl LanAnnounce {
    /// Announces the session if it is time (once a second).
    pub fn tick(&mut self, peer: &NetPeer) {
        if !self.announcer.due() || !peer.session().in_session() {
            return;
        }
        let Some(invite) = peer.invite() else { return };
        let players = peer.session().roster().active().count();
        let beacon = Beacon {
            name: self.name.clone(),
            players: u8::try_from(players).unwrap_or(u8::MAX),
            invite: invite.encode(),
        };
        self.announcer.announce(&beacon);
    }
}

/// How to enter a session.
#[derive(Debug, Clone)]
pub enum Start {
    /// Start one.
    Host,
    /// Join the session of this invite code.
    Join(String),
}

impl NetArgs {
    fn options(&self) -> Result<PeerOptions, String> {
        let options = PeerOptions::default()
            .name(self.name.clone())
            .bind(SocketAddr::new(self.bind, self.port))
            .conditions(
                LinkConditions::from_millis(self.sim_latency, self.sim_jitter, self.sim_loss)
                    .map_err(|e| format!("--sim-{e}"))?,
            );
        self.online.peer_options(options).map_err(|e| e.to_string())
    }

    /// The LAN announcer of `--lan`, if set.
    pub fn lan_announce(&self) -> Result<Option<LanAnnounce>, String> {
        if !self.lan {
            return Ok(None);
        }
        let announcer = Announcer::new(self.lan_port).map_err(|e| e.to_string())?;
        Ok(Some(LanAnnounce {
            announcer,
            name: self.name.clone(),
        }))
    }

    /// The round length of `--round-secs`.
    pub fn round_len(&self) -> Result<Duration, String> {
        if self.round_secs.is_finite() && (1.0..=3600.0).contains(&self.round_secs) {
            Ok(Duration::from_secs_f64(self.round_secs))
        } else {
            Err(format!("--round-secs must be within 1..=3600, got {}", self.round_secs))
        }
    }

    /// Hosts, joins, or takes the seat saved in `--seat` back: returns at once (the join
    /// goes on in `NetPeer::poll`; a bad invite code or flag fails here).
    pub fn start(&self, start: &Start) -> Result<NetPeer, String> {
        let options = self.options()?;
        let seat = match &self.seat {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Some(text.parse::<Seat>().map_err(|e| format!("{}: {e}", path.display()))?)
            }
            _ => None,
        };
        let peer = match (seat, start) {
            (Some(seat), _) => {
                let dht = self.online.dht_for(&seat.invite);
                NetPeer::rejoin(&seat, options.dht(dht))
            }
            (None, Start::Join(code)) => {
                let invite = Invite::decode(code).map_err(|e| e.to_string())?;
                let dht = self.online.dht_for(&invite);
                NetPeer::join(&invite, options.dht(dht))
            }
            (None, Start::Host) => NetPeer::host(options),
        };
        peer.map_err(|e| e.to_string())
    }

    /// Polls a host until its address is settled (its rendezvous service answered, or did
    /// not in time), so that the code it prints names that address; at once without a
    /// service. For the command line: the menu shows the game at once instead.
    pub fn settle_host(peer: &mut NetPeer) -> Result<(), String> {
        while peer.udp().is_some_and(netcode::transport::Peer::setting_up) {
            peer.poll().map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Saves the seat (when `--seat` is set).
    pub fn save_seat(&self, peer: &NetPeer) -> Result<(), String> {
        let (Some(path), Some(seat)) = (&self.seat, peer.seat()) else {
            return Ok(());
        };
        seat.save(path)
            .map_err(|e| format!("cannot save the seat to {}: {e}", path.display()))
    }
}

/// A member's display name (or its id).
pub fn name_of(session: &Session, peer: netcode::PeerId) -> String {
    session
        .roster()
        .get(peer)
        .map_or_else(|| peer.to_string(), |m| m.name.clone())
}

/// A link's path in the JSON lines (`null` while it is down).
pub fn path_word(link: Link) -> Value {
    link.path_word().map_or(Value::Null, |p| json!(p))
}

/// What the scoreboard says of a link: where a direct one goes (`lan`, `internet`,
/// `mapped`), else who relays it (`relayed` by a member, `service relay`), else `down`.
pub fn link_label(session: &Session, peer: netcode::PeerId) -> &'static str {
    match session.link(peer) {
        Link::Direct(path) => path.word(),
        Link::Relayed(Relayer::Service) => "service relay",
        Link::Relayed(_) => "relayed",
        _ => "down",
    }
}

/// Each other member's link: `{PEER: {"state", "path", "rtt_ms"}}`.
pub fn links_json(session: &Session) -> Value {
    let mut map = serde_json::Map::new();
    for m in session.roster().active().filter(|m| m.id != session.peer_id()) {
        let rtt = session.rtt(m.id).map(|r| r.as_millis() as u64);
        map.insert(
            m.id.to_string(),
            json!({ "state": session.link(m.id).word(), "path": path_word(session.link(m.id)),
                    "rtt_ms": rtt }),
        );
    }
    Value::Object(map)
}

/// The JSON line of a session event, if it is one a script follows: its
/// [`EventRecord`] (a link change carries its state and path) with the members' names and,
/// for a host change, the pause the player saw (`pause`).
pub fn event_json(session: &Session, event: &SessionEvent, pause: Duration) -> Option<Value> {
    let mut line = serde_json::to_value(EventRecord::of(event)?).ok()?;
    let fields = line.as_object_mut()?;
    match event {
        SessionEvent::Joined { peer, .. }
        | SessionEvent::PeerJoined { peer }
        | SessionEvent::PeerAway { peer }
        | SessionEvent::PeerRejoined { peer } => {
            fields.insert("name".into(), json!(name_of(session, *peer)));
        }
        SessionEvent::HostChanged { new, .. } => {
            fields.insert("new_name".into(), json!(name_of(session, *new)));
            fields.insert("pause_ms".into(), json!(pause.as_millis() as u64));
        }
        _ => {}
    }
    Some(line)
}

/// `game lan`: listens for `secs` and prints each game announced on the network once, as
/// a `lan_game` JSON line, then `lan_done` with the count.
pub fn list_lan(secs: f64, port: u16) -> Result<(), String> {
    let listen = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d <= Duration::from_secs(3600))
        .ok_or_else(|| format!("--secs must be within 0..=3600, got {secs}"))?;
    let mut listener = netcode::lan::Listener::bind(port)
        .map_err(|e| format!("cannot listen on UDP port {port} ({e}); is a game menu open on this machine?"))?;
    let until = std::time::Instant::now() + listen;
    let mut seen = std::collections::BTreeSet::new();
    while std::time::Instant::now() < until {
        for game in listener.poll() {
            if seen.insert(game.beacon.invite.clone()) {
                crate::headless::emit(json!({ "event": "lan_game", "name": game.beacon.name,
                    "players": game.beacon.players, "from": game.from.to_string(), "invite": game.beacon.invite }));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::headless::emit(json!({ "event": "lan_done", "games": seen.len() }));
    Ok(())
}

/// What a running peer keeps doing beside the game: saving its seat whenever the roster
/// changes (`--seat`) and announcing the game on the LAN (`--lan`).
#[derive(Resource)]
pub struct Keeper {
    /// The flags it was started with.
    pub net: NetArgs,
    /// The roster the seat file was saved for.
    saved: Option<RosterDigest>,
    /// `--lan`: the session's beacons.
    lan: Option<LanAnnounce>,
}

impl Keeper {
    /// Keeps the seat and the LAN announcements of a peer started with `net`.
    pub fn new(net: NetArgs) -> Result<Self, String> {
        let lan = net.lan_announce()?;
        Ok(Keeper { net, saved: None, lan })
    }
}

/// Something the game cannot go on from (a seat file it cannot write).
#[derive(Message, Debug, Clone)]
pub struct Fault(pub String);

/// Saves the seat when the roster changed and announces the game on the LAN.
pub fn keep_session(mut keeper: ResMut<Keeper>, net: Res<NetPeer>, mut faults: MessageWriter<Fault>) {
    if let Some(lan) = keeper.lan.as_mut() {
        lan.tick(&net);
    }
    let digest = net.session().roster().digest();
    if net.session().in_session() && keeper.saved != Some(digest) {
        keeper.saved = Some(digest);
        if let Err(e) = keeper.net.save_seat(&net) {
            faults.write(Fault(e));
        }
    }
}
