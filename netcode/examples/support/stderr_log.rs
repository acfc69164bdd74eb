//! A small logger for the example programs: `RUST_LOG` (`LEVEL` or `TARGET=LEVEL,...`)
//! chooses what goes to stderr; without it, nothing.

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLog {
    rules: Vec<(String, LevelFilter)>,
    started: std::time::Instant,
}

impl Log for StderrLog {
    fn enabled(&self, m: &Metadata) -> bool {
        self.rules
            .iter()
            .filter(|(target, _)| m.target().starts_with(target.as_str()))
            .max_by_key(|(target, _)| target.len())
            .is_some_and(|(_, level)| m.level() <= *level)
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let ms = self.started.elapsed().as_millis();
            eprintln!("[{ms:>6} ms {} {}] {}", r.level(), r.target(), r.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger when `RUST_LOG` is set.
pub fn init() {
    let Ok(spec) = std::env::var("RUST_LOG") else { return };
    let rules: Vec<(String, LevelFilter)> = spec
        .split(',')
        .filter_map(|part| match part.split_once('=') {
            Some((target, level)) => Some((target.trim().to_string(), level.trim().parse().ok()?)),
            None => Some((String::new(), part.trim().parse().ok()?)),
        })
        .collect();
    let max = rules.iter().map(|(_, l)| *l).max().unwrap_or(LevelFilter::Off);
    if log::set_boxed_logger(Box::new(StderrLog {
        rules,
        started: std::time::Instant::now(),
    }))
    .is_ok()
    {
        log::set_max_level(max);
    }
}
