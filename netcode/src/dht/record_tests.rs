use std::net::SocketAddr;

use super::*;
use crate::key::SessionKey;
use crate::protocol::{Candidate, MAX_ANNOUNCED};
use crate::stun::NatMapping;

const NOW: u64 = 1_800_000_000_000;

pub(crate) fn keys(byte: u8) -> DhtKeys {
    DhtKeys::derive(&SessionKey {
        id: u64::from(byte),
        key: [byte; 32],
    })
}

fn cand(addr: SocketAddr, kind: CandidateKind) -> Candidate {
    Candidate { addr, kind }
}

/// `MAX_ANNOUNCED` IPv6 candidates (the largest encoding): 4 local, 2 reflexive, 2 mapped.
fn full_candidates(member: u16) -> Candidates {
    let kinds = [
        CandidateKind::Local,
        CandidateKind::Reflexive,
        CandidateKind::Local,
        CandidateKind::Mapped,
        CandidateKind::Local,
        CandidateKind::Reflexive,
        CandidateKind::Local,
        CandidateKind::Mapped,
    ];
    Candidates {
        addrs: (0..MAX_ANNOUNCED)
            .map(|i| {
                let addr = format!("[2001:db8:{member:x}::{i:x}]:{}", 40000 + i);
                cand(addr.parse().unwrap(), kinds[i])
            })
            .collect(),
        mapping: NatMapping::EndpointIndependent,
    }
}

fn record(members: u16) -> SessionRecord {
    SessionRecord {
        host: PeerId(u64::MAX - 1),
        epoch: 7,
        members: (0..members)
            .map(|i| MemberRecord {
                id: PeerId(u64::MAX - 1 - u64::from(i)),
                candidates: full_candidates(i),
            })
            .collect(),
        published_at: NOW,
    }
}

#[test]
fn a_record_roundtrips_and_fits_with_the_most_members_a_session_allows() {
    let k = keys(1);
    let small = record(3).fitted();
    assert_eq!(small, record(3), "a small record is not cut");
    let sealed = small.seal(&k, [3; NONCE_BYTES]);
    assert_eq!(SessionRecord::open(&k, &sealed, NOW, None), Ok(small));

    let most = crate::SessionConfig::default().max_peers as u16;
    let fitted = record(most).fitted();
    let sealed = fitted.seal(&k, [4; NONCE_BYTES]);
    assert!(sealed.len() <= MAX_VALUE, "{} bytes sealed", sealed.len());
    let opened = SessionRecord::open(&k, &sealed, NOW, None).unwrap();
    assert_eq!(opened, fitted);
    assert_eq!(
        opened.members[0],
        record(1).members[0],
        "the host keeps all its candidates"
    );
    assert_eq!(opened.members.len(), 9, "the host and 8 members listed");
    assert_eq!(sealed.len(), 987);
    for m in &opened.members[1..] {
        assert!(
            m.candidates.addrs.iter().all(|c| c.kind != CandidateKind::Local),
            "every local candidate is dropped before a member"
        );
        assert_eq!(m.candidates.addrs.len(), 4, "mapped and reflexive candidates stay");
    }
    assert_eq!(opened.members[1].id, record(2).members[1].id, "the first listed stay");
}

#[test]
fn a_knock_roundtrips() {
    let k = keys(1);
    let knock = Knock {
        candidates: full_candidates(9),
        at: NOW,
        nonce: [5; 16],
    };
    let sealed = knock.seal(&k, [6; NONCE_BYTES]);
    assert!(sealed.len() <= MAX_VALUE);
    assert_eq!(Knock::open(&k, &sealed, NOW + 1000), Ok(knock));
}

#[test]
fn forged_moved_stale_and_replayed_values_are_refused() {
    let k = keys(1);
    let rec = record(2);
    let sealed = rec.seal(&k, [1; NONCE_BYTES]);
    assert_eq!(
        SessionRecord::open(&k, &sealed[..27], NOW, None),
        Err(OpenError::TooShort { len: 27, min: 28 })
    );
    let mut flipped = sealed.clone();
    flipped[20] ^= 1;
    assert!(matches!(
        SessionRecord::open(&k, &flipped, NOW, None),
        Err(OpenError::BadSeal { .. })
    ));
    assert!(
        matches!(
            SessionRecord::open(&keys(2), &sealed, NOW, None),
            Err(OpenError::BadSeal { .. })
        ),
        "another session's key does not open it"
    );
    assert!(
        matches!(Knock::open(&k, &sealed, NOW), Err(OpenError::BadSeal { .. })),
        "a record moved to the knock item does not open"
    );
    let knock = Knock {
        candidates: Candidates::default(),
        at: NOW,
        nonce: [0; 16],
    };
    let knock_sealed = knock.seal(&k, [2; NONCE_BYTES]);
    assert!(
        matches!(
            SessionRecord::open(&k, &knock_sealed, NOW, None),
            Err(OpenError::BadSeal { .. })
        ),
        "a knock moved to the record item does not open"
    );
    let garbage = seal(&k, ItemKind::Record, &[0xFF; 40], [3; NONCE_BYTES]);
    assert_eq!(
        SessionRecord::open(&k, &garbage, NOW, None),
        Err(OpenError::Undecodable { len: 40 })
    );
    let too_old = NOW + RECORD_MAX_AGE_MS + 1;
    assert_eq!(
        SessionRecord::open(&k, &sealed, too_old, None),
        Err(OpenError::Stale {
            at_ms: NOW,
            now_ms: too_old
        })
    );
    let behind = NOW - CLOCK_SKEW_MS - 1;
    assert!(matches!(
        SessionRecord::open(&k, &sealed, behind, None),
        Err(OpenError::Stale { .. })
    ));
    assert!(SessionRecord::open(&k, &sealed, NOW - CLOCK_SKEW_MS, None).is_ok());
    assert_eq!(
        SessionRecord::open(&k, &sealed, NOW, Some(NOW + 1)),
        Err(OpenError::Replayed {
            at_ms: NOW,
            newest_ms: NOW + 1
        })
    );
    assert!(
        SessionRecord::open(&k, &sealed, NOW, Some(NOW)).is_ok(),
        "the same record again is no replay"
    );
    assert!(matches!(
        Knock::open(&k, &knock_sealed, NOW + KNOCK_MAX_AGE_MS + 1),
        Err(OpenError::Stale { .. })
    ));
    let mut stats = DhtStats::default();
    for e in [
        OpenError::TooShort { len: 0, min: 28 },
        OpenError::BadSeal { len: 30 },
        OpenError::Stale { at_ms: 0, now_ms: 1 },
        OpenError::Replayed { at_ms: 0, newest_ms: 1 },
    ] {
        stats.refused(&e);
    }
    assert_eq!((stats.forged, stats.stale, stats.replayed), (2, 1, 1));
}

#[test]
fn a_record_without_its_host_or_with_a_member_twice_is_refused() {
    let k = keys(1);
    let mut no_host = record(2);
    no_host.host = PeerId(1);
    assert!(matches!(
        SessionRecord::open(&k, &no_host.seal(&k, [0; NONCE_BYTES]), NOW, None),
        Err(OpenError::Undecodable { .. })
    ));
    let mut twice = record(2);
    twice.members[1].id = twice.members[0].id;
    assert!(!twice.is_valid());
}

#[test]
fn a_small_sessions_record_is_small() {
    let member = |n: u8| MemberRecord {
        id: PeerId(u64::from(n) << 56),
        candidates: Candidates {
            addrs: [
                ([203, 0, 113, n], CandidateKind::Reflexive),
                ([198, 51, 100, n], CandidateKind::Mapped),
                ([192, 168, 1, n], CandidateKind::Local),
            ]
            .map(|(ip, kind)| cand(SocketAddr::from((ip, 40000 + u16::from(n))), kind))
            .to_vec(),
            mapping: NatMapping::EndpointIndependent,
        },
    };
    let rec = SessionRecord {
        host: PeerId(1 << 56),
        epoch: 2,
        members: (1..=4).map(member).collect(),
        published_at: NOW,
    };
    assert_eq!(rec.clone().fitted(), rec);
    assert_eq!(
        rec.seal(&keys(1), [0; NONCE_BYTES]).len(),
        200,
        "4 players, 3 IPv4 candidates each"
    );
}
