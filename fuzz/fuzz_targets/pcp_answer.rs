//! `netcode::portmap::decode_pcp` and `PortMapper::handle` on arbitrary bytes: answers to
//! our PCP MAP request arrive on the game socket, where anyone on the LAN can send one.
//!
//! Input: a control byte, then the datagram. With the control byte's low bit set, the
//! datagram gets the version, opcode, nonce, protocol and internal port of the request the
//! client has out, so the client's path behind the nonce check is reached; bit 1 chooses
//! whether it comes from the gateway's port 5351 or from another machine's.
//!
//! Checks: no panic, within the allocation limits; a decoded MAP answer re-encodes to
//! bytes that decode to the same answer; the client maps only from a datagram of the
//! gateway that decodes to a successful MAP answer with its nonce, and then at the
//! address and port that answer names; a datagram from elsewhere changes nothing.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use netcode::portmap::{PCP_MAP_BYTES, PcpAnswer, PortMapConfig, PortMapper, Protocol, decode_pcp, pcp_map_answer};
// Its global allocator enforces the allocation limit.
use netcode_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let gateway = Ipv4Addr::new(10, 0, 0, 1);
    let internal = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5000);
    let mut client = PortMapper::new(PortMapConfig::default(), Some(gateway), internal, u64::from(control));
    client.start(Duration::ZERO);
    let mut out = Vec::new();
    client.drain(&mut out);
    let request = out.iter().find(|(_, b)| b.len() == PCP_MAP_BYTES).expect("a MAP request").1.clone();
    let mut bytes = rest.to_vec();
    if control & 1 == 1 && bytes.len() >= PCP_MAP_BYTES {
        bytes[0] = 2;
        bytes[1] = 0x81;
        bytes[24..36].copy_from_slice(&request[24..36]);
        bytes[36] = 17;
        bytes[40..42].copy_from_slice(&request[40..42]);
    }
    let decoded = decode_pcp(&bytes);
    if let Ok(PcpAnswer::Map(m)) = decoded {
        assert_eq!(decode_pcp(&pcp_map_answer(&m)), Ok(PcpAnswer::Map(m)), "decode(encode(a)) != a");
    }
    let from = if control & 2 == 0 {
        SocketAddr::from((gateway, 5351))
    } else {
        SocketAddr::from((Ipv4Addr::new(10, 0, 0, 9), 5351))
    };
    client.handle(from, &bytes, Duration::from_millis(10));
    match client.mapping() {
        Some(mapping) => {
            let Ok(PcpAnswer::Map(m)) = decoded else {
                panic!("mapped from bytes that are no MAP answer");
            };
            assert_eq!(from.ip(), gateway, "mapped from a stranger");
            assert_eq!(&m.nonce[..], &request[24..36], "mapped from another nonce");
            assert_eq!(m.result, 0);
            assert_eq!(mapping.protocol, Protocol::Pcp);
            assert_eq!(mapping.external.port(), m.external_port);
            assert_eq!(mapping.lifetime, Duration::from_secs(u64::from(m.lifetime)));
        }
        None => {
            let ours = from.ip() == gateway;
            let granted = matches!(decoded, Ok(PcpAnswer::Map(m))
                if ours && m.result == 0 && m.lifetime > 0 && m.nonce[..] == request[24..36] && m.internal_port == 5000);
            assert!(!granted, "a good answer was not taken");
        }
    }
});
