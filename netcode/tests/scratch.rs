use netcode::sim::*;
use std::time::Duration;
struct L;
impl log::Log for L {
    fn enabled(&self, _: &log::Metadata) -> bool { true }
    fn log(&self, r: &log::Record) { if r.target().contains("netcode") { let s = format!("{}", r.args()); if s.len() < 300 { println!("{s}"); } else { println!("{}...", &s[..300]); } } }
    fn flush(&self) {}
}
#[test]
fn scratch() {
    log::set_logger(&L).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let link = LinkConditions { loss: 0.2, jitter: Duration::from_millis(100), ..Default::default() };
    let mut sim = Sim::new(SimConfig { peers: 8, link, ..Default::default() });
    sim.run_for_secs(0.06);
    println!("node1 = {}", sim.session(1).unwrap().peer_id());
    sim.run_for_secs(4.0);
}
