//! A private Mainline DHT for the NAT lab: `--nodes N` nodes (default 24), one on each
//! address from `--first IP` up (the lab adds them to its internet's bridge), each on a
//! port the system picks. Prints one JSON line,
//! `{"event":"dht_testnet","bootstrap":["IP:PORT",...]}`, then serves until killed.
//! It knows no other node: nothing leaves the addresses it is given.
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::time::Duration;

use netcode::dht::testnet::DhtTestnet;

/// The nodes' own request timeout (they seldom ask anything: clients ask them).
const NODE_TIMEOUT: Duration = Duration::from_millis(500);

fn main() -> std::process::ExitCode {
    let mut first = Ipv4Addr::new(198, 51, 100, 100);
    let mut nodes: u32 = 24;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let ok = match flag.as_str() {
            "--first" => value.parse().map(|v| first = v).is_ok(),
            "--nodes" => value.parse().map(|v| nodes = v).is_ok(),
            _ => false,
        };
        if !ok {
            eprintln!("usage: dht-testnet [--first IP] [--nodes N] (bad {flag} {value:?})");
            return std::process::ExitCode::from(2);
        }
    }
    let addrs: Vec<Ipv4Addr> = (0..nodes).map(|i| Ipv4Addr::from(u32::from(first) + i)).collect();
    let net = match DhtTestnet::start_on(&addrs, NODE_TIMEOUT) {
        Ok(net) => net,
        Err(e) => {
            eprintln!("dht-testnet: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "{}",
        serde_json::json!({"event": "dht_testnet", "bootstrap": net.bootstrap()})
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
