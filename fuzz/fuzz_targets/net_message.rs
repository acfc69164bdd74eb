//! `netcode::bevy::wire::decode_message`: a game message's bytes, as the plugin decodes
//! what a member sent before handing it to the game as a `FromPeer<M>`. The first byte
//! chooses the type (`netcode_fuzz::game::Chat`, `Knock`, `u64`), the rest is the message.
//!
//! Checks: it never panics and stays within the allocation limits; it accepts only inputs
//! of at most `MAX_GAME_MESSAGE_BYTES`, whole (nothing left over); an accepted message
//! re-encodes (bincode, as `NetSender` encodes) to bytes that decode to a message that
//! encodes to the same bytes (bytes, not values, are compared: a float may be NaN).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::bevy::NetMessage;
use netcode::bevy::wire::decode_message;
use netcode::limits::MAX_GAME_MESSAGE_BYTES;
use netcode_fuzz::game::{Chat, Knock};

fn encode<M: NetMessage>(m: &M) -> Vec<u8> {
    bincode::serde::encode_to_vec(m, bincode::config::standard()).expect("a decoded message encodes")
}

fn check<M: NetMessage>(bytes: &[u8]) {
    let Some(message) = decode_message::<M>(bytes) else {
        return;
    };
    assert!(bytes.len() <= MAX_GAME_MESSAGE_BYTES, "accepted past the bound");
    let again = encode(&message);
    let decoded = decode_message::<M>(&again).expect("a re-encoded message decodes");
    assert_eq!(encode(&decoded), again, "encode(decode(encode(m))) != encode(m)");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => check::<Chat>(bytes),
        1 => check::<Knock>(bytes),
        _ => check::<u64>(bytes),
    }
});
