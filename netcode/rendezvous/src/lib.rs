//! # netcode-rendezvous: where the peers of a netcode session find each other
//!
//! A small UDP service anyone can run on a public server for their group. Peers talk to it
//! from their game socket (a NAT mapping belongs to one socket) with the frames of
//! [`netcode::rendezvous`]. It tells each peer the address it sees (reflexive address),
//! keeps each session's members and their candidate addresses, and when someone joins it
//! tells both sides to punch towards each other. It knows sessions only by an id derived
//! from the session key, checks every request's signature and date, and never sees game
//! traffic or keys. Memory is bounded: members expire, sessions and sources are capped,
//! and each source is rate limited.
//!
//! The core is sans-IO ([`Server::handle`]); `main.rs` puts it on a socket:
//! `cargo run --release -p netcode-rendezvous -- --listen 0.0.0.0:7777`.
//!
//! ```
//! use std::time::Duration;
//! use netcode::PeerId;
//! use netcode::rendezvous::{Frame, Request, SessionSigner};
//! use netcode_rendezvous::{Server, ServerConfig};
//!
//! let mut server = Server::new(ServerConfig::default());
//! let signer = SessionSigner::new(&[7; 32]);
//! let alice: std::net::SocketAddr = "198.51.100.4:40000".parse().unwrap();
//! let hello = signer.request(PeerId(1), 1_000, 1, Request::Register { addr: None, relay_token: 0, candidates: vec![] });
//! let out = server.handle(alice, &hello.encode().unwrap(), Duration::ZERO, 1_000);
//! assert!(matches!(Frame::decode(&out[0].1).unwrap(), Frame::Members { members, .. } if members.is_empty()));
//! assert_eq!(server.stats().sessions, 1);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod limits;
pub mod punch_test;
mod server;

pub use server::{Server, ServerConfig, ServerStats};
