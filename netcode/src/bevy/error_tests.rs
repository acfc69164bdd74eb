//! The plugin's errors keep their kind: a failure a poll raises reaches the game as the
//! variant of its kind, with its typed cause, once.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;

use super::*;
use crate::sim::{LinkConditions, MemoryNet, MemoryPeer};
use crate::transport::{Driver, RendezvousQuestion, TransportError};
use crate::{Session, SessionError};

/// What every poll fails with, until changed (`None`: it succeeds).
type Failure = Arc<Mutex<Option<fn() -> TransportError>>>;

/// A peer on the in-memory network whose polls fail with the error the test chooses.
struct Failing {
    inner: MemoryPeer,
    fail: Failure,
}

impl Driver for Failing {
    fn poll(&mut self) -> Result<(), TransportError> {
        self.inner.poll()?;
        match *self.fail.lock().unwrap() {
            Some(error) => Err(error()),
            None => Ok(()),
        }
    }

    fn now(&self) -> Duration {
        self.inner.now()
    }

    fn session(&self) -> &Session {
        self.inner.session()
    }

    fn session_mut(&mut self) -> &mut Session {
        self.inner.session_mut()
    }

    fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[derive(Resource, Default)]
struct Errors(Vec<NetError>);

fn keep(mut seen: ResMut<Errors>, mut errors: MessageReader<NetError>) {
    seen.0.extend(errors.read().cloned());
}

/// An app whose peer's polls fail as its [`Failure`] says, and keep what it reported.
fn failing_app() -> (App, Failure) {
    let net = MemoryNet::new(3, LinkConditions::default());
    let fail: Failure = Arc::new(Mutex::new(None));
    let mut app = App::new();
    app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin))
        .init_resource::<Errors>()
        .add_systems(Update, keep)
        .insert_resource(NetPeer::new(Failing {
            inner: net.host("mira"),
            fail: fail.clone(),
        }));
    (app, fail)
}

const SERVICE: &str = "192.0.2.7:7777";

#[test]
fn a_failure_raised_by_a_poll_keeps_its_kind() {
    let (mut app, fail) = failing_app();
    app.update();
    *fail.lock().unwrap() = Some(|| TransportError::RendezvousSilent {
        addrs: vec![SERVICE.parse().unwrap()],
        secs: 3,
        question: RendezvousQuestion::Members,
    });
    app.update();
    *fail.lock().unwrap() = Some(|| TransportError::Session(SessionError::SeatMismatch));
    app.update();
    let service: SocketAddr = SERVICE.parse().unwrap();
    let errors = &app.world().resource::<Errors>().0;
    assert_eq!(errors.len(), 2, "{errors:?}");
    let NetError::Network(network) = &errors[0] else {
        panic!("a silent service is a network failure: {:?}", errors[0]);
    };
    assert!(
        matches!(
            &**network,
            TransportError::RendezvousSilent {
                question: RendezvousQuestion::Members,
                secs: 3,
                addrs,
            } if addrs == &[service]
        ),
        "{network:?}"
    );
    assert!(
        matches!(errors[1], NetError::Session(SessionError::SeatMismatch)),
        "a session error stays one, not a store error: {:?}",
        errors[1]
    );
}

#[test]
fn a_failure_repeated_poll_after_poll_is_reported_once() {
    let (mut app, fail) = failing_app();
    *fail.lock().unwrap() = Some(|| TransportError::NobodyListed);
    for _ in 0..5 {
        app.update();
    }
    let errors = &app.world().resource::<Errors>().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(&errors[0], NetError::Network(e) if matches!(**e, TransportError::NobodyListed)),
        "{errors:?}"
    );
}

#[test]
fn a_bad_code_is_an_invite_error_and_nothing_else_is() {
    let bad = crate::invite::Invite::decode("nc1-00").unwrap_err();
    let error = NetError::from(TransportError::from(bad.clone()));
    assert!(matches!(&error, NetError::Invite(e) if *e == bad), "{error:?}");
    assert!(error.to_string().starts_with("invite code is invalid: "), "{error}");
    let timed_out = NetError::from(TransportError::JoinTimedOut {
        addrs: vec!["10.0.0.3:5000".parse().unwrap()],
        secs: 10,
        hint: crate::transport::JoinHint::Unanswered,
    });
    assert!(
        matches!(timed_out, NetError::JoinTimedOut { secs: 10, .. }),
        "{timed_out:?}"
    );
    assert!(!timed_out.to_string().contains("invalid"), "{timed_out}");
}

#[test]
fn a_net_config_that_cannot_work_is_reported_and_undone() {
    let (mut app, _) = failing_app();
    app.update();
    {
        let mut config = app.world_mut().resource_mut::<NetConfig>();
        config.tick_hz = 30.0;
        config.send_hz = 20.0;
    }
    app.update();
    assert!(app.world().resource::<Errors>().0.is_empty(), "a valid change is kept");
    app.world_mut().resource_mut::<NetConfig>().send_hz = 0.0;
    app.update();
    let errors = &app.world().resource::<Errors>().0;
    assert!(
        matches!(
            errors[..],
            [NetError::Config(crate::ConfigError::TooLow { field: "send_hz", .. })]
        ),
        "{errors:?}"
    );
    let config = app.world().resource::<NetConfig>();
    assert_eq!(
        (config.tick_hz, config.send_hz),
        (30.0, 20.0),
        "the last valid one is back"
    );
    app.world_mut().resource_mut::<NetConfig>().tick_hz = 10.0;
    app.update();
    let errors = &app.world().resource::<Errors>().0;
    assert!(
        matches!(
            errors[1],
            NetError::Config(crate::ConfigError::Below {
                field: "tick_hz",
                floor: "send_hz",
                ..
            })
        ),
        "{errors:?}"
    );
}
