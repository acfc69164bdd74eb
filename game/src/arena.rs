//! The arena game's rules, engine-free: players steer their own disc (each peer is
//! authoritative for its own movement), the host spawns orbs, resolves pickups and dashes,
//! keeps the scores and runs the round clock. Everything the host decides lives in the
//! session's replicated store, so a round carries on through a host migration and a
//! rejoining player finds its score.
//!
//! Store entries (all shared, written by the host):
//! - `round`: `N,ENDS_MS` (round number, session time in ms at which it ends);
//! - `result`: `N,PEER=SCORE;...` of the last finished round (the winner banner);
//! - `orbs`: `ID,X,Y;...`;
//! - `score:PEER`: a player's points this round;
//! - `knock:PEER`: `SEQ,DX,DY`, a knockback the host asks that player to apply.

use std::collections::BTreeMap;
use std::time::Duration;

use netcode::snapshot::delta::{Schema, Snapshot};
use netcode::snapshot::interp::{InterpConfig, InterpolationBuffer};
use netcode::snapshot::quant::Quant;
use netcode::{PeerId, Scope, Session};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

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
/// Knockback speed given to a player hit by a dash.
const KNOCK_SPEED: f32 = 22.0;
/// A round's default length.
pub const ROUND: Duration = Duration::from_secs(120);
/// The pause between rounds (the winner banner).
pub const INTERMISSION: Duration = Duration::from_secs(6);
/// Orbs on the field: this many plus one per player.
const BASE_ORBS: usize = 4;
/// The scene rate: snapshot ticks per second.
pub const TICK_HZ: f64 = 60.0;
/// Least time between two hits of the same dasher on the same victim.
const HIT_COOLDOWN: Duration = Duration::from_millis(600);

/// What the game shows or prints.
#[derive(Debug, Clone, PartialEq)]
pub enum GameEvent {
    /// Someone collected an orb (host-resolved).
    Pickup { peer: PeerId },
    /// A dash hit: `by` stole a point from `victim`.
    Hit { by: PeerId, victim: PeerId },
    /// A round ended with these scores (highest first).
    RoundEnd { round: u32, scores: Vec<(PeerId, u32)> },
}

/// This frame's input for our own player.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input {
    /// Wanted direction (any length; clamped to 1).
    pub dir: [f32; 2],
    /// Dash this frame.
    pub dash: bool,
}

/// A player as this peer sees it.
#[derive(Debug, Clone, Copy)]
pub struct PlayerView {
    pub peer: PeerId,
    pub pos: [f32; 2],
    pub dashing: bool,
}

/// One peer's side of the match.
pub struct Match {
    schema: Schema,
    pos: [f32; 2],
    vel: [f32; 2],
    knock: [f32; 2],
    dash_left: f32,
    dash_ready_in: f32,
    knocks_seen: u64,
    rng: StdRng,
    tick: u32,
    remote: BTreeMap<PeerId, (u32, InterpolationBuffer<[f32; 3]>)>,
    hits: BTreeMap<(PeerId, PeerId), Duration>,
    last_result_round: Option<u32>,
    started: Option<Duration>,
    /// Length of the rounds this peer starts when it hosts.
    round_len: Duration,
}

/// The snapshot schema: a player is x, y (1/100 unit) and a dashing flag.
pub fn schema() -> Schema {
    let mut schema = Schema::default();
    let pos = Quant::new(-HALF, HALF, 0.01).expect("valid range");
    let flag = Quant::new(0.0, 1.0, 1.0).expect("valid flag");
    schema.add_kind(vec![pos, pos, flag]).expect("first kind");
    schema
}

fn parse_kv<'a>(text: &'a str) -> impl Iterator<Item = Vec<&'a str>> + 'a {
    text.split(';')
        .filter(|p| !p.is_empty())
        .map(|p| p.split(',').collect())
}

fn shared(session: &Session, key: &str) -> Option<String> {
    session
        .store()
        .get(Scope::Shared, key)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_owned)
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

impl Match {
    /// A new match side; `seed` places the player and drives the host's orb spawns.
    pub fn new(seed: u64, round_len: Duration) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let pos = [
            rng.random_range(-HALF * 0.7..HALF * 0.7),
            rng.random_range(-HALF * 0.7..HALF * 0.7),
        ];
        Match {
            schema: schema(),
            pos,
            vel: [0.0; 2],
            knock: [0.0; 2],
            dash_left: 0.0,
            dash_ready_in: 0.0,
            knocks_seen: 0,
            rng,
            tick: 0,
            remote: BTreeMap::new(),
            hits: BTreeMap::new(),
            last_result_round: None,
            started: None,
            round_len,
        }
    }

    /// Our player's position.
    pub fn position(&self) -> [f32; 2] {
        self.pos
    }

    /// Advances our side by `dt`: our movement, the host's duties, our snapshot.
    pub fn step(&mut self, session: &mut Session, input: Input, now: Duration, dt: f32) -> Vec<GameEvent> {
        let mut events = Vec::new();
        if !session.in_session() {
            return events;
        }
        self.apply_knock(session);
        self.move_self(input, dt);
        // Ticks count from our first step (session time is UNIX-based, too large for u32).
        let start = *self.started.get_or_insert(now);
        self.tick = (now.saturating_sub(start).as_secs_f64() * TICK_HZ) as u32;
        let dashing = self.dash_left > 0.0;
        if let Ok(e) = self
            .schema
            .entity(0, &[self.pos[0], self.pos[1], f32::from(u8::from(dashing))])
        {
            session.publish_own(Snapshot {
                tick: self.tick,
                entities: [(0, e)].into(),
            });
        }
        self.track_remotes(session, now);
        if session.is_host() {
            self.host_duties(session, now, &mut events);
        }
        // Every peer reports each round's end once; a result older than our arrival is not news.
        let (round, scores) = self.result(session).unwrap_or((0, Vec::new()));
        match self.last_result_round {
            None => self.last_result_round = Some(round),
            Some(seen) if round > seen => {
                self.last_result_round = Some(round);
                events.push(GameEvent::RoundEnd { round, scores });
            }
            Some(_) => {}
        }
        events
    }

    fn apply_knock(&mut self, session: &Session) {
        let key = format!("knock:{}", session.peer_id());
        let Some(text) = shared(session, &key) else { return };
        let parts: Vec<&str> = text.split(',').collect();
        let [seq, dx, dy] = parts[..] else { return };
        let (Ok(seq), Ok(dx), Ok(dy)) = (seq.parse::<u64>(), dx.parse::<f32>(), dy.parse::<f32>()) else {
            return;
        };
        if seq > self.knocks_seen && dx.is_finite() && dy.is_finite() {
            self.knocks_seen = seq;
            self.knock = [dx.clamp(-KNOCK_SPEED, KNOCK_SPEED), dy.clamp(-KNOCK_SPEED, KNOCK_SPEED)];
        }
    }

    fn move_self(&mut self, input: Input, dt: f32) {
        let [dx, dy] = input.dir;
        let len = (dx * dx + dy * dy).sqrt();
        let dir = if len > 1e-3 { [dx / len, dy / len] } else { [0.0, 0.0] };
        self.dash_ready_in = (self.dash_ready_in - dt).max(0.0);
        if input.dash && self.dash_ready_in <= 0.0 && len > 1e-3 {
            self.dash_left = DASH_TIME;
            self.dash_ready_in = DASH_COOLDOWN;
            self.vel = [dir[0] * DASH_SPEED, dir[1] * DASH_SPEED];
        }
        if self.dash_left > 0.0 {
            self.dash_left -= dt;
        } else {
            self.vel = [dir[0] * SPEED, dir[1] * SPEED];
        }
        let decay = (-KNOCK_DECAY * dt).exp();
        for i in 0..2 {
            self.pos[i] += (self.vel[i] + self.knock[i]) * dt;
            self.knock[i] *= decay;
            let limit = HALF - PLAYER_RADIUS;
            if self.pos[i].abs() > limit {
                self.pos[i] = self.pos[i].clamp(-limit, limit);
                self.knock[i] = -self.knock[i] * 0.5;
            }
        }
    }

    fn track_remotes(&mut self, session: &Session, now: Duration) {
        let members: Vec<PeerId> = session.roster().active().map(|m| m.id).collect();
        self.remote.retain(|p, _| members.contains(p));
        for peer in members.into_iter().filter(|p| *p != session.peer_id()) {
            let Some(snapshot) = session.remote_state(peer) else {
                continue;
            };
            let Some(values) = snapshot.entities.get(&0).and_then(|e| self.schema.values(e).ok()) else {
                continue;
            };
            let [x, y, d] = values[..] else { continue };
            let entry = self
                .remote
                .entry(peer)
                .or_insert_with(|| (u32::MAX, InterpolationBuffer::new(InterpConfig::default())));
            if entry.0 != snapshot.tick {
                // A tick that went back (a rejoin restarts nothing, but be safe) restarts it.
                if entry.0 != u32::MAX && snapshot.tick < entry.0 {
                    entry.1 = InterpolationBuffer::new(InterpConfig::default());
                }
                entry.0 = snapshot.tick;
                let sent = Duration::from_secs_f64(f64::from(snapshot.tick) / TICK_HZ);
                entry.1.push(sent, now, [x, y, d], false);
            }
        }
    }

    /// Every player this peer sees: ourselves exactly, the others interpolated.
    pub fn players(&self, session: &Session, now: Duration) -> Vec<PlayerView> {
        let mut out = vec![PlayerView {
            peer: session.peer_id(),
            pos: self.pos,
            dashing: self.dash_left > 0.0,
        }];
        for (peer, (_, buf)) in &self.remote {
            if let Some([x, y, d]) = buf.sample(now) {
                out.push(PlayerView {
                    peer: *peer,
                    pos: [x, y],
                    dashing: d > 0.5,
                });
            }
        }
        out
    }

    /// The latest positions the host judges by (no interpolation delay).
    fn latest(&self, session: &Session) -> Vec<PlayerView> {
        let mut out = vec![PlayerView {
            peer: session.peer_id(),
            pos: self.pos,
            dashing: self.dash_left > 0.0,
        }];
        for peer in self.remote.keys() {
            let Some(e) = session.remote_state(*peer).and_then(|s| s.entities.get(&0)) else {
                continue;
            };
            if let Ok(v) = self.schema.values(e)
                && let [x, y, d] = v[..]
            {
                out.push(PlayerView {
                    peer: *peer,
                    pos: [x, y],
                    dashing: d > 0.5,
                });
            }
        }
        out
    }

    /// The orbs on the field: `(id, position)`.
    pub fn orbs(session: &Session) -> Vec<(u32, [f32; 2])> {
        let Some(text) = shared(session, "orbs") else {
            return Vec::new();
        };
        parse_kv(&text)
            .filter_map(|p| match p[..] {
                [id, x, y] => Some((id.parse().ok()?, [x.parse().ok()?, y.parse().ok()?])),
                _ => None,
            })
            .collect()
    }

    /// The current round, when it ends (session time) and its length.
    pub fn round(session: &Session) -> Option<(u32, Duration, Duration)> {
        let text = shared(session, "round")?;
        let mut parts = text.split(',');
        let n = parts.next()?.parse().ok()?;
        let ends = Duration::from_millis(parts.next()?.parse().ok()?);
        let len = parts
            .next()
            .and_then(|l| l.parse().ok())
            .map_or(ROUND, Duration::from_millis);
        Some((n, ends, len))
    }

    /// A player's score this round.
    pub fn score(session: &Session, peer: PeerId) -> u32 {
        shared(session, &format!("score:{peer}"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The last finished round's number and scores (highest first).
    pub fn result(&self, session: &Session) -> Option<(u32, Vec<(PeerId, u32)>)> {
        let text = shared(session, "result")?;
        let (n, rest) = text.split_once(';')?;
        let scores = parse_kv(rest)
            .filter_map(|p| match p[..] {
                [peer, score] => Some((PeerId(u64::from_str_radix(peer, 16).ok()?), score.parse().ok()?)),
                _ => None,
            })
            .collect();
        Some((n.parse().ok()?, scores))
    }

    fn host_duties(&mut self, session: &mut Session, now: Duration, events: &mut Vec<GameEvent>) {
        // The round clock.
        let (round, ends, len) = match Match::round(session) {
            Some(r) => r,
            None => {
                let (len, ends) = (self.round_len, now + self.round_len);
                let entry = format!("1,{},{}", ends.as_millis(), len.as_millis());
                let _ = session.set_shared("round", Some(entry.into_bytes()));
                (1, ends, len)
            }
        };
        if now >= ends {
            let mut scores: Vec<(PeerId, u32)> = session
                .roster()
                .active()
                .map(|m| (m.id, Match::score(session, m.id)))
                .collect();
            scores.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let list: Vec<String> = scores.iter().map(|(p, s)| format!("{p},{s}")).collect();
            let _ = session.set_shared("result", Some(format!("{round};{}", list.join(";")).into_bytes()));
            for (p, _) in &scores {
                let _ = session.set_shared(&format!("score:{p}"), Some(b"0".to_vec()));
            }
            // The next round is as long as this one (`--round-secs` holds for every round).
            let next_ends = now + INTERMISSION + len;
            let _ = session.set_shared(
                "round",
                Some(format!("{},{},{}", round + 1, next_ends.as_millis(), len.as_millis()).into_bytes()),
            );
            return;
        }
        if now < ends.saturating_sub(len) {
            return; // Intermission: the next round has not started.
        }
        let players = self.latest(session);
        let mut orbs = Match::orbs(session);
        let mut changed = false;
        // Pickups.
        for p in &players {
            if let Some(i) = orbs
                .iter()
                .position(|(_, o)| dist(*o, p.pos) < PLAYER_RADIUS + ORB_RADIUS)
            {
                orbs.remove(i);
                changed = true;
                let s = Match::score(session, p.peer) + 1;
                let _ = session.set_shared(&format!("score:{}", p.peer), Some(s.to_string().into_bytes()));
                events.push(GameEvent::Pickup { peer: p.peer });
            }
        }
        // Dash hits: the dasher steals a point and knocks the victim back.
        for a in players.iter().filter(|p| p.dashing) {
            for b in players.iter().filter(|p| p.peer != a.peer && !p.dashing) {
                let d = dist(a.pos, b.pos);
                if d >= 2.0 * PLAYER_RADIUS {
                    continue;
                }
                if self
                    .hits
                    .get(&(a.peer, b.peer))
                    .is_some_and(|t| now < *t + HIT_COOLDOWN)
                {
                    continue;
                }
                self.hits.insert((a.peer, b.peer), now);
                let victim = Match::score(session, b.peer);
                if victim > 0 {
                    let _ = session.set_shared(
                        &format!("score:{}", b.peer),
                        Some((victim - 1).to_string().into_bytes()),
                    );
                    let s = Match::score(session, a.peer) + 1;
                    let _ = session.set_shared(&format!("score:{}", a.peer), Some(s.to_string().into_bytes()));
                }
                let (dx, dy) = if d > 1e-3 {
                    ((b.pos[0] - a.pos[0]) / d, (b.pos[1] - a.pos[1]) / d)
                } else {
                    (1.0, 0.0)
                };
                let key = format!("knock:{}", b.peer);
                let seq = shared(session, &key)
                    .and_then(|t| t.split(',').next().and_then(|s| s.parse::<u64>().ok()))
                    .unwrap_or(0)
                    + 1;
                let knock = format!("{seq},{:.2},{:.2}", dx * KNOCK_SPEED, dy * KNOCK_SPEED);
                let _ = session.set_shared(&key, Some(knock.into_bytes()));
                events.push(GameEvent::Hit {
                    by: a.peer,
                    victim: b.peer,
                });
            }
        }
        // Spawn orbs up to the target count.
        let target = BASE_ORBS + players.len();
        let mut next_id = orbs.iter().map(|(id, _)| id + 1).max().unwrap_or(0);
        while orbs.len() < target {
            let limit = HALF - 2.0 * ORB_RADIUS;
            let pos = [
                self.rng.random_range(-limit..limit),
                self.rng.random_range(-limit..limit),
            ];
            orbs.push((next_id, pos));
            next_id += 1;
            changed = true;
        }
        if changed {
            let list: Vec<String> = orbs.iter().map(|(id, [x, y])| format!("{id},{x:.2},{y:.2}")).collect();
            let _ = session.set_shared("orbs", Some(list.join(";").into_bytes()));
        }
    }
}
