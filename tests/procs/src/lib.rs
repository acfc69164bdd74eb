//! Real peer processes driven from a test or a bench: spawn, read their JSON-line events,
//! wait for a condition, kill with SIGKILL. Shared by netcode's `loopback_bench`, the game's
//! `soak` command and the process tests in `tests/`.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// UNIX time in milliseconds (the clock of the peers' `t_ms`).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One running peer process and what it printed so far.
pub struct PeerProc {
    /// Label for messages.
    pub name: String,
    child: Child,
    rx: Receiver<Value>,
    /// Every event line so far.
    pub lines: Vec<Value>,
    /// How many lines [`PeerProc::wait_for`] has looked at.
    seen: usize,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl PeerProc {
    /// Starts `program` with `args`; its stdout is read as JSON lines.
    pub fn spawn(name: &str, program: &Path, args: &[String]) -> std::io::Result<PeerProc> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (tx, rx) = channel();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            if let Ok(mut s) = sink.lock() {
                s.push_str(&text);
            }
        });
        Ok(PeerProc {
            name: name.to_string(),
            child,
            rx,
            lines: Vec::new(),
            seen: 0,
            stderr,
        })
    }

    /// Takes what arrived.
    pub fn pump(&mut self) {
        while let Ok(v) = self.rx.try_recv() {
            self.lines.push(v);
        }
    }

    /// Waits up to `timeout` for a new line (after those already matched) that satisfies
    /// `pred`; returns it.
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            while self.seen < self.lines.len() {
                let v = &self.lines[self.seen];
                self.seen += 1;
                if pred(v) {
                    return Some(v.clone());
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The first line of `event` so far, if any (from the start).
    pub fn first(&mut self, event: &str) -> Option<Value> {
        self.pump();
        self.lines.iter().find(|v| v["event"] == event).cloned()
    }

    /// The newest `status` line.
    pub fn last_status(&mut self) -> Option<Value> {
        self.pump();
        self.lines.iter().rev().find(|v| v["event"] == "status").cloned()
    }

    /// Kills the process with SIGKILL (no goodbye) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit on its own; its exit code and stderr.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<(Option<i32>, String)> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads finish.
                std::thread::sleep(Duration::from_millis(50));
                self.pump();
                let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
                return Some((status.code(), err));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// A failure message: `what`, with this process's last lines and error output.
    pub fn failure(&mut self, what: &str) -> String {
        self.pump();
        let tail: Vec<String> = self.lines.iter().rev().take(3).map(ToString::to_string).collect();
        let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        let running = self.running();
        format!(
            "{} {what} (running: {running}; last lines: {tail:?}; stderr: {err:?})",
            self.name
        )
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for PeerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `hosting` line's invite code and peer id.
pub fn hosting(p: &mut PeerProc, timeout: Duration) -> Option<(String, String)> {
    let v = p.wait_for(timeout, |v| v["event"] == "hosting")?;
    Some((v["invite"].as_str()?.to_string(), v["peer"].as_str()?.to_string()))
}

/// The peer id from a `joined` line.
pub fn joined(p: &mut PeerProc, timeout: Duration) -> Option<(String, bool)> {
    let v = p.wait_for(timeout, |v| v["event"] == "joined")?;
    Some((v["peer"].as_str()?.to_string(), v["rejoined"].as_bool()?))
}

/// Whether a status line says: `host` hosts, `members` are active, and the state of every
/// one of `others` is fresh.
pub fn settled(v: &Value, host: Option<&str>, members: usize, others: &[String]) -> bool {
    v["event"] == "status"
        && host.is_none_or(|h| v["host"] == h)
        && v["members"].as_u64() == Some(members as u64)
        && others
            .iter()
            .all(|o| v["fresh"].as_array().is_some_and(|f| f.iter().any(|x| x == o)))
}

/// A fresh temporary directory for seat files.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netcode-{tag}-{}-{}", std::process::id(), unix_ms()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// The standard scenario: `peers` processes form a session through an invite code, the
/// host is killed with SIGKILL, the survivors must agree on a new host and keep exchanging
/// state, and the killed host is restarted from its seat file and must get its old PeerId
/// and state back.
pub struct Scenario {
    /// Peers at the start (at least 3).
    pub peers: usize,
    /// Extra arguments for every peer (the conditioner flags).
    pub extra: Vec<String>,
    /// Longest wait for any one step.
    pub step_timeout: Duration,
}

/// What a scenario run measured.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Host killed to every survivor agreeing on the new host with fresh state from all
    /// other survivors, in ms.
    pub migration_ms: u64,
    /// Restarted process started to back in the roster with its old PeerId, in ms.
    pub rejoin_ms: u64,
}

/// Runs [`Scenario`] with `program` (plus `prefix` arguments before the peer's own).
pub fn kill_host_and_rejoin(program: &Path, prefix: &[String], sc: &Scenario) -> Result<Outcome, String> {
    let dir = temp_dir("scenario");
    let t = sc.step_timeout;
    let args = |rest: &[&str], i: usize| -> Vec<String> {
        let mut a: Vec<String> = prefix.to_vec();
        a.extend(rest.iter().map(|s| s.to_string()));
        let seat = dir.join(format!("p{i}.seat"));
        let name = format!("p{i}");
        a.extend(["--bind", "127.0.0.1", "--name", &name, "--seat"].map(String::from));
        a.push(seat.display().to_string());
        a.extend(sc.extra.iter().cloned());
        a
    };
    let mut procs = vec![PeerProc::spawn("p0", program, &args(&["host"], 0)).map_err(|e| e.to_string())?];
    let (code, host_id) = hosting(&mut procs[0], t).ok_or("the host printed no invite")?;
    let mut ids = vec![host_id.clone()];
    for i in 1..sc.peers {
        let p = PeerProc::spawn(&format!("p{i}"), program, &args(&["join", &code], i)).map_err(|e| e.to_string())?;
        procs.push(p);
    }
    for p in procs.iter_mut().skip(1) {
        let (id, _) = joined(p, t).ok_or_else(|| p.failure("never joined"))?;
        ids.push(id);
    }
    for (i, p) in procs.iter_mut().enumerate() {
        let others: Vec<String> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| id.clone())
            .collect();
        p.wait_for(t, |v| settled(v, Some(&host_id), sc.peers, &others))
            .ok_or_else(|| p.failure("never saw the whole session"))?;
    }
    let old_score = procs[0]
        .last_status()
        .and_then(|v| v["scores"][&host_id].as_u64())
        .ok_or("the host reported no score")?;
    // Kill the host.
    let killed_at = unix_ms();
    procs[0].kill();
    let survivors: Vec<String> = ids[1..].to_vec();
    let mut new_hosts = Vec::new();
    let mut agreed_at = 0;
    for (k, p) in procs.iter_mut().enumerate().skip(1) {
        let others: Vec<String> = survivors.iter().filter(|id| **id != ids[k]).cloned().collect();
        let v = p
            .wait_for(t, |v| {
                v["host"].as_str().is_some_and(|h| h != host_id) && settled(v, None, sc.peers - 1, &others)
            })
            .ok_or_else(|| p.failure("never settled on a new host"))?;
        new_hosts.push(v["host"].as_str().unwrap_or_default().to_string());
        agreed_at = agreed_at.max(v["t_ms"].as_u64().unwrap_or(u64::MAX));
    }
    new_hosts.dedup();
    if new_hosts.len() != 1 {
        return Err(format!("the survivors disagree on the host: {new_hosts:?}"));
    }
    // Restart the killed host from its seat file.
    let started_at = unix_ms();
    procs[0] = PeerProc::spawn("p0", program, &args(&["host"], 0)).map_err(|e| e.to_string())?;
    let v = procs[0]
        .wait_for(t, |v| v["event"] == "joined" || v["event"] == "error")
        .ok_or_else(|| procs[0].failure("(restarted) never joined"))?;
    if v["event"] == "error" || v["rejoined"] != true || v["peer"] != host_id.as_str() {
        return Err(format!("the restarted peer did not take its seat back: {v}"));
    }
    let rejoined_at = v["t_ms"].as_u64().unwrap_or(u64::MAX);
    let others = survivors.clone();
    let v = procs[0]
        .wait_for(t, |v| settled(v, Some(&new_hosts[0]), sc.peers, &others))
        .ok_or_else(|| procs[0].failure("(restarted) never saw the session again"))?;
    let score = v["scores"][&host_id].as_u64().unwrap_or(0);
    if score < old_score {
        return Err(format!("the score went back from {old_score} to {score}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Outcome {
        migration_ms: agreed_at.saturating_sub(killed_at),
        rejoin_ms: rejoined_at.saturating_sub(started_at),
    })
}
