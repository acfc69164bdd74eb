//! Bandwidth of the arena scene ([`netcode::sim::arena`]'s motion functions on both sides: 8
//! moving players, 64 objects of which half drift, 30 Hz sends, 20 ms one-way latency, no
//! loss): `netcode` against bevy_replicon 0.44 over bevy_replicon_renet 0.20.
//!
//! * **replicon**: a headless server app (player 0, owner of the objects) and 7 headless
//!   client apps in this process, renet over the netcode transport (unsecure) on loopback
//!   UDP. The server ticks at 30 Hz (`Time<Fixed>` drives replicon's default tick schedule,
//!   `FixedPostUpdate`) and replicates `Position([f32; 2])` / `Angle(f32)` (postcard) of every
//!   object and player but a client's own; clients send their position at 30 Hz as an
//!   unreliable client message. Each client reaches the server through a relay that delays
//!   datagrams by the latency and counts the bytes it delivers.
//! * **ours**: [`netcode::sim::Sim`], 8 peers, `Scene::Arena { objects: 64 }`, simulated links.
//!
//! Both count whole UDP payloads received (netcode header, tag and renet framing included;
//! IP/UDP headers not) over the window after a 2 s warm-up: `--secs` wall seconds for
//! replicon, as many simulated seconds for ours.
//!
//! ```text
//! cargo bench -p netcode-tests --bench vs_replicon -- [--secs 10] [--latency-ms 20] [--json]
//! ```

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use bevy::ecs::query::QueryFilter;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_replicon::prelude::*;
use bevy_replicon::server::server_tick::ServerTick;
use bevy_replicon_renet::netcode::{
    ClientAuthentication, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication, ServerConfig,
};
use bevy_replicon_renet::renet::ConnectionConfig;
use bevy_replicon_renet::{RenetChannelsExt, RenetClient, RenetServer, RepliconRenetPlugins};
use clap::Parser;
use netcode::sim::arena::{SIM_HZ, object_state, player_pos};
use netcode::sim::{Scene, Sim, SimConfig};
use serde::{Deserialize, Serialize};

const PLAYERS: usize = 8;
const OBJECTS: usize = 64;
const SEND_HZ: f64 = 30.0;
const WARMUP_SECS: f64 = 2.0;
const PROTOCOL_ID: u64 = 7;

/// Compares the bandwidth of the arena scene under bevy_replicon and under `netcode`.
#[derive(Parser)]
struct Args {
    /// Seconds measured on each side, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// One-way latency of every link, in milliseconds.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Print one JSON line instead of a table.
    #[arg(long)]
    json: bool,
    /// Ignored: `cargo bench` passes it to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Where an entity is (replicated).
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
struct Position([f32; 2]);

/// An object's heading (replicated).
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
struct Angle(f32);

/// What drives a server-owned entity (not replicated).
#[derive(Component, Clone, Copy)]
enum Driver {
    Player(usize),
    Object(usize),
}

/// A client's own position, sent to the server at the send rate.
#[derive(Message, Serialize, Deserialize, Clone, Copy)]
struct MoveTo([f32; 2]);

/// Visibility filter: an avatar is not replicated back to the client that moves it.
#[derive(Component, PartialEq)]
#[component(immutable)]
struct HiddenFrom(Option<Entity>);

impl VisibilityFilter for HiddenFrom {
    type ClientComponent = AuthorizedClient;
    type Scope = Entity;

    fn is_visible(&self, client: Entity, _component: Option<&AuthorizedClient>) -> bool {
        self.0 != Some(client)
    }
}

/// On the server, on a client's entity: the avatar it moves.
#[derive(Component)]
struct Avatar(Entity);

/// The scene's clock (shared by all apps) and the player this app plays.
#[derive(Resource, Clone, Copy)]
struct SceneClock {
    start: Instant,
    me: usize,
}

/// Directions of a [`Relay`] (indices of its sockets and counters).
const TO_CLIENT: usize = 0;
const TO_SERVER: usize = 1;

/// A UDP relay between one client and the server: delays every datagram by the latency and
/// counts the bytes it delivers each way. `sockets[TO_CLIENT]` is the client's "server
/// address", `sockets[TO_SERVER]` faces the server (which sees one address per client).
struct Relay {
    sockets: [UdpSocket; 2],
    peers: [Option<SocketAddr>; 2],
    delay: Duration,
    /// In flight: when due, direction, payload.
    queue: VecDeque<(Instant, usize, Vec<u8>)>,
    delivered: [u64; 2],
}

impl Relay {
    fn new(server: SocketAddr, delay: Duration) -> Relay {
        let (sockets, peers, queue) = ([bind(), bind()], [None, Some(server)], VecDeque::new());
        let delivered = [0; 2];
        Relay {
            sockets,
            peers,
            delay,
            queue,
            delivered,
        }
    }

    fn front_addr(&self) -> SocketAddr {
        self.sockets[TO_CLIENT].local_addr().expect("relay address")
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 2048];
        let due = Instant::now() + self.delay;
        while let Some((n, from)) = recv(&self.sockets[TO_CLIENT], &mut buf) {
            self.peers[TO_CLIENT] = Some(from);
            self.queue.push_back((due, TO_SERVER, buf[..n].to_vec()));
        }
        while let Some((n, _)) = recv(&self.sockets[TO_SERVER], &mut buf) {
            self.queue.push_back((due, TO_CLIENT, buf[..n].to_vec()));
        }
        let now = Instant::now();
        while let Some((_, to, bytes)) = self.queue.pop_front_if(|(at, _, _)| *at <= now) {
            if let Some(peer) = self.peers[to]
                && self.sockets[to].send_to(&bytes, peer).is_ok()
            {
                self.delivered[to] += bytes.len() as u64;
            }
        }
    }
}

/// A nonblocking socket on a free loopback port.
fn bind() -> UdpSocket {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind loopback");
    socket.set_nonblocking(true).expect("nonblocking socket");
    socket
}

fn recv(socket: &UdpSocket, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match socket.recv_from(buf) {
        Ok(got) => Some(got),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) => panic!("relay socket: {e}"),
    }
}

fn unix_now() -> Duration {
    SystemTime::UNIX_EPOCH.elapsed().expect("clock after 1970")
}

/// A headless app with replicon, the scene's protocol, and a 30 Hz fixed clock.
fn replicon_app(clock: SceneClock) -> App {
    let mut app = App::new();
    app.insert_resource(Time::<Fixed>::from_hz(SEND_HZ))
        .insert_resource(clock)
        .add_plugins((MinimalPlugins, StatesPlugin, RepliconPlugins, RepliconRenetPlugins))
        .replicate::<Position>()
        .replicate::<Angle>()
        .add_client_message::<MoveTo>(Channel::Unreliable)
        .add_visibility_filter::<HiddenFrom>();
    app
}

/// Renet channels from replicon's registrations (so after `finish`).
fn connection_config(app: &App) -> ConnectionConfig {
    let channels = app.world().resource::<RepliconChannels>();
    ConnectionConfig {
        server_channels_config: channels.server_configs(),
        client_channels_config: channels.client_configs(),
        ..Default::default()
    }
}

fn count<F: QueryFilter>(app: &mut App) -> usize {
    let world = app.world_mut();
    world.query_filtered::<(), F>().iter(world).count()
}

/// Server: moves its player and the objects along the scene's functions (idle objects
/// never change, so replicon sends them once).
fn drive_scene(clock: Res<SceneClock>, mut driven: Query<(&Driver, &mut Position, Option<&mut Angle>)>) {
    let t = clock.start.elapsed().as_secs_f64();
    for (driver, mut pos, angle) in &mut driven {
        let [x, y, a] = match *driver {
            Driver::Player(i) => [player_pos(i, t)[0], player_pos(i, t)[1], 0.0],
            Driver::Object(j) => object_state(j, t),
        };
        pos.set_if_neq(Position([x, y]));
        if let Some(mut angle) = angle {
            angle.set_if_neq(Angle(a));
        }
    }
}

/// Server: every authorized client gets an avatar that it does not see itself.
fn spawn_avatar(add: On<Add, AuthorizedClient>, mut commands: Commands) {
    let avatar = (Replicated, Position([0.0; 2]), HiddenFrom(Some(add.entity)));
    let avatar = commands.spawn(avatar).id();
    commands.entity(add.entity).insert(Avatar(avatar));
}

/// Server: applies the clients' positions to their avatars.
fn apply_moves(mut moves: MessageReader<FromClient<MoveTo>>, avatars: Query<&Avatar>, mut pos: Query<&mut Position>) {
    for m in moves.read() {
        let avatar = m.client_id.entity().and_then(|c| avatars.get(c).ok());
        if let Some(mut p) = avatar.and_then(|a| pos.get_mut(a.0).ok()) {
            p.set_if_neq(Position(m.message.0));
        }
    }
}

/// Client: sends its own position at the fixed (send) rate.
fn send_own(clock: Res<SceneClock>, mut moves: MessageWriter<MoveTo>) {
    moves.write(MoveTo(player_pos(clock.me, clock.start.elapsed().as_secs_f64())));
}

/// The server app (player 0, owner of the objects) listening on `socket` behind `relays`.
fn server_app(clock: SceneClock, socket: UdpSocket, relays: &[Relay]) -> App {
    let mut app = replicon_app(clock);
    app.add_observer(spawn_avatar)
        .add_systems(Update, (apply_moves, drive_scene));
    app.finish();
    app.cleanup();
    let config = ServerConfig {
        current_time: unix_now(),
        max_clients: PLAYERS - 1,
        protocol_id: PROTOCOL_ID,
        public_addresses: relays.iter().map(Relay::front_addr).collect(),
        authentication: ServerAuthentication::Unsecure,
    };
    let transport = NetcodeServerTransport::new(config, socket).expect("server transport");
    let renet = RenetServer::new(connection_config(&app));
    app.insert_resource(renet).insert_resource(transport);
    let world = app.world_mut();
    world.spawn((Replicated, Driver::Player(0), Position([0.0; 2]), HiddenFrom(None)));
    for j in 0..OBJECTS {
        let object = (Driver::Object(j), Position([0.0; 2]), Angle(0.0));
        world.spawn((Replicated, object, HiddenFrom(None)));
    }
    app
}

/// The app of client `clock.me`, connecting through `relay`.
fn client_app(clock: SceneClock, relay: &Relay) -> App {
    let mut app = replicon_app(clock);
    app.add_systems(FixedUpdate, send_own.run_if(in_state(ClientState::Connected)));
    app.finish();
    app.cleanup();
    let auth = ClientAuthentication::Unsecure {
        client_id: clock.me as u64,
        protocol_id: PROTOCOL_ID,
        server_addr: relay.front_addr(),
        user_data: None,
    };
    let transport = NetcodeClientTransport::new(unix_now(), auth, bind()).expect("client transport");
    let renet = RenetClient::new(connection_config(&app));
    app.insert_resource(renet).insert_resource(transport);
    app
}

/// Steps every app at the scene rate until `until`, pumping the relays in between.
fn run_until(apps: &mut [App], relays: &mut [Relay], until: Instant) {
    let frame = Duration::from_secs_f64(1.0 / SIM_HZ);
    let mut next = Instant::now();
    while Instant::now() < until {
        apps.iter_mut().for_each(App::update);
        next = (next + frame).max(Instant::now() - frame);
        while Instant::now() < next {
            relays.iter_mut().for_each(Relay::pump);
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

/// What one side measured, in bytes received per second.
struct Measured {
    /// Average over the clients (replicon) or over all peers (ours).
    per_receiver: f64,
    /// By the server (replicon) or the host (ours).
    authority: f64,
}

fn run_replicon(secs: f64, latency: Duration) -> Measured {
    let start = Instant::now();
    let socket = bind();
    let server_addr = socket.local_addr().expect("server address");
    let mut relays: Vec<Relay> = (1..PLAYERS).map(|_| Relay::new(server_addr, latency)).collect();
    let mut apps = vec![server_app(SceneClock { start, me: 0 }, socket, &relays)];
    let clients = relays.iter().enumerate();
    apps.extend(clients.map(|(k, r)| client_app(SceneClock { start, me: k + 1 }, r)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while count::<With<AuthorizedClient>>(&mut apps[0]) < PLAYERS - 1 {
        assert!(Instant::now() < deadline, "replicon clients did not connect");
        run_until(&mut apps, &mut relays, Instant::now() + Duration::from_millis(50));
    }
    let warm = Instant::now() + Duration::from_secs_f64(WARMUP_SECS);
    run_until(&mut apps, &mut relays, warm);
    let sum = |[c, s]: [u64; 2], r: &Relay| [c + r.delivered[0], s + r.delivered[1]];
    let totals = |relays: &[Relay]| relays.iter().fold([0, 0], sum);
    let tick = |server: &App| server.world().resource::<ServerTick>().get();
    let (before, tick_before, t0) = (totals(&relays), tick(&apps[0]), Instant::now());
    run_until(&mut apps, &mut relays, t0 + Duration::from_secs_f64(secs));
    let elapsed = t0.elapsed().as_secs_f64();
    let (after, ticks) = (totals(&relays), tick(&apps[0]) - tick_before);
    let rate = f64::from(ticks) / elapsed;
    assert!((rate - SEND_HZ).abs() < 0.1 * SEND_HZ, "server ticked at {rate:.1} Hz");
    for client in &mut apps[1..] {
        let held = count::<(With<Remote>, With<Position>)>(client);
        assert_eq!(held, PLAYERS - 1 + OBJECTS, "a client holds all but its own player");
    }
    Measured {
        per_receiver: (after[TO_CLIENT] - before[TO_CLIENT]) as f64 / relays.len() as f64 / elapsed,
        authority: (after[TO_SERVER] - before[TO_SERVER]) as f64 / elapsed,
    }
}

fn run_ours(secs: f64, latency: Duration) -> Measured {
    let mut sim = Sim::new(SimConfig {
        peers: PLAYERS,
        link: netcode_tests::link(latency.as_millis() as u64, 0, 0.0),
        workload: false,
        scene: Scene::Arena { objects: OBJECTS },
        ..SimConfig::default()
    });
    netcode_tests::form(&mut sim, 10.0);
    sim.run_for_secs(WARMUP_SECS);
    let received = |sim: &Sim| -> Vec<u64> {
        let sessions = (0..sim.nodes().len()).map(|i| sim.session(i));
        sessions.map(|s| s.map_or(0, |s| s.stats().bytes_received)).collect()
    };
    let before = received(&sim);
    sim.run_for_secs(secs);
    let delta: Vec<u64> = received(&sim).iter().zip(&before).map(|(a, b)| a - b).collect();
    let host = sim.index_of(netcode_tests::host(&sim)).expect("host runs");
    Measured {
        per_receiver: delta.iter().sum::<u64>() as f64 / PLAYERS as f64 / secs,
        authority: delta[host] as f64 / secs,
    }
}

/// The JSON line (fields in this order).
#[derive(Serialize)]
struct Output {
    replicon_bytes_per_client_per_s: f64,
    ours_bytes_received_per_peer_per_s: f64,
    ratio: f64,
    secs: f64,
    players: usize,
    objects: usize,
    send_rate_hz: f64,
    latency_ms: u64,
    replicon_server_bytes_received_per_s: f64,
    ours_host_bytes_received_per_s: f64,
}

fn main() {
    let args = Args::parse();
    let latency = Duration::from_millis(args.latency_ms);
    let replicon = run_replicon(args.secs, latency);
    let ours = run_ours(args.secs, latency);
    let ratio = ours.per_receiver / replicon.per_receiver;
    let out = Output {
        replicon_bytes_per_client_per_s: replicon.per_receiver.round(),
        ours_bytes_received_per_peer_per_s: ours.per_receiver.round(),
        ratio: (ratio * 1000.0).round() / 1000.0,
        secs: args.secs,
        players: PLAYERS,
        objects: OBJECTS,
        send_rate_hz: SEND_HZ,
        latency_ms: args.latency_ms,
        replicon_server_bytes_received_per_s: replicon.authority.round(),
        ours_host_bytes_received_per_s: ours.authority.round(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&out).expect("serializable"));
        return;
    }
    let (rc, oc, rs, os) = (
        replicon.per_receiver,
        ours.per_receiver,
        replicon.authority,
        ours.authority,
    );
    let (secs, latency_ms) = (args.secs, args.latency_ms);
    println!("arena: {PLAYERS} players, {OBJECTS} objects, {SEND_HZ} Hz, {latency_ms} ms latency, {secs} s");
    println!("bytes received per second               replicon       ours");
    println!("per client (replicon) / peer (ours) {rc:>12.0} {oc:>10.0}");
    println!("by the server / the host            {rs:>12.0} {os:>10.0}");
    println!("ours / replicon: {ratio:.3}");
}
