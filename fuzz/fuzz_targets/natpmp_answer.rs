//! `netcode::portmap::decode_pmp` and `PortMapper::handle` on arbitrary bytes: NAT-PMP
//! answers arrive on the game socket, where anyone on the LAN can send one.
//!
//! Input: a control byte, then the datagram. Bit 0 of the control byte first feeds the
//! client a PCP "unsupported version" and a NAT-PMP external-address answer from the
//! gateway, so that it has a NAT-PMP mapping request out and the datagram meets that path;
//! bit 1 chooses whether the datagram comes from the gateway or from another machine.
//!
//! Checks: no panic, within the allocation limits; a decoded answer re-encodes to bytes
//! that decode to the same answer; the client maps by NAT-PMP only from the gateway, from
//! a successful mapping answer for its internal port, at the port that answer names; a
//! datagram from elsewhere changes nothing.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use netcode::portmap::{
    PmpAddress, PmpAnswer, PortMapConfig, PortMapper, Protocol, decode_pmp, pmp_address_answer, pmp_map_answer,
};
// Its global allocator enforces the allocation limit.
use netcode_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let gateway = Ipv4Addr::new(10, 0, 0, 1);
    let server = SocketAddr::from((gateway, 5351));
    let wan = Ipv4Addr::new(81, 2, 3, 4);
    let internal = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5000);
    let mut client = PortMapper::new(PortMapConfig::default(), Some(gateway), internal, u64::from(control));
    client.start(Duration::ZERO);
    if control & 1 == 1 {
        let address = pmp_address_answer(&PmpAddress {
            result: 0,
            epoch: 1,
            external: wan,
        });
        assert!(client.handle(server, &address, Duration::from_millis(1)));
        assert!(client.handle(server, &[0, 0x81, 0, 1, 0, 0, 0, 1], Duration::from_millis(2)));
        client.update(Duration::from_millis(2));
    }
    let decoded = decode_pmp(bytes);
    match decoded {
        Ok(PmpAnswer::Mapping(m)) => assert_eq!(decode_pmp(&pmp_map_answer(&m)), decoded),
        Ok(PmpAnswer::Address(a)) => assert_eq!(decode_pmp(&pmp_address_answer(&a)), decoded),
        Err(_) => {}
    }
    let from = if control & 2 == 0 {
        server
    } else {
        SocketAddr::from((Ipv4Addr::new(10, 0, 0, 9), 5351))
    };
    client.handle(from, bytes, Duration::from_millis(10));
    if let Some(mapping) = client.mapping()
        && mapping.protocol == Protocol::NatPmp
    {
        let Ok(PmpAnswer::Mapping(m)) = decoded else {
            panic!("mapped from bytes that are no mapping answer");
        };
        assert_eq!(from, server, "mapped from a stranger");
        assert_eq!((m.result, m.internal_port), (0, 5000));
        assert_eq!(mapping.external, SocketAddr::from((wan, m.external_port)));
    }
    if from != server {
        assert_eq!(client.mapping(), None, "changed by a stranger");
    }
});
