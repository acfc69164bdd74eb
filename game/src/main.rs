//! `game`: the demo arena game on the `netcode` library, and a live view of a simulated
//! session.
//!
//! ```text
//! cargo run --release -p game -- host --name Mira          # prints the invite code
//! cargo run --release -p game -- join nc1-... --name Juno
//! cargo run --release -p game -- host --headless --bot     # no window, JSON events
//! cargo run -p game -- sim --peers 8 --loss 0.05           # the simulated-session view
//! ```

#![forbid(unsafe_code)]

mod arena;
mod bench;
mod bot;
mod extras;
mod headless;
mod hud;
mod joining;
mod menu;
mod menu_view;
mod net;
mod overlay;
mod palette;
mod panel;
mod play;
mod simulation;
mod soak;
mod view;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use clap::Parser;
use clap::builder::RangedU64ValueParser;
use netcode::sim::{LinkConditions, Sim, SimConfig};

use crate::simulation::SimState;

/// Frame at which `--screenshot` is taken when `--frames` is not given.
const DEFAULT_SCREENSHOT_FRAME: u64 = 120;
/// Frames to wait for a requested screenshot before giving up.
const SCREENSHOT_TIMEOUT_FRAMES: u64 = 300;

/// The netcode demo: an arena game friends play peer to peer; the host can quit, the game goes on.
#[derive(Parser, Debug)]
#[command(name = "game", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The menu (no subcommand): quit after N frames (for scripted runs).
    #[arg(long, value_name = "N", value_parser = parse_frames, hide = true)]
    frames: Option<u64>,
    /// The menu (no subcommand): save a PNG of the window at frame `--frames` (default
    /// 120), then quit.
    #[arg(long, value_name = "PATH", hide = true, value_parser = parse_png_path)]
    screenshot: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Host a session: prints the invite code and shows it on screen.
    Host {
        #[command(flatten)]
        net: net::NetArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Join a session with an invite code.
    Join {
        /// The invite code (`nc1-...`) the host gave you.
        code: String,
        #[command(flatten)]
        net: net::NetArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Watch a simulated session (no network): crash, restart and add peers from the keyboard.
    Sim(Args),
    /// Soak: headless bots on loopback, one killed (SIGKILL) and restarted every few
    /// seconds; checks rejoins, panics and scores; prints one JSON line.
    Soak {
        /// Players.
        #[arg(long, default_value_t = 6)]
        players: usize,
        /// Minutes to run.
        #[arg(long, default_value_t = 5.0)]
        minutes: f64,
        /// Seconds between two kills.
        #[arg(long, default_value_t = 20.0)]
        every: f64,
    },
    /// List the games announced on your network (`game host --lan`), as JSON lines.
    Lan {
        /// Seconds to listen.
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        /// UDP port of LAN announcements.
        #[arg(long, env = "NETCODE_LAN_PORT", default_value_t = netcode::lan::DEFAULT_LAN_PORT)]
        lan_port: u16,
    },
    /// Check what your network lets you do: your addresses, where STUN servers see you,
    /// how your router maps ports, and advice (asks only `--stun` servers, or the public
    /// ones with `--online`).
    Netcheck(net::NetcheckArgs),
    /// Measure the CPU cost of headless bot peers on loopback (Linux); prints one JSON line.
    Bench {
        /// Peers (this program, headless, as bots).
        #[arg(long, default_value_t = 8)]
        players: usize,
        /// Seconds measured (after a few seconds to form the session).
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
}

/// How the game runs.
#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// No window: print the session's events as JSON lines (tests, bots, always-on hosts).
    #[arg(long)]
    headless: bool,
    /// Let an AI steer your player.
    #[arg(long)]
    bot: bool,
    /// Quit after N frames (for scripted runs).
    #[arg(long, value_name = "N", value_parser = parse_frames)]
    frames: Option<u64>,
    /// Save a PNG of the window at frame `--frames` (default 120), then quit.
    #[arg(long, value_name = "PATH", hide = true, value_parser = parse_png_path)]
    screenshot: Option<PathBuf>,
}

/// Flags of `game sim`: a live view of a simulated session.
#[derive(clap::Args, Debug)]
struct Args {
    /// Peers at the start (1 to 32).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = RangedU64ValueParser::<usize>::new().range(1..=32))]
    peers: usize,
    /// Seed of every random choice: the same seed gives the same network.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// One-way latency of every link, in ms.
    #[arg(long, value_name = "MS", default_value_t = 30.0, value_parser = parse_ms)]
    latency: f64,
    /// Jitter (± around the latency), in ms.
    #[arg(long, value_name = "MS", default_value_t = 5.0, value_parser = parse_ms)]
    jitter: f64,
    /// Independent loss probability per datagram (0 to 1).
    #[arg(long, value_name = "P", default_value_t = 0.02, value_parser = parse_probability)]
    loss: f64,
    /// Quit after N frames (for scripted runs).
    #[arg(long, value_name = "N", value_parser = parse_frames)]
    frames: Option<u64>,
    /// Save a PNG of the window at frame `--frames` (default 120), then quit.
    #[arg(long, value_name = "PATH", hide = true, value_parser = parse_png_path)]
    screenshot: Option<PathBuf>,
}

/// Parses a duration in milliseconds (finite, 0 to 10 000).
fn parse_ms(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && (0.0..=10_000.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be a number of milliseconds from 0 to 10000".to_owned())
    }
}

/// Parses a frame count (at least 1).
fn parse_frames(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("must be at least 1".to_owned()),
        Err(e) => Err(format!("{e}")),
    }
}

/// Parses a probability (0 to 1).
fn parse_probability(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be a probability from 0 to 1".to_owned())
    }
}

/// Parses the path of a PNG file to write.
fn parse_png_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        Ok(path)
    } else {
        Err("must end in .png".to_owned())
    }
}

/// Scripted-run settings and the frame counter.
#[derive(Resource)]
pub(crate) struct Script {
    /// Quit after this many frames (or take the screenshot then).
    pub(crate) frames: Option<u64>,
    /// Where to save the screenshot, if one is wanted.
    pub(crate) screenshot: Option<PathBuf>,
    /// Frames run so far.
    pub(crate) frame: u64,
    /// When the first frame ran.
    pub(crate) started: Option<std::time::Instant>,
}

/// Why the window cannot open, if no display is reachable (this build draws through X11).
fn missing_display() -> Option<String> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") {
        return None;
    }
    let why = if set("WAYLAND_DISPLAY") {
        "this build draws through X11 and DISPLAY is not set (on Wayland, run it under XWayland)"
    } else {
        "a display is needed and neither DISPLAY nor WAYLAND_DISPLAY is set"
    };
    Some(format!(
        "game: {why}; run without a window with `--headless` (e.g. `game host --headless --bot`)"
    ))
}

/// Parses the flags, checks for a display, and runs the app.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let (start, net, run) = match cli.command {
        Some(Command::Sim(args)) => return run_sim(args),
        Some(Command::Soak {
            players,
            minutes,
            every,
        }) => {
            return match soak::run(players, minutes, every) {
                Ok(line) => {
                    println!("{line}");
                    if line["ok"] == true {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("game soak: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Bench { players, secs }) => {
            return match bench::run(players, secs) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("game bench: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Lan { secs, lan_port }) => {
            return match net::list_lan(secs, lan_port) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("game lan: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Netcheck(args)) => {
            return match net::netcheck(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("game netcheck: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Host { net, run }) => (net::Start::Host, net, run),
        Some(Command::Join { code, net, run }) => (net::Start::Join(code), net, run),
        None => {
            if let Some(message) = missing_display() {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
            return menu::run_menu(cli.frames, cli.screenshot);
        }
    };
    if run.headless {
        return match headless::run(&net, &start, run.bot, run.frames) {
            Ok(code) => code,
            Err(e) => {
                headless::emit_error(&e);
                ExitCode::from(2)
            }
        };
    }
    if let Some(message) = missing_display() {
        eprintln!("{message}");
        return ExitCode::FAILURE;
    }
    play::run_window(net, start, run.bot, run.frames, run.screenshot)
}

/// The simulated-session view.
fn run_sim(args: Args) -> ExitCode {
    if let Some(message) = missing_display() {
        eprintln!("{message}");
        return ExitCode::FAILURE;
    }
    let started = SystemTime::now();
    let screenshot = args.screenshot.clone();
    let app = match try_build_app(args) {
        Ok(app) => app,
        Err(why) => {
            let display = std::env::var("DISPLAY").unwrap_or_default();
            eprintln!(
                "game: cannot open a window on display {display:?} ({why}); \
                 `cargo run -p netcode --example netsim` runs the same simulation in a terminal"
            );
            return ExitCode::FAILURE;
        }
    };
    run_app(app, screenshot, started)
}

/// Runs `app`; checks that a requested screenshot was written.
pub(crate) fn run_app(mut app: App, screenshot: Option<PathBuf>, started: SystemTime) -> ExitCode {
    let exit = app.run();
    if let (AppExit::Success, Some(path)) = (&exit, screenshot) {
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= started);
        if !fresh {
            eprintln!("game: the screenshot was not saved to {}", path.display());
            return ExitCode::FAILURE;
        }
    }
    match exit {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    }
}

/// Builds the app; winit panics when the display cannot be reached, and that becomes an
/// error message here instead of a backtrace.
fn try_build_app(args: Args) -> Result<App, String> {
    catch_build(|| build_app(args))
}

/// Runs `build`, turning a panic (winit cannot reach the display) into an error message.
pub(crate) fn catch_build(build: impl FnOnce() -> App) -> Result<App, String> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let built = std::panic::catch_unwind(AssertUnwindSafe(build));
    std::panic::set_hook(default_hook);
    built.map_err(|payload| {
        let text = payload.downcast_ref::<String>().map(String::as_str);
        text.or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown error")
            .to_owned()
    })
}

/// The Bevy app for these arguments.
fn build_app(args: Args) -> App {
    let link = LinkConditions::default()
        .latency(Duration::from_secs_f64(args.latency / 1000.0))
        .jitter(Duration::from_secs_f64(args.jitter / 1000.0))
        .loss(args.loss);
    let sim = Sim::new(SimConfig::default().peers(args.peers).seed(args.seed).link(link));
    let window = Window {
        title: format!("netcode session: {} peers, seed {}", args.peers, args.seed),
        resolution: (1280, 720).into(),
        ..default()
    };
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(window),
                ..default()
            })
            .set(play::player_log()),
    )
    .insert_resource(ClearColor(Color::srgb(0.06, 0.07, 0.09)))
    .insert_resource(SimState::new(sim, args.seed))
    .insert_resource(Script {
        frames: args.frames,
        screenshot: args.screenshot,
        frame: 0,
        started: None,
    })
    .add_systems(Startup, (view::setup, panel::setup))
    .add_systems(
        Update,
        (
            simulation::handle_keys,
            simulation::advance_sim,
            view::sync_peers,
            view::draw_links,
            panel::update_panel,
            run_script,
        )
            .chain(),
    );
    app
}

/// Counts frames; takes the requested screenshot and quits when the script says so.
pub(crate) fn run_script(mut commands: Commands, mut script: ResMut<Script>, mut exit: MessageWriter<AppExit>) {
    script.frame += 1;
    let frame = script.frame;
    // Rendered frames per second since the first frame, reported when a scripted run ends.
    let started = *script.started.get_or_insert_with(std::time::Instant::now);
    let report = |frame: u64| {
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({ "event": "frames", "frames": frame, "secs": (secs * 100.0).round() / 100.0,
                                "fps": ((frame as f64 / secs.max(1e-3)) * 10.0).round() / 10.0 })
        );
    };
    match &script.screenshot {
        Some(path) => {
            let at = script.frames.unwrap_or(DEFAULT_SCREENSHOT_FRAME);
            if frame == at {
                report(frame);
                commands
                    .spawn(Screenshot::primary_window())
                    .observe(save_to_disk(path.clone()))
                    .observe(quit_after_capture);
            } else if frame > at + SCREENSHOT_TIMEOUT_FRAMES {
                error!("no screenshot captured after {SCREENSHOT_TIMEOUT_FRAMES} frames");
                exit.write(AppExit::error());
            }
        }
        None => {
            if script.frames.is_some_and(|n| frame >= n) {
                report(frame);
                exit.write(AppExit::Success);
            }
        }
    }
}

/// Quits once the screenshot has been captured (and saved by the other observer).
fn quit_after_capture(_captured: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>) {
    exit.write(AppExit::Success);
}
