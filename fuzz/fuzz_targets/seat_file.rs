//! `netcode::transport::Seat`'s `FromStr` on arbitrary text: a saved seat file (invite,
//! peer id and rejoin secret), which may be damaged or planted.
//!
//! Checks: it never panics and stays within the allocation limits; an accepted seat prints
//! (`Display`) to text that parses to an equal seat; its `Debug` form does not show the
//! rejoin secret or the session key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::transport::Seat;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(seat) = netcode_fuzz::text(data).parse::<Seat>() else {
        return;
    };
    let again: Seat = seat.to_string().parse().expect("a printed seat parses");
    assert_eq!(again, seat, "parse(to_string(s)) != s");
    let debug = format!("{seat:?}");
    assert!(
        !debug.contains(&hex(&seat.credentials.secret)),
        "Debug shows the secret"
    );
    assert!(
        !debug.contains(&format!("{:?}", seat.credentials.secret)),
        "Debug shows the secret"
    );
    assert!(
        !debug.contains(&format!("{:?}", seat.invite.session.key)),
        "Debug shows the key"
    );
});
