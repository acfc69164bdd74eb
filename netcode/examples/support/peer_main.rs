//! A headless peer on the real network, shared by the `peer` and `loopback_bench` examples.
//!
//! It hosts or joins with an invite code, plays a tiny game (its own counter in the store
//! and its own moving position in the snapshot stream) and prints the session's events as
//! JSON lines on stdout, each with `t_ms` (UNIX milliseconds), so scripts and tests can
//! follow it. With `--seat FILE` it keeps its rejoin secret in FILE and, when started
//! again with the same file, takes its old seat back.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use netcode::cli::{NetcheckArgs, OnlineArgs};
use netcode::invite::Invite;
use netcode::snapshot::DEFAULT_TICK_HZ;
use netcode::snapshot::delta::{Schema, Snapshot};
use netcode::snapshot::quant::Quant;
use netcode::transport::{LinkConditions, Peer, PeerOptions, Seat, netcheck};
use netcode::{EventRecord, Link, PeerId, Scope, SessionEvent};
use serde_json::{Value, json};

/// Interval between status lines and score increments.
const STATUS_EVERY: Duration = Duration::from_millis(100);
/// Another member counts as "exchanging state" when its snapshot is this fresh.
const FRESH: Duration = Duration::from_millis(500);
/// Longest wait between two polls (the session asks for less when a timer is due sooner,
/// and a datagram ends the wait at once: `Peer::wait`).
const MAX_WAIT: Duration = Duration::from_millis(20);
/// The store key of each peer's counter.
const SCORE: &str = "score";
/// How long a graceful leave may take.
const LEAVE_LIMIT: Duration = Duration::from_secs(2);

/// A headless peer: host or join a session, print its events as JSON lines.
#[derive(Debug, Parser)]
#[command(name = "peer")]
pub struct PeerCli {
    #[command(subcommand)]
    pub command: PeerCommand,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Start a session and print its invite code.
    Host(PeerArgs),
    /// Join the session of an invite code.
    Join {
        /// The invite code (`nc1-...`).
        code: String,
        #[command(flatten)]
        args: PeerArgs,
    },
    /// Report what the network lets this machine do (addresses, what each STUN server sees,
    /// the NAT's mapping, the port mapping, whether each rendezvous service answers,
    /// advice) as one `netcheck` JSON line.
    Netcheck(NetcheckArgs),
}

/// `netcheck`: one JSON line with the report and its advice in words.
fn run_netcheck(args: &NetcheckArgs) -> Result<(), String> {
    let options = args.options().map_err(|e| e.to_string())?;
    let report = netcheck(&options).map_err(|e| e.to_string())?;
    let mut line = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut line {
        map.insert("advice_text".into(), json!(report.advice.to_string()));
    }
    emit("netcheck", line);
    Ok(())
}

/// Options of both commands.
#[derive(Debug, Clone, Args)]
pub struct PeerArgs {
    /// Display name.
    #[arg(long, default_value = "peer")]
    pub name: String,
    /// UDP port to bind (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// IP address to bind (default: all interfaces).
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: std::net::IpAddr,
    /// Keep the rejoin secret here; when the file exists, take that seat back.
    #[arg(long)]
    pub seat: Option<PathBuf>,
    /// Conditioner: added one-way latency of what this peer sends, in ms.
    #[arg(long, default_value_t = 0.0)]
    pub sim_latency: f64,
    /// Conditioner: jitter (±) in ms.
    #[arg(long, default_value_t = 0.0)]
    pub sim_jitter: f64,
    /// Conditioner: loss probability per datagram.
    #[arg(long, default_value_t = 0.0)]
    pub sim_loss: f64,
    /// Leave gracefully after this many seconds (default: run until killed).
    #[arg(long)]
    pub quit_after: Option<f64>,
    /// Give up joining after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub join_timeout: f64,
    /// The rendezvous service, STUN servers and port mapping.
    #[command(flatten)]
    pub online: OnlineArgs,
}

impl PeerArgs {
    fn options(&self) -> Result<PeerOptions, String> {
        if !(self.join_timeout.is_finite() && self.join_timeout > 0.0 && self.join_timeout <= 3600.0) {
            return Err(format!(
                "--join-timeout must be within 0..=3600 s, got {}",
                self.join_timeout
            ));
        }
        let options = PeerOptions::default()
            .name(self.name.clone())
            .bind(std::net::SocketAddr::new(self.bind, self.port))
            .conditions(
                LinkConditions::from_millis(self.sim_latency, self.sim_jitter, self.sim_loss)
                    .map_err(|e| format!("--sim-{e}"))?,
            )
            .join_timeout(Duration::from_secs_f64(self.join_timeout));
        self.online.peer_options(options).map_err(|e| e.to_string())
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Prints one event line: `fields` with the `event` word.
fn emit(event: &str, mut fields: Value) {
    if let Value::Object(map) = &mut fields {
        map.insert("event".into(), json!(event));
    }
    print_line(fields);
}

/// Prints one JSON line, stamped with `t_ms`.
fn print_line(mut line: Value) {
    if let Value::Object(map) = &mut line {
        map.insert("t_ms".into(), json!(unix_ms()));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn schema() -> Schema {
    let mut schema = Schema::default();
    let pos = Quant::new(-50.0, 50.0, 0.01).expect("valid range");
    schema.add_kind(vec![pos, pos]).expect("first kind");
    schema
}

/// Runs the peer until it is killed, leaves (`--quit-after`), or fails.
pub fn run(cli: PeerCli) -> Result<(), String> {
    let (code, args) = match cli.command {
        PeerCommand::Host(args) => (None, args),
        PeerCommand::Join { code, args } => (Some(code), args),
        PeerCommand::Netcheck(args) => return run_netcheck(&args),
    };
    let options = args.options()?;
    let saved: Option<Seat> = match &args.seat {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some(text.parse().map_err(|e| format!("{}: {e}", path.display()))?)
        }
        _ => None,
    };
    let mut peer = match (&saved, &code) {
        (Some(seat), _) => {
            let dht = args.online.dht_for(&seat.invite);
            Peer::rejoin(seat, options.dht(dht))
        }
        (None, Some(code)) => Invite::decode(code)
            .map_err(netcode::transport::TransportError::from)
            .and_then(|invite| {
                let dht = args.online.dht_for(&invite);
                Peer::join(&invite, options.dht(dht))
            }),
        (None, None) => Peer::host(options),
    }
    .map_err(|e| e.to_string())?;
    peer.session_mut().set_schema(schema());
    let hosting = code.is_none() && saved.is_none();
    if hosting {
        // The host's address settles once its rendezvous service answered (or did not in
        // time): its code names that address.
        while peer.setting_up() {
            peer.poll().map_err(|e| e.to_string())?;
            peer.wait(MAX_WAIT).map_err(|e| e.to_string())?;
        }
    }
    let mut invite = peer.invite().encode();
    if hosting {
        emit(
            "hosting",
            json!({ "invite": invite, "peer": peer.session().peer_id().to_string(),
                    "addr": peer.session().local_addr().to_string() }),
        );
    }
    let started = Instant::now();
    let mut next_status = Instant::now();
    let mut score: u64 = 0;
    let mut saved_roster = None;
    let mut heard: BTreeMap<PeerId, (u32, Instant)> = BTreeMap::new();
    loop {
        peer.poll().map_err(|e| e.to_string())?;
        while let Some(event) = peer.session_mut().poll_event() {
            if let SessionEvent::Joined { rejoined: true, .. } = event {
                // Our counter continues from what the session kept for our seat.
                let me = peer.session().peer_id();
                if let Some(v) = peer.session().store().get(Scope::Peer(me), SCORE) {
                    score = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
                }
            }
            report(&peer, &event);
            if matches!(event, SessionEvent::HostChanged { .. }) {
                next_status = Instant::now(); // Say at once who hosts now.
            }
            if event == SessionEvent::Left {
                return Ok(());
            }
        }
        let s = peer.session();
        if s.in_session() && Instant::now() >= next_status {
            next_status = Instant::now() + STATUS_EVERY;
            score += 1;
            let t = started.elapsed().as_secs_f64();
            let tick = (t * DEFAULT_TICK_HZ) as u32;
            let entity = schema().entity(0, &[(20.0 * t.cos()) as f32, (20.0 * t.sin()) as f32]);
            let session = peer.session_mut();
            let _ = session.set_own(SCORE, Some(score.to_string().into_bytes()));
            if let Ok(e) = entity {
                session.publish_own(Snapshot {
                    tick,
                    entities: [(0, e)].into(),
                });
            }
            status(&peer, &mut heard);
            // A host's code names its public address once a STUN server told it.
            let now_invite = peer.invite().encode();
            if hosting && now_invite != invite {
                emit("invite", json!({ "invite": now_invite }));
                invite = now_invite;
            }
            if let Some(path) = &args.seat {
                let roster = peer.session().roster().digest();
                if saved_roster != Some(roster) {
                    save_seat(path, &peer.seat())?;
                    saved_roster = Some(roster);
                }
            }
        }
        if args.quit_after.is_some_and(|q| started.elapsed().as_secs_f64() >= q) && !peer.session().has_left() {
            peer.leave();
            let until = Instant::now() + LEAVE_LIMIT;
            while Instant::now() < until && !peer.session().has_left() {
                peer.poll().map_err(|e| e.to_string())?;
                peer.wait(MAX_WAIT).map_err(|e| e.to_string())?;
            }
            emit("left", json!({}));
            return Ok(());
        }
        peer.wait(MAX_WAIT).map_err(|e| e.to_string())?;
    }
}

fn save_seat(path: &std::path::Path, seat: &Seat) -> Result<(), String> {
    seat.save(path)
        .map_err(|e| format!("cannot save the seat to {}: {e}", path.display()))
}

/// A link's path word for the JSON lines (`null` while it is down).
fn path_name(link: Link) -> Value {
    link.path_word().map_or(Value::Null, |p| json!(p))
}

/// Prints the JSON line of a session event: its [`EventRecord`] with the host a peer
/// joined and the pause of a host change (since the old host was last heard).
fn report(peer: &Peer, event: &SessionEvent) {
    let s = peer.session();
    let Some(mut line) = EventRecord::of(event).and_then(|r| serde_json::to_value(r).ok()) else {
        return;
    };
    let Value::Object(fields) = &mut line else { return };
    match event {
        SessionEvent::Joined { .. } => {
            fields.insert("host".into(), json!(s.current_host().map(|h| h.to_string())));
        }
        SessionEvent::HostChanged { old, .. } => {
            let pause = s
                .last_heard(*old)
                .map_or(0.0, |t| peer.now().saturating_sub(t).as_secs_f64() * 1000.0);
            fields.insert("pause_ms".into(), json!(pause.round()));
        }
        _ => {}
    }
    print_line(line);
}

/// One status line: the host, the members, whose state is fresh, everyone's score.
fn status(peer: &Peer, heard: &mut BTreeMap<PeerId, (u32, Instant)>) {
    let s = peer.session();
    let me = s.peer_id();
    let now = Instant::now();
    let mut fresh = Vec::new();
    let mut scores = serde_json::Map::new();
    let mut links = serde_json::Map::new();
    for m in s.roster().active() {
        if let Some(v) = s.store().get(Scope::Peer(m.id), SCORE) {
            let n: u64 = std::str::from_utf8(v).ok().and_then(|t| t.parse().ok()).unwrap_or(0);
            scores.insert(m.id.to_string(), json!(n));
        }
        if m.id == me {
            continue;
        }
        let rtt = s.rtt(m.id).map(|r| r.as_millis() as u64);
        links.insert(
            m.id.to_string(),
            json!({ "state": s.link(m.id).word(), "path": path_name(s.link(m.id)), "rtt_ms": rtt }),
        );
        if let Some(snapshot) = s.remote_state(m.id) {
            let entry = heard.entry(m.id).or_insert((snapshot.tick, now));
            if entry.0 != snapshot.tick {
                *entry = (snapshot.tick, now);
            }
            if now.duration_since(entry.1) <= FRESH {
                fresh.push(m.id.to_string());
            }
        }
    }
    emit(
        "status",
        json!({ "peer": me.to_string(), "host": s.current_host().map(|h| h.to_string()), "epoch": s.epoch(),
                "members": s.roster().active().count(), "fresh": fresh, "scores": scores, "links": links,
                "reflexive": peer.reflexive().map(|a| a.to_string()), "nat_mapping": peer.nat_mapping().word(),
                "stun_ignored": peer.transport().stun().map(|c| c.stats().ignored),
                "mapped": peer.mapped().map(|m| m.external.to_string()),
                "mapping_protocol": peer.mapped().map(|m| m.protocol.name()),
                "portmap_ignored": peer.transport().portmap().map(|p| p.stats().ignored),
                "portmap_granted": peer.transport().portmap().map(|p| p.stats().granted),
                "dht": peer.dht_counts().map(|d| json!({ "puts": d.puts, "gets": d.gets, "knocks": d.knocks,
                    "forged": d.forged, "stale_or_replayed": d.stale_or_replayed,
                    "per_minute": ((d.puts + d.gets) as f64 / d.minutes.max(1e-9) * 10.0).round() / 10.0 })) }),
    );
}
