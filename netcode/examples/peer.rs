//! A headless peer on the real network: hosts or joins a session with an invite code and
//! prints its events as JSON lines.
//!
//! ```text
//! cargo run -p netcode --example peer -- host --name Mira
//! cargo run -p netcode --example peer -- join nc1-... --name Juno --seat juno.seat
//! ```
//!
//! Try a bad network with `--sim-latency 100 --sim-jitter 20 --sim-loss 0.1`. Kill it with
//! `kill -9` and start it again with the same `--seat` file: it takes its old seat back.
//! `RUST_LOG=netcode=debug` prints the library's log on stderr.

use clap::Parser;

#[path = "support/peer_main.rs"]
mod peer_main;
#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() {
    stderr_log::init();
    let cli = peer_main::PeerCli::parse();
    if let Err(e) = peer_main::run(cli) {
        eprintln!("peer: {e}");
        println!("{}", serde_json::json!({ "event": "error", "message": e }));
        std::process::exit(2);
    }
}
