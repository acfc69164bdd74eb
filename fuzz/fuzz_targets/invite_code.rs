//! `netcode::invite::Invite::decode` (and its `FromStr`) on arbitrary text: what a player
//! pastes, from anyone.
//!
//! Checks: it never panics and stays within the allocation limits; `parse` and `decode`
//! agree; every error displays as `invite code is invalid: ...`; an accepted invite lists
//! 1 to `MAX_ADDRS` addresses with non-zero ports and round-trips through `encode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::invite::{Invite, MAX_ADDRS};

fuzz_target!(|data: &[u8]| {
    let text = netcode_fuzz::text(data);
    let decoded = Invite::decode(&text);
    assert_eq!(text.parse::<Invite>(), decoded, "FromStr and decode disagree");
    match decoded {
        Err(e) => assert!(e.to_string().starts_with("invite code is invalid: "), "{e}"),
        Ok(invite) => {
            assert!((1..=MAX_ADDRS).contains(&invite.addrs.len()));
            assert!(invite.addrs.iter().all(|a| a.port() != 0));
            let code = invite.encode();
            assert_eq!(Invite::decode(&code).as_ref(), Ok(&invite), "decode(encode(i)) != i");
        }
    }
});
