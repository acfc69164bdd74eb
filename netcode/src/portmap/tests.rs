use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use super::*;

const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const WAN: Ipv4Addr = Ipv4Addr::new(81, 2, 3, 4);
const PORT: u16 = 40_000;

fn internal() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), PORT)
}

fn server() -> SocketAddr {
    SocketAddr::from((GW, SERVER_PORT))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn mapper() -> PortMapper {
    PortMapper::new(PortMapConfig::default(), Some(GW), internal(), 7)
}

fn sent(m: &mut PortMapper) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    m.drain(&mut out);
    out
}

/// A gateway speaking PCP: the MAP answer to a request, granting `lifetime`.
fn pcp_answer(request: &[u8], lifetime: u32) -> Vec<u8> {
    assert_eq!(request.len(), PCP_MAP_BYTES);
    let nonce: Nonce = request[24..36].try_into().unwrap();
    let internal_port = u16::from_be_bytes([request[40], request[41]]);
    pcp_map_answer(&PcpMap {
        result: 0,
        lifetime,
        epoch: 1,
        nonce,
        internal_port,
        external_port: 50_000,
        external: WAN.to_ipv6_mapped(),
    })
    .to_vec()
}

#[test]
fn codec_round_trips() {
    let m = PmpMapping {
        result: 0,
        epoch: 9,
        internal_port: 1,
        external_port: 2,
        lifetime: 3,
    };
    assert_eq!(decode_pmp(&pmp_map_answer(&m)), Ok(PmpAnswer::Mapping(m)));
    let a = PmpAddress {
        result: 0,
        epoch: 9,
        external: WAN,
    };
    assert_eq!(decode_pmp(&pmp_address_answer(&a)), Ok(PmpAnswer::Address(a)));
    let p = PcpMap {
        result: 0,
        lifetime: 120,
        epoch: 5,
        nonce: [3; 12],
        internal_port: PORT,
        external_port: 50_000,
        external: WAN.to_ipv6_mapped(),
    };
    assert_eq!(decode_pcp(&pcp_map_answer(&p)), Ok(PcpAnswer::Map(p)));
    // The requests as the RFCs lay them out.
    let r = pcp_map_request(Ipv4Addr::new(10, 0, 0, 2), &[3; 12], PORT, 0, 7200);
    assert_eq!(&r[..2], &[2, 1]);
    assert_eq!(&r[8..24], &Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped().octets());
    assert_eq!(r[36], 17);
    assert_eq!(pmp_map_request(PORT, PORT, 60)[..2], [0, 1]);
    assert_eq!(pmp_address_request(), [0, 0]);
}

#[test]
fn malformed_answers_are_typed_errors() {
    assert_eq!(
        decode_pmp(&[0, 0x80, 0]),
        Err(CodecError::Short {
            what: "NAT-PMP",
            len: 3,
            need: 8
        })
    );
    assert_eq!(decode_pmp(&[1; 16]), Err(CodecError::Version { version: 1 }));
    // A request is not an answer.
    assert_eq!(
        decode_pmp(&pmp_map_request(1, 2, 3)),
        Err(CodecError::Opcode { opcode: 1 })
    );
    assert!(matches!(
        decode_pmp(&[0, 0x81, 0, 0, 0, 0, 0, 0, 0]),
        Err(CodecError::Short { need: 16, .. })
    ));
    assert_eq!(decode_pcp(&[0; 2000]), Err(CodecError::Long { len: 2000 }));
    assert_eq!(decode_pcp(&[9, 0x81, 0, 0]), Err(CodecError::Version { version: 9 }));
    let mut udp = pcp_map_answer(&PcpMap {
        result: 0,
        lifetime: 1,
        epoch: 1,
        nonce: [0; 12],
        internal_port: 1,
        external_port: 1,
        external: Ipv6Addr::UNSPECIFIED,
    });
    udp[36] = 6;
    assert_eq!(decode_pcp(&udp), Err(CodecError::Protocol { protocol: 6 }));
    assert!(matches!(decode_pcp(&udp[..30]), Err(CodecError::Short { .. })));
    // A short error answer, and a NAT-PMP server's "unsupported version".
    let mut short = [0u8; 24];
    short[..4].copy_from_slice(&[2, 0x81, 0, 8]);
    assert_eq!(decode_pcp(&short), Ok(PcpAnswer::Error { result: 8 }));
    assert_eq!(
        decode_pcp(&[0, 0x81, 0, 1, 0, 0, 0, 0]),
        Ok(PcpAnswer::NatPmpOnly { result: 1 })
    );
    // Every prefix of a good answer decodes or fails, never panics.
    let good = pcp_answer(&pcp_map_request(GW, &[1; 12], 1, 0, 1), 60);
    for n in 0..good.len() {
        let _ = decode_pcp(&good[..n]);
        let _ = decode_pmp(&good[..n]);
    }
}

#[test]
fn default_gateway_from_proc_net_route() {
    let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
    assert_eq!(parse_default_gateway(text), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(parse_default_gateway(&text[..text.rfind("eth0").unwrap()]), None);
    assert_eq!(parse_default_gateway("garbage\nx y"), None);
}

#[test]
fn pcp_mapping_granted_then_renewed_at_half_the_lease_then_deleted() {
    let mut m = mapper();
    m.start(ms(0));
    let out = sent(&mut m);
    // PCP MAP and NAT-PMP's address probe, both to the gateway only; UPnP searches there.
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(to, _)| *to == server()));
    assert_eq!(m.poll_upnp(), Some(UpnpCommand::Search { gateway: GW }));
    let pcp = out.iter().find(|(_, b)| b[0] == 2).unwrap().1.clone();
    assert!(m.handle(server(), &pcp_answer(&pcp, 120), ms(4)));
    let mapped = m.mapping().unwrap();
    assert_eq!(mapped.protocol, Protocol::Pcp);
    assert_eq!(mapped.external, SocketAddr::from((WAN, 50_000)));
    assert!(m.done());
    // The NAT-PMP answer arriving late is ignored, and nothing else happens until the renewal.
    let late = pmp_address_answer(&PmpAddress {
        result: 0,
        epoch: 1,
        external: WAN,
    });
    m.handle(server(), &late, ms(5));
    assert_eq!(m.mapping(), Some(mapped));
    assert_eq!(m.poll_timeout(), Some(ms(4) + Duration::from_secs(60)));
    m.update(Duration::from_secs(59));
    assert!(sent(&mut m).is_empty());
    // At half the lease: the same nonce, the granted port suggested.
    let renew_at = ms(4) + Duration::from_secs(60);
    m.update(renew_at);
    let renewal = sent(&mut m);
    assert_eq!(renewal.len(), 1);
    assert_eq!(&renewal[0].1[24..36], &pcp[24..36]);
    assert_eq!(u16::from_be_bytes([renewal[0].1[42], renewal[0].1[43]]), 50_000);
    assert!(m.handle(server(), &pcp_answer(&renewal[0].1, 120), renew_at + ms(3)));
    assert_eq!(m.mapping().unwrap().granted, renew_at + ms(3));
    assert_eq!(m.stats().granted, 2);
    // Deleted: a lifetime-0 MAP with the same nonce.
    m.release();
    let delete = sent(&mut m);
    assert_eq!(delete.len(), 1);
    assert_eq!(&delete[0].1[4..8], &[0, 0, 0, 0]);
    assert_eq!(&delete[0].1[24..36], &pcp[24..36]);
    assert_eq!(m.mapping(), None);
}

#[test]
fn forged_answers_change_nothing() {
    let mut m = mapper();
    m.start(ms(0));
    let pcp = sent(&mut m).into_iter().find(|(_, b)| b[0] == 2).unwrap().1;
    let good = pcp_answer(&pcp, 120);
    // From another host's port 5351, and from the gateway's other port.
    let elsewhere = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 9), SERVER_PORT));
    // (Passed on, not taken: a peer may use port 5351.)
    assert!(!m.handle(elsewhere, &good, ms(1)));
    assert!(!m.handle(SocketAddr::from((GW, 5350)), &good, ms(1)));
    // With a wrong nonce.
    let mut wrong = good.clone();
    wrong[24] ^= 1;
    assert!(m.handle(server(), &wrong, ms(2)));
    // Garbage.
    assert!(m.handle(server(), &[2, 0x81], ms(2)));
    assert_eq!(m.mapping(), None);
    assert_eq!(m.stats().ignored, 3);
    assert_eq!(m.stats().answers, 0);
    // The real answer still counts.
    m.handle(server(), &good, ms(3));
    assert_eq!(m.mapping().unwrap().protocol, Protocol::Pcp);
}

#[test]
fn natpmp_maps_when_pcp_is_unsupported() {
    let mut m = mapper();
    m.start(ms(0));
    sent(&mut m);
    let address = pmp_address_answer(&PmpAddress {
        result: 0,
        epoch: 1,
        external: WAN,
    });
    assert!(m.handle(server(), &address, ms(2)));
    // Still waiting for PCP: no NAT-PMP mapping yet.
    m.update(ms(2));
    assert!(sent(&mut m).iter().all(|(_, b)| b[0] == 2));
    assert!(m.handle(server(), &[0, 0x81, 0, 1, 0, 0, 0, 1], ms(3)));
    m.update(ms(3));
    let out = sent(&mut m);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.to_vec(), pmp_map_request(PORT, PORT, 7200).to_vec());
    let answer = pmp_map_answer(&PmpMapping {
        result: 0,
        epoch: 1,
        internal_port: PORT,
        external_port: PORT,
        lifetime: 3600,
    });
    assert!(m.handle(server(), &answer, ms(5)));
    let mapped = m.mapping().unwrap();
    assert_eq!(
        (mapped.protocol, mapped.external),
        (Protocol::NatPmp, SocketAddr::from((WAN, PORT)))
    );
    m.release();
    assert_eq!(sent(&mut m)[0].1.to_vec(), pmp_map_request(PORT, 0, 0).to_vec());
}

#[test]
fn upnp_maps_when_neither_udp_protocol_answers() {
    let mut m = mapper();
    m.start(ms(0));
    assert_eq!(m.poll_upnp(), Some(UpnpCommand::Search { gateway: GW }));
    m.handle_upnp(UpnpEvent::Found, ms(60));
    assert_eq!(m.poll_upnp(), None, "PCP and NAT-PMP are still asked");
    let mut t = ms(0);
    while let Some(next) = m.poll_timeout() {
        t = next;
        m.update(t);
    }
    assert_eq!(t, Duration::from_secs(3));
    let internal = internal();
    assert_eq!(
        m.poll_upnp(),
        Some(UpnpCommand::Map {
            internal,
            external_port: PORT,
            lease: 7200
        })
    );
    let external = SocketAddrV4::new(WAN, PORT);
    m.handle_upnp(UpnpEvent::Mapped(external), t + ms(20));
    assert_eq!(m.mapping().unwrap().protocol, Protocol::Upnp);
    // Renewed at half the lease through UPnP too, and deleted there.
    m.update(t + ms(20) + Duration::from_secs(3600));
    assert!(matches!(
        m.poll_upnp(),
        Some(UpnpCommand::Map {
            external_port: PORT,
            ..
        })
    ));
    m.release();
    assert_eq!(m.poll_upnp(), Some(UpnpCommand::Unmap { external_port: PORT }));
}

#[test]
fn silent_gateway_costs_a_few_datagrams_and_ends() {
    let mut m = mapper();
    m.start(ms(0));
    m.handle_upnp(UpnpEvent::NotFound, ms(2000));
    let mut t = ms(0);
    while let Some(next) = m.poll_timeout() {
        t = next;
        m.update(t);
    }
    // Sends at 0, 250, 750 and 1750 ms, per protocol; given up at 3 s.
    assert_eq!(m.stats().requests_sent, 8);
    assert_eq!(t, Duration::from_secs(3));
    assert!(m.done());
    assert_eq!(m.mapping(), None);
    assert_eq!(m.poll_upnp(), Some(UpnpCommand::Search { gateway: GW }));
    assert_eq!(m.poll_upnp(), None);
}

#[test]
fn no_gateway_sends_nothing() {
    let mut m = PortMapper::new(PortMapConfig::default(), None, internal(), 7);
    m.start(ms(0));
    m.update(Duration::from_secs(10));
    assert!(sent(&mut m).is_empty());
    assert_eq!(m.poll_upnp(), None);
    assert_eq!(m.poll_timeout(), None);
    assert!(m.done());
    // Datagrams from a port 5351 are passed on.
    assert!(!m.handle(server(), &[0; 16], ms(1)));
    assert_eq!(m.mapping(), None);
}

#[test]
fn a_lease_not_renewed_runs_out() {
    let mut m = mapper();
    m.start(ms(0));
    let pcp = sent(&mut m).into_iter().find(|(_, b)| b[0] == 2).unwrap().1;
    m.handle(server(), &pcp_answer(&pcp, 10), ms(1));
    let mut t = ms(1);
    while let Some(next) = m.poll_timeout() {
        t = next;
        m.update(t);
        if t > Duration::from_secs(30) {
            break;
        }
    }
    assert_eq!(m.mapping(), None);
    assert!(t <= ms(11_001) + Duration::from_secs(3), "forgotten at {t:?}");
}
