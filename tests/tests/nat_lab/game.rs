//! The real `game` program (headless) in the lab: it plays across two NATs through the
//! rendezvous service, and it finds a game announced on its LAN and joins it.

use std::time::Duration;

use netcode_tests::lab::{GAME_PORT, Lab, Nat, STEP, service_addr};

/// This module's tests, as the harness lists them.
pub(super) const TESTS: &[(&str, fn())] = &[
    (
        "game::the_game_plays_across_two_nats_through_the_rendezvous",
        the_game_plays_across_two_nats_through_the_rendezvous,
    ),
    (
        "game::the_game_finds_a_game_on_its_lan_and_joins_it_and_beacons_stop_with_the_session",
        the_game_finds_a_game_on_its_lan_and_joins_it_and_beacons_stop_with_the_session,
    ),
];

fn the_game_plays_across_two_nats_through_the_rendezvous() {
    let mut lab = Lab::start();
    lab.home(1, Nat::PortRestricted);
    lab.home(2, Nat::PortRestricted);
    let _service = lab.start_service();
    let svc = service_addr();
    let mut host = lab.game(
        "h1",
        &[
            "host",
            "--headless",
            "--name",
            "Mira",
            "--port",
            GAME_PORT,
            "--rendezvous",
            &svc,
        ],
    );
    let hosting = host
        .wait_for(STEP, |v| v["event"] == "hosting")
        .unwrap_or_else(|| panic!("{}", host.failure("no invite")));
    let code = hosting["invite"].as_str().expect("a code").to_string();
    let mut guest = lab.game(
        "h2",
        &["join", &code, "--headless", "--name", "Juno", "--port", GAME_PORT],
    );
    let joined = guest
        .wait_for(STEP, |v| v["event"] == "joined")
        .unwrap_or_else(|| panic!("{}", guest.failure("never joined")));
    let me = joined["peer"].as_str().expect("an id").to_string();
    // The headless status line says where each link goes.
    for (p, other) in [(&mut guest, None), (&mut host, Some(me.as_str()))] {
        p.wait_for(STEP, |v| {
            v["event"] == "status"
                && v["members"] == 2
                && v["links"].as_object().is_some_and(|links| {
                    links.iter().any(|(id, l)| {
                        other.is_none_or(|o| o == id) && l["state"] == "direct" && l["path"] == "internet"
                    })
                })
        })
        .unwrap_or_else(|| panic!("{}", p.failure("no direct internet link")));
    }
}

fn the_game_finds_a_game_on_its_lan_and_joins_it_and_beacons_stop_with_the_session() {
    let mut lab = Lab::start();
    lab.lan_party();
    let mut host = lab.game("h1", &["host", "--headless", "--lan", "--name", "Mira"]);
    host.wait_for(STEP, |v| v["event"] == "hosting")
        .unwrap_or_else(|| panic!("{}", host.failure("no invite")));
    let mut list = lab.game("h2", &["lan", "--secs", "3"]);
    let found = list
        .wait_for(STEP, |v| v["event"] == "lan_game")
        .unwrap_or_else(|| panic!("{}", list.failure("heard no game")));
    assert_eq!(
        (found["name"].as_str(), found["from"].as_str()),
        (Some("Mira"), Some("10.9.0.1")),
        "{found}"
    );
    list.wait_for(STEP, |v| v["event"] == "lan_done" && v["games"] == 1)
        .unwrap_or_else(|| panic!("{}", list.failure("not one game")));
    let code = found["invite"].as_str().expect("a code");
    let mut guest = lab.game("h2", &["join", code, "--headless", "--name", "Juno"]);
    guest
        .wait_for(STEP, |v| v["event"] == "joined")
        .unwrap_or_else(|| panic!("{}", guest.failure("never joined")));
    host.kill();
    std::thread::sleep(Duration::from_millis(500));
    let mut after = lab.game("h2", &["lan", "--secs", "2.5"]);
    after
        .wait_for(STEP, |v| v["event"] == "lan_done" && v["games"] == 0)
        .unwrap_or_else(|| panic!("{}", after.failure("beacons went on after the host left")));
}
