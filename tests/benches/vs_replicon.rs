//! Bandwidth and freshness of the arena scene ([`netcode::sim::arena`]'s motion functions on
//! both sides: 8 moving players, 64 objects of which half drift, 20 ms one-way latency, no
//! loss): `netcode` against bevy_replicon 0.44 over bevy_replicon_renet 0.20.
//!
//! * **replicon**: a headless server app (player 0, owner of the objects) and 7 headless
//!   client apps in this process, renet over the netcode transport (unsecure) on loopback
//!   UDP. The server ticks at 30 Hz (`Time<Fixed>` drives replicon's default tick schedule,
//!   `FixedPostUpdate`) and replicates `Position([f32; 2])` / `Angle(f32)` (postcard) of every
//!   object and player but a client's own, and each object's `ObjectId` (once, at spawn);
//!   clients send their position at 30 Hz as an unreliable client message. Each client
//!   reaches the server through a relay that delays datagrams by the latency and counts the
//!   bytes and datagrams it delivers.
//! * **ours**, twice, in [`netcode::sim::Sim`] (8 peers, `Scene::Arena { objects: 64 }`,
//!   simulated links, 1 ms simulator step so that send intervals are not rounded up to 5 ms):
//!   - *equal rate* (`ours_equal_rate_*`): every stream at the replicon send rate:
//!     heartbeats (own stream) on host links and side links and the shared stream all every
//!     33 ms (30.3 Hz, measured and asserted to be at least 30 Hz);
//!   - *default policy* (`ours_*` without `equal_rate`): [`SessionConfig::default`], host
//!     links at 30.3 Hz, side links and the shared stream at 10 Hz.
//!
//! Bytes: whole UDP payloads received (netcode header, MAC, tag and renet framing included;
//! IP/UDP headers not) over the window after a 2 s warm-up: `--secs` wall seconds for
//! replicon, as many simulated seconds for ours. Averages: `replicon_bytes_per_client_per_s`,
//! `ours_equal_rate_bytes_received_per_peer_per_s` and
//! `ours_default_bytes_received_per_non_host_per_s` are over the receivers of the authority's
//! state (replicon's 7 clients, our 7 peers that do not host); `ours_bytes_received_per_peer_per_s`
//! (and `ratio`) is the default policy over all 8 peers, the host included.
//!
//! Object error (`*_object_error_p99_pct`, the definition of
//! [`netcode::sim::arena::object_error_pct`] on both sides): every 100 ms of the window, on
//! every receiver, the distance between its latest copy of each moving object and the
//! object's true position at that instant, in percent of the arena width; p99 over samples.
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
use netcode::SessionConfig;
use netcode::sim::arena::{SIM_HZ, object_error_pct, object_state, p99, player_pos};
use netcode::sim::{Scene, Sim, SimConfig};
use serde::{Deserialize, Serialize};

const PLAYERS: usize = 8;
const OBJECTS: usize = 64;
const SEND_HZ: f64 = 30.0;
/// Our send interval at the replicon rate: 33 ms on a one-frame step is every 2 frames, 30 Hz.
const EQUAL_RATE_INTERVAL: Duration = Duration::from_millis(33);
/// Our simulator step in this bench: one scene frame, as a game drives its session once per
/// frame (replicon's apps are updated once per frame too); 33 ms intervals are 2 frames, 30 Hz.
const SIM_STEP: Duration = Duration::from_nanos(16_666_667);
/// Replicon: objects are sampled every this many scene frames: every frame, as in the
/// simulator, so that the samples cover every phase of the send cycle (sampled every sixth
/// frame, each side saw one phase of its 30 Hz cycle, and which one differed by side).
const OBJECT_SAMPLE_FRAMES: u64 = 1;
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

/// Which scene object an entity is (replicated once, at spawn: it never changes), so that a
/// client can compare its copy with the object's true position.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
struct ObjectId(u8);

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
    /// Datagrams delivered to the client.
    datagrams: u64,
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
            datagrams: 0,
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
                self.datagrams += u64::from(to == TO_CLIENT);
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
        .replicate::<ObjectId>()
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
        let object = (Driver::Object(j), Position([0.0; 2]), Angle(0.0), ObjectId(j as u8));
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

/// Steps every app at the scene rate until `until`, pumping the relays in between; every
/// [`OBJECT_SAMPLE_FRAMES`] frames, records the clients' object errors into `errors`.
fn run_until(apps: &mut [App], relays: &mut [Relay], until: Instant, mut errors: Option<&mut Vec<f32>>) {
    let frame = Duration::from_secs_f64(1.0 / SIM_HZ);
    let mut next = Instant::now();
    let mut frames = 0u64;
    while Instant::now() < until {
        apps.iter_mut().for_each(App::update);
        frames += 1;
        if let Some(errors) = errors.as_deref_mut()
            && frames.is_multiple_of(OBJECT_SAMPLE_FRAMES)
        {
            apps[1..].iter_mut().for_each(|client| sample_objects(client, errors));
        }
        next = (next + frame).max(Instant::now() - frame);
        while Instant::now() < next {
            relays.iter_mut().for_each(Relay::pump);
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

/// A client's object errors now: its latest copy of every moving object against the truth.
fn sample_objects(client: &mut App, errors: &mut Vec<f32>) {
    let t = client.world().resource::<SceneClock>().start.elapsed().as_secs_f64();
    let world = client.world_mut();
    let mut objects = world.query_filtered::<(&ObjectId, &Position), With<Remote>>();
    let seen = objects
        .iter(world)
        .filter_map(|(id, p)| object_error_pct(usize::from(id.0), p.0, t));
    errors.extend(seen);
}

/// What one side measured over the window.
struct Measured {
    /// Bytes received per second, averaged over the receivers of the authority's state: the
    /// clients (replicon) or the peers that do not host (ours).
    per_receiver: f64,
    /// Bytes received per second averaged over every peer, the host included (ours; the
    /// same as `per_receiver` for replicon, which has no peer-to-peer links).
    per_peer: f64,
    /// Bytes received per second by the server (replicon) or the host (ours).
    authority: f64,
    /// Datagrams received per second per client (replicon) or per peer (ours).
    datagrams: f64,
    /// Messages per second of each stream on each link (ours): own stream, shared stream.
    stream_hz: [f64; 2],
    /// 99th percentile object error, in percent of the arena width.
    object_error_p99_pct: f64,
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
        run_until(&mut apps, &mut relays, Instant::now() + Duration::from_millis(50), None);
    }
    let warm = Instant::now() + Duration::from_secs_f64(WARMUP_SECS);
    run_until(&mut apps, &mut relays, warm, None);
    let totals = |relays: &[Relay]| {
        let sum = |[c, s, d]: [u64; 3], r: &Relay| [c + r.delivered[0], s + r.delivered[1], d + r.datagrams];
        relays.iter().fold([0, 0, 0], sum)
    };
    let tick = |server: &App| server.world().resource::<ServerTick>().get();
    let (before, tick_before, t0) = (totals(&relays), tick(&apps[0]), Instant::now());
    let mut errors = Vec::new();
    run_until(
        &mut apps,
        &mut relays,
        t0 + Duration::from_secs_f64(secs),
        Some(&mut errors),
    );
    let elapsed = t0.elapsed().as_secs_f64();
    let (after, ticks) = (totals(&relays), tick(&apps[0]) - tick_before);
    let rate = f64::from(ticks) / elapsed;
    assert!((rate - SEND_HZ).abs() < 0.1 * SEND_HZ, "server ticked at {rate:.1} Hz");
    for client in &mut apps[1..] {
        let held = count::<(With<Remote>, With<Position>)>(client);
        assert_eq!(held, PLAYERS - 1 + OBJECTS, "a client holds all but its own player");
    }
    let clients = relays.len() as f64;
    let per_client = (after[TO_CLIENT] - before[TO_CLIENT]) as f64 / clients / elapsed;
    Measured {
        per_receiver: per_client,
        per_peer: per_client,
        authority: (after[TO_SERVER] - before[TO_SERVER]) as f64 / elapsed,
        datagrams: (after[2] - before[2]) as f64 / clients / elapsed,
        stream_hz: [rate; 2],
        object_error_p99_pct: p99(&errors),
    }
}

/// Every stream of ours at the replicon send rate: heartbeats on every link (the own
/// stream rides on them) and the shared stream.
fn equal_rate() -> SessionConfig {
    SessionConfig::default()
        .heartbeat_interval(EQUAL_RATE_INTERVAL)
        .side_heartbeat_interval(EQUAL_RATE_INTERVAL)
        .shared_interval(EQUAL_RATE_INTERVAL)
}

/// What every peer's session counted so far: bytes received, own and shared stream
/// messages sent.
fn counters(sim: &Sim) -> Vec<[u64; 3]> {
    let sessions = (0..sim.nodes().len()).map(|i| sim.session(i));
    let of = |s: &netcode::Session| {
        let r = s.replication_stats();
        [s.stats().bytes_received, r.own_sent, r.shared_sent]
    };
    sessions.map(|s| s.map_or([0; 3], of)).collect()
}

fn run_ours(secs: f64, latency: Duration, session: SessionConfig) -> Measured {
    let mut sim = Sim::new(
        SimConfig::default()
            .peers(PLAYERS)
            .link(netcode_tests::link(latency.as_millis() as u64, 0, 0.0))
            .session(session)
            .tick(SIM_STEP)
            .scene(Scene::Arena { objects: OBJECTS }),
    );
    netcode_tests::form(&mut sim, 10.0);
    sim.run_for_secs(WARMUP_SECS);
    let (before, datagrams) = (counters(&sim), sim.network_mut().stats().delivered);
    let samples = sim.arena.object_errors_pct.len();
    sim.run_for_secs(secs);
    let datagrams = (sim.network_mut().stats().delivered - datagrams) as f64;
    let after = counters(&sim);
    let delta = |k: usize| -> Vec<f64> { after.iter().zip(&before).map(|(a, b)| (a[k] - b[k]) as f64).collect() };
    let (received, own, shared) = (delta(0), delta(1), delta(2));
    let host = sim.index_of(netcode_tests::host(&sim)).expect("host runs");
    let non_hosts: f64 = received
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != host)
        .map(|(_, b)| b)
        .sum();
    let links = (PLAYERS - 1) as f64;
    Measured {
        per_receiver: non_hosts / links / secs,
        per_peer: received.iter().sum::<f64>() / PLAYERS as f64 / secs,
        authority: received[host] / secs,
        datagrams: datagrams / PLAYERS as f64 / secs,
        stream_hz: [
            own.iter().sum::<f64>() / (PLAYERS as f64 * links) / secs,
            shared[host] / links / secs,
        ],
        object_error_p99_pct: p99(&sim.arena.object_errors_pct[samples..]),
    }
}

/// The JSON line (fields in this order). `ours_*` without `equal_rate` is the default
/// policy; see the module doc for which receivers each average covers.
#[derive(Serialize)]
struct Output {
    /// Replicon, averaged over its 7 clients.
    replicon_bytes_per_client_per_s: f64,
    /// Ours, default policy, averaged over all 8 peers (the host included).
    ours_bytes_received_per_peer_per_s: f64,
    /// The two above: ours (default policy, all peers) / replicon.
    ratio: f64,
    /// Ours, every stream at the replicon rate, averaged over the 7 peers that do not host.
    ours_equal_rate_bytes_received_per_peer_per_s: f64,
    /// Ours at equal rates (non-hosts) / replicon (clients): the like-for-like figure.
    ratio_equal_rate: f64,
    /// Ours, default policy, averaged over the 7 peers that do not host.
    ours_default_bytes_received_per_non_host_per_s: f64,
    /// Ours, default policy (non-hosts) / replicon (clients).
    ratio_default_non_hosts: f64,
    replicon_object_error_p99_pct: f64,
    /// Default policy.
    ours_object_error_p99_pct: f64,
    ours_equal_rate_object_error_p99_pct: f64,
    secs: f64,
    players: usize,
    objects: usize,
    send_rate_hz: f64,
    latency_ms: u64,
    replicon_server_bytes_received_per_s: f64,
    ours_host_bytes_received_per_s: f64,
    ours_equal_rate_host_bytes_received_per_s: f64,
    /// Replicon's measured server tick rate (every stream goes at it).
    replicon_tick_hz: f64,
    /// Measured own-stream and shared-stream messages per second per link.
    ours_own_stream_hz: f64,
    ours_shared_stream_hz: f64,
    ours_equal_rate_own_stream_hz: f64,
    ours_equal_rate_shared_stream_hz: f64,
    /// Datagrams received per second: per client (replicon), per peer (ours, equal rate).
    replicon_datagrams_per_client_per_s: f64,
    ours_equal_rate_datagrams_per_peer_per_s: f64,
}

/// Rounds to three decimals.
fn milli(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn output(args: &Args, replicon: &Measured, ours: &Measured, equal: &Measured) -> Output {
    Output {
        replicon_bytes_per_client_per_s: replicon.per_receiver.round(),
        ours_bytes_received_per_peer_per_s: ours.per_peer.round(),
        ratio: milli(ours.per_peer / replicon.per_receiver),
        ours_equal_rate_bytes_received_per_peer_per_s: equal.per_receiver.round(),
        ratio_equal_rate: milli(equal.per_receiver / replicon.per_receiver),
        ours_default_bytes_received_per_non_host_per_s: ours.per_receiver.round(),
        ratio_default_non_hosts: milli(ours.per_receiver / replicon.per_receiver),
        replicon_object_error_p99_pct: milli(replicon.object_error_p99_pct),
        ours_object_error_p99_pct: milli(ours.object_error_p99_pct),
        ours_equal_rate_object_error_p99_pct: milli(equal.object_error_p99_pct),
        secs: args.secs,
        players: PLAYERS,
        objects: OBJECTS,
        send_rate_hz: SEND_HZ,
        latency_ms: args.latency_ms,
        replicon_server_bytes_received_per_s: replicon.authority.round(),
        ours_host_bytes_received_per_s: ours.authority.round(),
        ours_equal_rate_host_bytes_received_per_s: equal.authority.round(),
        replicon_tick_hz: milli(replicon.stream_hz[0]),
        ours_own_stream_hz: milli(ours.stream_hz[0]),
        ours_shared_stream_hz: milli(ours.stream_hz[1]),
        ours_equal_rate_own_stream_hz: milli(equal.stream_hz[0]),
        ours_equal_rate_shared_stream_hz: milli(equal.stream_hz[1]),
        replicon_datagrams_per_client_per_s: replicon.datagrams.round(),
        ours_equal_rate_datagrams_per_peer_per_s: equal.datagrams.round(),
    }
}

fn main() {
    let args = Args::parse();
    let latency = Duration::from_millis(args.latency_ms);
    let replicon = run_replicon(args.secs, latency);
    let ours = run_ours(args.secs, latency, SessionConfig::default());
    let equal = run_ours(args.secs, latency, equal_rate());
    for hz in equal.stream_hz {
        assert!(hz >= SEND_HZ, "an equal-rate stream went at {hz:.1} Hz");
    }
    let out = output(&args, &replicon, &ours, &equal);
    if args.json {
        println!("{}", serde_json::to_string(&out).expect("serializable"));
        return;
    }
    let (secs, latency_ms) = (args.secs, args.latency_ms);
    println!("arena: {PLAYERS} players, {OBJECTS} objects, {latency_ms} ms latency, {secs} s");
    println!("                                  replicon 30 Hz   ours 30 Hz   ours default");
    let row = |name: &str, f: &dyn Fn(&Measured) -> f64| {
        let [r, e, o] = [&replicon, &equal, &ours].map(f);
        println!("{name:<34}{r:>14.0} {e:>12.0} {o:>14.0}");
    };
    row("bytes/s per receiver (non-host)", &|m| m.per_receiver);
    row("bytes/s per peer (all)", &|m| m.per_peer);
    row("bytes/s by the server / host", &|m| m.authority);
    let [r, e, o] = [&replicon, &equal, &ours].map(|m| m.object_error_p99_pct);
    println!("{:<34}{r:>14.3} {e:>12.3} {o:>14.3}", "object error p99 (% of arena)");
    println!(
        "ours / replicon per receiver: {:.3} at equal rates, {:.3} default policy",
        out.ratio_equal_rate, out.ratio_default_non_hosts
    );
}
