//! The arena game's rules, as a Bevy plugin on `netcode`'s: players steer their own disc
//! (each peer is authoritative for its own movement: a replicated [`Player`] it owns),
//! the host spawns the [`Orb`]s (shared entities), resolves pickups and dashes, keeps
//! the scores and runs the round clock in the replicated store, so a round carries on
//! through a host migration and a rejoining player finds its score.
//!
//! Store entries (shared, written by the host): [`ROUND_KEY`] ([`Round`]),
//! [`RESULT_KEY`] ([`RoundResult`], the winner banner) and `score:PEER` (`u32`, a player's
//! points this round): state, which a migration hands over and a rejoin restores.
//!
//! Game messages (events, sent by the host as they happen): a [`Knock`] to the player a
//! dash hit, which applies it to its own disc, and a [`Verdict`] (a pickup, a hit) to
//! every other player, which reports it as a [`GameEvent`] as the host does.

use std::collections::BTreeMap;
use std::time::Duration;

use bevy::prelude::*;
use netcode::bevy::{
    FromPeer, MAX_ENTITY_ID, NetError, NetMessageAppExt, NetOwned, NetRemote, NetSender, NetShared, NetStore,
    NetStoreRead, Newest, ReplicateAppExt, in_session, is_host,
};
use netcode::snapshot::quant::Quant;
use netcode::{Channel, PeerId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// Half the arena's side, in world units.
pub const HALF: f32 = 20.0;
/// Player radius.
pub const PLAYER_RADIUS: f32 = 0.8;
/// Orb radius.
pub const ORB_RADIUS: f32 = 0.4;
/// Top speed, units per second.
const SPEED: f32 = 9.0;
/// Dash speed and how long a dash lasts.
const DASH_SPEED: f32 = 26.0;
const DASH_TIME: f32 = 0.18;
/// Least time between two dashes of one player.
const DASH_COOLDOWN: f32 = 1.2;
/// How fast a knockback decays (per second, exponential).
const KNOCK_DECAY: f32 = 6.0;
/// What part of a knockback a wall sends back.
const WALL_BOUNCE: f32 = 0.5;
/// Knockback speed given to a player hit by a dash.
const KNOCK_SPEED: f32 = 22.0;
/// Longest frame step the movement takes (a stalled frame does not teleport).
const MAX_STEP: f32 = 0.1;
/// A round's default length.
pub const ROUND: Duration = Duration::from_secs(120);
/// The pause between rounds (the winner banner).
pub const INTERMISSION: Duration = Duration::from_secs(6);
/// Orbs on the field: this many plus one per player.
const BASE_ORBS: usize = 4;
/// Least time between two hits of the same dasher on the same victim.
const HIT_COOLDOWN: Duration = Duration::from_millis(600);
/// Resolution of replicated positions, in world units.
const POSITION_STEP: f32 = 0.01;
/// Our player's id in our own stream.
const PLAYER_ID: u32 = 0;

/// Store key of the round clock.
pub const ROUND_KEY: &str = "round";
/// Store key of the last finished round.
pub const RESULT_KEY: &str = "result";

/// A player's disc: replicated in its owner's stream.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Player {
    /// Position.
    pub x: f32,
    /// Position.
    pub y: f32,
    /// Dashing now.
    pub dashing: bool,
}

impl Player {
    /// Position as an array.
    pub fn pos(&self) -> [f32; 2] {
        [self.x, self.y]
    }
}

/// An orb: a shared entity the host spawns and removes.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Orb {
    /// Position.
    pub x: f32,
    /// Position.
    pub y: f32,
}

/// The round clock (session time in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// Round number, from 1.
    pub n: u32,
    /// When it ends.
    pub ends_ms: u64,
    /// Its length.
    pub len_ms: u64,
}

impl Round {
    /// Whether the round is on at `now` (not in the intermission before it).
    pub fn running(&self, now: Duration) -> bool {
        let ms = now.as_millis() as u64;
        ms < self.ends_ms && ms + self.len_ms >= self.ends_ms
    }
}

/// The last finished round: its number and scores, highest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundResult {
    /// Its number.
    pub round: u32,
    /// Scores, highest first.
    pub scores: Vec<(PeerId, u32)>,
}

/// A knockback the host tells the player a dash hit to apply (a game message, reliable).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Knock {
    /// Velocity to add.
    pub dx: f32,
    /// Velocity to add.
    pub dy: f32,
}

/// Store key of a player's score.
pub fn score_key(peer: PeerId) -> String {
    format!("{SCORE_PREFIX}{peer}")
}

/// What the host judged, told to every other player as it happens (a game message,
/// reliable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// `peer` collected an orb.
    Pickup {
        /// The collector.
        peer: PeerId,
    },
    /// A dash hit: `by` stole a point from `victim`.
    Hit {
        /// The dasher.
        by: PeerId,
        /// The player hit.
        victim: PeerId,
    },
}

/// The prefix of the score entries' keys (declared with `register_store`, so part of the
/// schema checked at join).
const SCORE_PREFIX: &str = "score:";

/// A player's score this round, from its store entry (`store.shared(&score_key(peer))`):
/// 0 until the host writes one.
pub fn points(entry: Result<Option<u32>, NetError>) -> u32 {
    read(entry).unwrap_or(0)
}

/// A store entry's value; one that does not decode (a peer of another version) is
/// logged once and read as absent.
pub fn read<T>(entry: Result<Option<T>, NetError>) -> Option<T> {
    entry.unwrap_or_else(|e| {
        warn_once!("arena: {e}");
        None
    })
}

/// What the game shows or plays.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum GameEvent {
    /// Someone collected an orb (on every peer: the host tells the others).
    Pickup { peer: PeerId },
    /// A dash hit: `by` stole a point from `victim` (on every peer, as a pickup).
    Hit { by: PeerId, victim: PeerId },
    /// A round ended with these scores (highest first), on every peer.
    RoundEnd { round: u32, scores: Vec<(PeerId, u32)> },
}

/// This frame's input for our own player (set in [`ArenaSet::Input`]).
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct PlayerInput {
    /// Wanted direction (any length; clamped to 1).
    pub dir: [f32; 2],
    /// Dash this frame.
    pub dash: bool,
}

/// Our player's movement state (not replicated).
#[derive(Component, Debug, Default)]
struct Motion {
    vel: [f32; 2],
    knock: [f32; 2],
    dash_left: f32,
    dash_ready_in: f32,
}

/// The rules this peer applies when it hosts.
#[derive(Resource, Debug, Clone)]
pub struct ArenaRules {
    /// Length of the rounds this peer starts.
    pub round_len: Duration,
}

/// What only this peer keeps.
#[derive(Resource)]
struct Local {
    rng: StdRng,
    hits: BTreeMap<(PeerId, PeerId), Duration>,
    last_result_round: Option<u32>,
    /// The next shared id for an orb (ids are not reused, so no receiver sees an orb
    /// slide from a taken one's place).
    next_orb: u32,
}

/// Order of the game's systems in `Update`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArenaSet {
    /// Fill [`PlayerInput`].
    Input,
    /// Move, judge, score.
    Play,
}

/// The rules, on `netcode`'s plugin (add `NetcodePlugin` first).
pub struct ArenaPlugin {
    /// Length of the rounds this peer starts when it hosts.
    pub round_len: Duration,
}

impl Plugin for ArenaPlugin {
    fn build(&self, app: &mut App) {
        let pos = Quant::new(-HALF, HALF, POSITION_STEP).expect("valid range");
        app.replicate_with::<Player>(&[("x", pos), ("y", pos)])
            .replicate_with::<Orb>(&[("x", pos), ("y", pos)])
            .add_net_message::<Knock>(Channel::ReliableOrdered)
            .add_net_message::<Verdict>(Channel::ReliableOrdered)
            .register_store::<Round>(ROUND_KEY)
            .register_store::<RoundResult>(RESULT_KEY)
            .register_store::<u32>(SCORE_PREFIX)
            .init_resource::<Told>()
            .insert_resource(ArenaRules {
                round_len: self.round_len,
            })
            .init_resource::<PlayerInput>()
            .add_message::<GameEvent>()
            .configure_sets(Update, ArenaSet::Input.before(ArenaSet::Play))
            .add_systems(
                Update,
                (
                    spawn_self,
                    (apply_knock, hear_verdicts),
                    move_self,
                    round_clock.run_if(is_host),
                    judge.run_if(is_host),
                    tell.run_if(is_host),
                    round_results,
                )
                    .chain()
                    .in_set(ArenaSet::Play)
                    .run_if(in_session),
            );
    }
}

/// Spawns our player once we are in (at a place drawn from our id).
fn spawn_self(mut commands: Commands, store: NetStoreRead, own: Query<(), (With<Player>, With<NetOwned>)>) {
    let Some(me) = store.me() else { return };
    if !own.is_empty() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(me.0);
    let mut at = || rng.random_range(-HALF * 0.7..HALF * 0.7);
    let (x, y) = (at(), at());
    commands.spawn((
        Player { x, y, dashing: false },
        Motion::default(),
        NetOwned { id: PLAYER_ID },
    ));
    commands.insert_resource(Local {
        rng: StdRng::seed_from_u64(me.0 ^ u64::from(u32::MAX)),
        hits: BTreeMap::new(),
        last_result_round: None,
        next_orb: 0,
    });
}

/// The host of the moment, as this peer follows it.
fn host_now(net: &Option<Res<netcode::bevy::NetPeer>>) -> Option<PeerId> {
    net.as_ref().and_then(|n| n.session().current_host())
}

/// Applies a knockback the host sent us (from anyone else, ignored: only the host
/// judges hits).
fn apply_knock(
    net: Option<Res<netcode::bevy::NetPeer>>,
    mut knocks: MessageReader<FromPeer<Knock>>,
    mut own: Query<&mut Motion, With<NetOwned>>,
) {
    let host = host_now(&net);
    for FromPeer { from, message: knock } in knocks.read() {
        if Some(*from) != host || !knock.dx.is_finite() || !knock.dy.is_finite() {
            debug!("arena: a knockback from {from}, who does not host, ignored");
            continue;
        }
        if let Ok(mut motion) = own.single_mut() {
            motion.knock = [
                knock.dx.clamp(-KNOCK_SPEED, KNOCK_SPEED),
                knock.dy.clamp(-KNOCK_SPEED, KNOCK_SPEED),
            ];
        }
    }
}

/// Reports what the host judged (its own verdicts it reports itself, in [`judge`]).
fn hear_verdicts(
    net: Option<Res<netcode::bevy::NetPeer>>,
    mut verdicts: MessageReader<FromPeer<Verdict>>,
    mut events: MessageWriter<GameEvent>,
) {
    let host = host_now(&net);
    for FromPeer { from, message } in verdicts.read() {
        if Some(*from) != host {
            debug!("arena: a verdict from {from}, who does not host, ignored");
            continue;
        }
        events.write(match *message {
            Verdict::Pickup { peer } => GameEvent::Pickup { peer },
            Verdict::Hit { by, victim } => GameEvent::Hit { by, victim },
        });
    }
}

/// What the host's judgement tells the players this frame (sent by [`tell`]: a system
/// cannot hold the store and a sender at once).
#[derive(Resource, Default)]
struct Told {
    knocks: Vec<(PeerId, Knock)>,
    verdicts: Vec<Verdict>,
}

/// Sends the knockbacks to the players hit and the verdicts to everyone.
fn tell(mut told: ResMut<Told>, mut net: NetSender) {
    for (victim, knock) in told.knocks.drain(..) {
        if let Err(e) = net.to_peer(victim, &knock) {
            debug!("arena: knockback for {victim} not sent: {e}");
        }
    }
    for verdict in told.verdicts.drain(..) {
        if let Err(e) = net.to_all(&verdict) {
            debug!("arena: verdict not sent: {e}");
        }
    }
}

/// Moves our player by this frame's input.
fn move_self(time: Res<Time>, input: Res<PlayerInput>, mut own: Query<(&mut Player, &mut Motion), With<NetOwned>>) {
    let Ok((mut player, mut m)) = own.single_mut() else {
        return;
    };
    let dt = time.delta_secs().min(MAX_STEP);
    let [dx, dy] = input.dir;
    let len = (dx * dx + dy * dy).sqrt();
    let dir = if len > 1e-3 { [dx / len, dy / len] } else { [0.0, 0.0] };
    m.dash_ready_in = (m.dash_ready_in - dt).max(0.0);
    if input.dash && m.dash_ready_in <= 0.0 && len > 1e-3 {
        m.dash_left = DASH_TIME;
        m.dash_ready_in = DASH_COOLDOWN;
        m.vel = [dir[0] * DASH_SPEED, dir[1] * DASH_SPEED];
    }
    if m.dash_left > 0.0 {
        m.dash_left -= dt;
    } else {
        m.vel = [dir[0] * SPEED, dir[1] * SPEED];
    }
    let decay = (-KNOCK_DECAY * dt).exp();
    let mut pos = player.pos();
    let vel = m.vel;
    for ((p, v), k) in pos.iter_mut().zip(vel).zip(m.knock.iter_mut()) {
        *p += (v + *k) * dt;
        *k *= decay;
        let limit = HALF - PLAYER_RADIUS;
        if p.abs() > limit {
            *p = p.clamp(-limit, limit);
            *k = -*k * WALL_BOUNCE;
        }
    }
    *player = Player {
        x: pos[0],
        y: pos[1],
        dashing: m.dash_left > 0.0,
    };
}

/// Logs a store write the host could not make (the role may have just moved).
fn written(result: Result<(), netcode::bevy::NetError>) {
    if let Err(e) = result {
        debug!("arena: {e}");
    }
}

/// The host starts the first round, ends each round (result, scores reset) and starts
/// the next after the intermission.
fn round_clock(mut store: NetStore, rules: Res<ArenaRules>) {
    let Some(now) = store.now() else { return };
    let ms = now.as_millis() as u64;
    let Some(round) = read(store.shared::<Round>(ROUND_KEY)) else {
        let len_ms = rules.round_len.as_millis() as u64;
        written(store.set_shared(
            ROUND_KEY,
            &Round {
                n: 1,
                ends_ms: ms + len_ms,
                len_ms,
            },
        ));
        return;
    };
    if ms < round.ends_ms {
        return;
    }
    let members: Vec<PeerId> = store
        .session()
        .map(|s| s.roster().active().map(|m| m.id).collect())
        .unwrap_or_default();
    let mut scores: Vec<(PeerId, u32)> = members
        .into_iter()
        .map(|p| (p, points(store.shared(&score_key(p)))))
        .collect();
    scores.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    written(store.set_shared(
        RESULT_KEY,
        &RoundResult {
            round: round.n,
            scores: scores.clone(),
        },
    ));
    for (p, _) in &scores {
        written(store.set_shared(&score_key(*p), &0u32));
    }
    // The next round is as long as this one (`--round-secs` holds for every round).
    let next = Round {
        n: round.n + 1,
        ends_ms: ms + INTERMISSION.as_millis() as u64 + round.len_ms,
        len_ms: round.len_ms,
    };
    written(store.set_shared(ROUND_KEY, &next));
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Every active player as the host judges them: our own exactly, the others by the
/// newest state received (no interpolation delay).
type Judged<'a> = (&'a Player, Option<&'a NetRemote>, Option<&'a Newest<Player>>);
/// The players in play: ours and the remote ones.
type InPlay = Or<(With<NetOwned>, With<NetRemote>)>;

/// The host's judgement, on the newest states received: pickups, dash hits, new orbs.
/// Members whose seat is held are out of play.
fn judge(
    mut commands: Commands,
    mut store: NetStore,
    local: Option<ResMut<Local>>,
    mut told: ResMut<Told>,
    players: Query<Judged, InPlay>,
    orbs: Query<(Entity, &NetShared, &Orb)>,
    mut events: MessageWriter<GameEvent>,
) {
    let (Some(now), Some(me), Some(mut local)) = (store.now(), store.me(), local) else {
        return;
    };
    if !read(store.shared::<Round>(ROUND_KEY)).is_some_and(|r| r.running(now)) {
        return; // Intermission: nobody scores.
    }
    let active: Vec<PeerId> = store
        .session()
        .map(|s| s.roster().active().map(|m| m.id).collect())
        .unwrap_or_default();
    let players: Vec<(PeerId, Player)> = players
        .iter()
        .filter_map(|(own, remote, newest)| match remote {
            None => Some((me, *own)),
            Some(r) => Some((r.owner?, newest.map_or(*own, |n| n.0))),
        })
        .filter(|(p, _)| active.contains(p))
        .collect();
    let mut field: Vec<(Entity, u32, [f32; 2])> = orbs.iter().map(|(e, s, o)| (e, s.id, [o.x, o.y])).collect();
    for (peer, p) in &players {
        if let Some(i) = field
            .iter()
            .position(|(.., o)| dist(*o, p.pos()) < PLAYER_RADIUS + ORB_RADIUS)
        {
            let (entity, ..) = field.remove(i);
            commands.entity(entity).despawn();
            let points = points(store.shared(&score_key(*peer)));
            written(store.set_shared(&score_key(*peer), &(points + 1)));
            events.write(GameEvent::Pickup { peer: *peer });
            told.verdicts.push(Verdict::Pickup { peer: *peer });
        }
    }
    for (a, pa) in players.iter().filter(|(_, p)| p.dashing) {
        for (b, pb) in players.iter().filter(|(b, p)| b != a && !p.dashing) {
            let d = dist(pa.pos(), pb.pos());
            if d >= 2.0 * PLAYER_RADIUS || local.hits.get(&(*a, *b)).is_some_and(|t| now < *t + HIT_COOLDOWN) {
                continue;
            }
            local.hits.insert((*a, *b), now);
            let dir = if d > 1e-3 {
                [(pb.x - pa.x) / d, (pb.y - pa.y) / d]
            } else {
                [1.0, 0.0]
            };
            hit(&mut store, *a, *b);
            told.knocks.push((
                *b,
                Knock {
                    dx: dir[0] * KNOCK_SPEED,
                    dy: dir[1] * KNOCK_SPEED,
                },
            ));
            events.write(GameEvent::Hit { by: *a, victim: *b });
            told.verdicts.push(Verdict::Hit { by: *a, victim: *b });
        }
    }
    let on_field = orbs.iter().map(|(_, s, _)| s.id + 1).max().unwrap_or(0);
    local.next_orb = local.next_orb.max(on_field);
    for _ in field.len()..BASE_ORBS + players.len() {
        let limit = HALF - 2.0 * ORB_RADIUS;
        let (x, y) = (
            local.rng.random_range(-limit..limit),
            local.rng.random_range(-limit..limit),
        );
        commands.spawn((Orb { x, y }, NetShared { id: local.next_orb }));
        local.next_orb = (local.next_orb + 1) % MAX_ENTITY_ID;
    }
}

/// A dash hit: the dasher steals a point (the victim's knockback is a message, see
/// [`tell`]).
fn hit(store: &mut NetStore, by: PeerId, victim: PeerId) {
    let victim_points = points(store.shared(&score_key(victim)));
    if victim_points > 0 {
        written(store.set_shared(&score_key(victim), &(victim_points - 1)));
        let by_points = points(store.shared(&score_key(by)));
        written(store.set_shared(&score_key(by), &(by_points + 1)));
    }
}

/// Every peer reports each round's end once; a result older than our arrival is not news.
fn round_results(store: NetStoreRead, local: Option<ResMut<Local>>, mut events: MessageWriter<GameEvent>) {
    let Some(mut local) = local else { return };
    let result = read(store.shared::<RoundResult>(RESULT_KEY));
    let round = result.as_ref().map_or(0, |r| r.round);
    match local.last_result_round {
        None => local.last_result_round = Some(round),
        Some(seen) if round > seen => {
            local.last_result_round = Some(round);
            if let Some(r) = result {
                events.write(GameEvent::RoundEnd {
                    round: r.round,
                    scores: r.scores,
                });
            }
        }
        Some(_) => {}
    }
}

#[cfg(test)]
#[path = "arena_tests.rs"]
mod tests;
