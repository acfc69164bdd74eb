//! The NAT lab's stranger on the lab's DHT (see `netcode::dht::testnet::Stranger`):
//!
//! - `dht-stranger peek CODE --dht-bootstrap IP:PORT...` prints what a DHT node storing the
//!   session's record sees: `{"event":"record","seq":N,"len":N,"hex":"..."}` (or
//!   `{"event":"nothing"}`).
//! - `dht-stranger replay CODE ...` puts the newest knock back, one sequence number up:
//!   `{"event":"replayed","seq":N,"stored":true}`.
//! - `dht-stranger forge CODE ...` puts a knock sealed with another session's key above the
//!   newest: `{"event":"forged","seq":N,"stored":true}`.
//!
//! It reaches only the nodes it is given.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use netcode::dht::DhtConfig;
use netcode::dht::testnet::Stranger;
use netcode::invite::Invite;
use serde_json::json;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: dht-stranger peek|replay|forge CODE --dht-bootstrap IP:PORT...");
        ExitCode::from(2)
    };
    let (Some(what), Some(code)) = (args.first(), args.get(1)) else {
        return usage();
    };
    let mut bootstrap = Vec::new();
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        match (flag.as_str(), rest.next()) {
            ("--dht-bootstrap", Some(node)) => bootstrap.push(node.clone()),
            _ => return usage(),
        }
    }
    let invite = match Invite::decode(code) {
        Ok(invite) => invite,
        Err(e) => {
            eprintln!("dht-stranger: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stranger = match Stranger::new(DhtConfig::with_bootstrap(bootstrap), &invite.session) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dht-stranger: {e}");
            return ExitCode::FAILURE;
        }
    };
    let line = match what.as_str() {
        "peek" => match stranger.record() {
            Some((seq, value)) => json!({"event": "record", "seq": seq, "len": value.len(), "hex": hex(&value)}),
            None => json!({"event": "nothing"}),
        },
        "replay" => match stranger.knock() {
            Some((seq, value)) => {
                json!({"event": "replayed", "seq": seq + 1, "stored": stranger.put_knock(seq + 1, value)})
            }
            None => json!({"event": "nothing"}),
        },
        "forge" => {
            let seq = stranger.knock().map_or(1, |(seq, _)| seq + 1);
            let value = stranger.forged_knock(([198, 51, 100, 66], 4000).into());
            json!({"event": "forged", "seq": seq, "stored": stranger.put_knock(seq, value)})
        }
        _ => return usage(),
    };
    println!("{line}");
    ExitCode::SUCCESS
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
