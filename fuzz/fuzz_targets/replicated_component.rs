//! `netcode::bevy::wire::decode_leaves`: a replicated component from the leaf values a
//! peer's snapshot carries, with its entity references resolved to the receiver's
//! entities, as the plugin decodes every remote component. The first byte chooses the type
//! (`netcode_fuzz::game::Homing`, with every leaf kind and two references, or `Spot`, one
//! float); the rest is read as little-endian f32 values, any bit pattern (NaN, infinities,
//! fractions for integer leaves: more than the schema's quantisation lets through).
//! References resolve to entity `id` when the owner is peer 1 or the shared stream and
//! `id` is below 256; anything else is an entity not known here.
//!
//! Checks: it never panics and stays within the allocation limits; an accepted component
//! re-encodes (`encode_leaves`, naming each entity as the resolver does) to values that
//! decode to a component that encodes to the same values (bit for bit).
#![no_main]

use bevy_ecs::entity::Entity;
use libfuzzer_sys::fuzz_target;
use netcode::PeerId;
use netcode::bevy::Replicated;
use netcode::bevy::wire::{decode_leaves, encode_leaves};
use netcode_fuzz::game::{Homing, Spot};

fn resolve(owner: Option<PeerId>, id: u32) -> Option<Entity> {
    let known = owner.is_none_or(|p| p == PeerId(1)) && id < 256;
    known.then(|| Entity::from_raw_u32(id)).flatten()
}

fn identity(entity: Entity) -> (Option<PeerId>, u32) {
    (Some(PeerId(1)), entity.index_u32())
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn check<C: Replicated>(values: &[f32]) {
    let Ok(component) = decode_leaves::<C>(values, resolve) else {
        return;
    };
    let again = encode_leaves(&component, identity).expect("a decoded component encodes");
    let decoded = decode_leaves::<C>(&again, resolve).expect("a re-encoded component decodes");
    let twice = encode_leaves(&decoded, identity).expect("it encodes again");
    assert_eq!(bits(&twice), bits(&again), "encode(decode(encode(c))) != encode(c)");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let values: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if which % 2 == 0 {
        check::<Homing>(&values);
    } else {
        check::<Spot>(&values);
    }
});
