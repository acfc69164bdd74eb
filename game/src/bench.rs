//! `game bench`: the cost of a headless peer. Starts `--players` headless bot peers of this
//! program on loopback, lets them play, and measures each process's CPU time from
//! `/proc/<pid>/stat` (Linux) over `--secs`, plus the work time per frame the peers report.
//! Prints one JSON line.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;
/// Time for the session to form before measuring.
const WARM_UP: Duration = Duration::from_secs(4);

/// CPU seconds (user + system) a process has used.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

fn spawn(program: &Path, args: &[String]) -> std::io::Result<Child> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
}

/// Runs the benchmark.
pub fn run(players: usize, secs: f64) -> Result<Value, String> {
    if !(2..=16).contains(&players) || !(1.0..=600.0).contains(&secs) {
        return Err("--players must be 2..=16 and --secs 1..=600".into());
    }
    let program = std::env::current_exe().map_err(|e| e.to_string())?;
    let base = ["--headless", "--bot", "--bind", "127.0.0.1"].map(String::from);
    let mut host = spawn(&program, &[vec!["host".into()], base.to_vec()].concat()).map_err(|e| e.to_string())?;
    let stdout = host.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().and_then(Result::ok).ok_or("the host printed nothing")?;
    let code = serde_json::from_str::<Value>(&first)
        .ok()
        .and_then(|v| v["invite"].as_str().map(str::to_owned));
    let code = code.ok_or("the host printed no invite")?;
    // Keep reading the host's output so that its pipe never fills.
    let (tx, rx) = std::sync::mpsc::channel::<f64>();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Some(ms) = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["frame_work_ms"].as_f64())
            {
                let _ = tx.send(ms);
            }
        }
    });
    let mut children = vec![host];
    for _ in 1..players {
        let args = [vec!["join".into(), code.clone()], base.to_vec()].concat();
        let mut child = spawn(&program, &args).map_err(|e| e.to_string())?;
        let out = child.stdout.take();
        std::thread::spawn(move || {
            if let Some(out) = out {
                for _ in std::io::BufRead::lines(std::io::BufReader::new(out)) {}
            }
        });
        children.push(child);
    }
    std::thread::sleep(WARM_UP);
    let before: Vec<Option<f64>> = children.iter().map(|c| cpu_secs(c.id())).collect();
    let started = Instant::now();
    while rx.try_recv().is_ok() {}
    std::thread::sleep(Duration::from_secs_f64(secs));
    let wall = started.elapsed().as_secs_f64();
    let after: Vec<Option<f64>> = children.iter().map(|c| cpu_secs(c.id())).collect();
    let work: Vec<f64> = rx.try_iter().collect();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let pct: Vec<f64> = before
        .iter()
        .zip(&after)
        .filter_map(|(b, a)| Some((a.as_ref()? - b.as_ref()?) / wall * 100.0))
        .collect();
    if pct.len() != players {
        return Err("cannot read /proc/<pid>/stat (the benchmark needs Linux)".into());
    }
    let avg = pct.iter().sum::<f64>() / pct.len() as f64;
    let max = pct.iter().copied().fold(0.0, f64::max);
    let frame_ms = work.iter().sum::<f64>() / work.len().max(1) as f64;
    Ok(json!({ "players": players, "secs": secs, "fps": 60,
               "cpu_pct_of_one_core_avg": (avg * 100.0).round() / 100.0,
               "cpu_pct_of_one_core_max": (max * 100.0).round() / 100.0,
               "host_frame_work_ms": (frame_ms * 1000.0).round() / 1000.0 }))
}
