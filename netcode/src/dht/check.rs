//! Whether the DHT answers: the DHT part of `netcheck`. A lookup of a random target
//! through the configured bootstrap nodes, on a DHT node of its own (not the game's
//! socket), and how long it took.

use std::time::Duration;

use serde::Serialize;

use super::client::{DhtConfig, probe};

/// What the DHT said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DhtReport {
    /// Whether the DHT was asked: only with a DHT chosen (online play, or
    /// `--dht-bootstrap`); nothing is sent otherwise.
    pub asked: bool,
    /// The bootstrap nodes asked through, as given.
    pub bootstrap: Vec<String>,
    /// Whether any DHT node answered the lookup.
    pub answered: bool,
    /// How many nodes close to the random target answered.
    pub nodes: usize,
    /// How long the lookup took, in ms (when it ran).
    pub lookup_ms: Option<f64>,
    /// Why the DHT node did not start (a bootstrap name that does not resolve, ...).
    pub error: Option<String>,
}

impl DhtReport {
    /// The report when no DHT was chosen.
    pub fn not_asked() -> Self {
        DhtReport {
            asked: false,
            bootstrap: Vec::new(),
            answered: false,
            nodes: 0,
            lookup_ms: None,
            error: None,
        }
    }

    /// Whether the DHT was asked and nothing answered.
    pub fn silent(&self) -> bool {
        self.asked && !self.answered
    }
}

/// Asks the DHT of `config` (blocks for the lookup: about one request timeout when nobody
/// answers).
pub(crate) fn check(config: &DhtConfig) -> DhtReport {
    let ms = |d: Duration| (d.as_secs_f64() * 100_000.0).round() / 100.0;
    let mut report = DhtReport {
        asked: true,
        bootstrap: config.bootstrap.clone(),
        ..DhtReport::not_asked()
    };
    match probe(config) {
        Ok((nodes, took)) => {
            report.answered = nodes > 0;
            report.nodes = nodes;
            report.lookup_ms = Some(ms(took));
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report
}
