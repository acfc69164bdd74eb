//! UPnP-IGD for [`super::PortMapper`], on a thread: SSDP and SOAP over HTTP are blocking
//! calls (the `igd-next` crate's sync API), so a [`UpnpWorker`] runs them off the game's
//! poll loop and hands back [`UpnpEvent`]s. [`Igd`] is the seam: tests stand in a fake.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use thiserror::Error;

use super::{UpnpCommand, UpnpEvent};

/// How long an SSDP search waits for the gateway's answer.
const SEARCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait, when the worker is dropped, for the commands still queued.
pub const FINISH_WAIT: Duration = Duration::from_secs(2);
/// The mapping's description in the router's table.
const DESCRIPTION: &str = "netcode game";

/// Why an UPnP-IGD step failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UpnpError {
    /// No IGD answered the search at the gateway.
    #[error("no UPnP-IGD answered at the gateway: {0}")]
    Search(#[source] igd_next::SearchError),
    /// An IGD answered from another address than the default gateway.
    #[error("an UPnP-IGD answered from {found}, not the default gateway {gateway}")]
    NotGateway {
        /// Where it answered from.
        found: IpAddr,
        /// The default gateway.
        gateway: Ipv4Addr,
    },
    /// Map before a gateway was found.
    #[error("no UPnP-IGD gateway found yet")]
    NoGateway,
    /// The IGD did not tell its external address.
    #[error("the UPnP-IGD did not tell its external address: {0}")]
    ExternalIp(#[source] igd_next::GetExternalIpError),
    /// The IGD told an IPv6 external address.
    #[error("the UPnP-IGD told an IPv6 external address ({0})")]
    NotIpv4(IpAddr),
    /// The IGD refused the mapping.
    #[error("the UPnP-IGD refused the mapping: {0}")]
    Add(#[source] igd_next::AddAnyPortError),
    /// The IGD refused to delete the mapping.
    #[error("the UPnP-IGD refused to delete the mapping: {0}")]
    Remove(#[source] igd_next::RemovePortError),
}

/// The blocking UPnP-IGD calls the worker makes.
pub trait Igd: Send {
    /// Looks for an IGD at `gateway` only.
    fn search(&mut self, gateway: Ipv4Addr) -> Result<(), UpnpError>;
    /// Maps UDP `internal` at `external_port` (or another port when that one is taken)
    /// for `lease` seconds; the external address.
    fn map(&mut self, internal: SocketAddrV4, external_port: u16, lease: u32) -> Result<SocketAddrV4, UpnpError>;
    /// Deletes the mapping of `external_port`.
    fn unmap(&mut self, external_port: u16) -> Result<(), UpnpError>;
}

/// [`Igd`] through `igd-next`: the SSDP search goes to the gateway's address (unicast,
/// port 1900) rather than the multicast group, and an answer from elsewhere is refused.
#[derive(Default)]
pub struct IgdNext {
    gateway: Option<igd_next::Gateway>,
}

impl Igd for IgdNext {
    fn search(&mut self, gateway: Ipv4Addr) -> Result<(), UpnpError> {
        let mut options = igd_next::SearchOptions::default();
        options.broadcast_address = SocketAddr::from((gateway, 1900));
        options.timeout = Some(SEARCH_TIMEOUT);
        options.single_search_timeout = Some(SEARCH_TIMEOUT);
        let found = igd_next::search_gateway(options).map_err(UpnpError::Search)?;
        if found.addr.ip() != IpAddr::V4(gateway) {
            return Err(UpnpError::NotGateway {
                found: found.addr.ip(),
                gateway,
            });
        }
        self.gateway = Some(found);
        Ok(())
    }

    fn map(&mut self, internal: SocketAddrV4, external_port: u16, lease: u32) -> Result<SocketAddrV4, UpnpError> {
        let g = self.gateway.as_ref().ok_or(UpnpError::NoGateway)?;
        let ip = match g.get_external_ip().map_err(UpnpError::ExternalIp)? {
            IpAddr::V4(ip) => ip,
            other => return Err(UpnpError::NotIpv4(other)),
        };
        let udp = igd_next::PortMappingProtocol::UDP;
        let local = SocketAddr::V4(internal);
        let port = match g.add_port(udp, external_port, local, lease, DESCRIPTION) {
            Ok(()) => external_port,
            Err(e) => {
                log::debug!("UPnP: port {external_port} refused ({e}), asking for any port");
                g.add_any_port(udp, local, lease, DESCRIPTION).map_err(UpnpError::Add)?
            }
        };
        Ok(SocketAddrV4::new(ip, port))
    }

    fn unmap(&mut self, external_port: u16) -> Result<(), UpnpError> {
        let g = self.gateway.as_ref().ok_or(UpnpError::NoGateway)?;
        g.remove_port(igd_next::PortMappingProtocol::UDP, external_port)
            .map_err(UpnpError::Remove)
    }
}

/// A thread running [`UpnpCommand`]s on an [`Igd`] in order.
pub struct UpnpWorker {
    commands: Option<Sender<UpnpCommand>>,
    /// (In a mutex so that a peer holding the worker is `Sync`.)
    events: Mutex<Receiver<UpnpEvent>>,
    /// Disconnects when the thread ends.
    finished: Mutex<Receiver<()>>,
}

impl UpnpWorker {
    /// Starts the thread.
    pub fn spawn(mut igd: Box<dyn Igd>) -> std::io::Result<Self> {
        let (commands, inbox) = channel::<UpnpCommand>();
        let (outbox, events) = channel();
        let (finishing, finished) = channel::<()>();
        std::thread::Builder::new().name("upnp".into()).spawn(move || {
            let _finishing = finishing;
            for command in inbox {
                let event = run(igd.as_mut(), command);
                if let Some(e) = event
                    && outbox.send(e).is_err()
                {
                    return;
                }
            }
        })?;
        Ok(UpnpWorker {
            commands: Some(commands),
            events: Mutex::new(events),
            finished: Mutex::new(finished),
        })
    }

    /// Queues a command.
    pub fn send(&self, command: UpnpCommand) {
        if let Some(c) = &self.commands {
            // The thread only ends when this worker drops its sender.
            let _ = c.send(command);
        }
    }

    /// An outcome, if one is ready.
    pub fn try_recv(&self) -> Option<UpnpEvent> {
        self.events.lock().ok()?.try_recv().ok()
    }
}

impl Drop for UpnpWorker {
    /// Lets the thread finish the commands queued (a deletion on exit), waiting for it at
    /// most [`FINISH_WAIT`] (a router that hangs does not hang the game's exit).
    fn drop(&mut self) {
        self.commands = None;
        if let Ok(finished) = self.finished.lock() {
            let _ = finished.recv_timeout(FINISH_WAIT);
        }
    }
}

fn run(igd: &mut dyn Igd, command: UpnpCommand) -> Option<UpnpEvent> {
    match command {
        UpnpCommand::Search { gateway } => Some(match igd.search(gateway) {
            Ok(()) => {
                log::debug!("UPnP: an IGD answered at {gateway}");
                UpnpEvent::Found
            }
            Err(e) => {
                log::debug!("UPnP: {e}");
                UpnpEvent::NotFound
            }
        }),
        UpnpCommand::Map {
            internal,
            external_port,
            lease,
        } => Some(match igd.map(internal, external_port, lease) {
            Ok(external) => UpnpEvent::Mapped(external),
            Err(e) => {
                log::debug!("UPnP: {e}");
                UpnpEvent::MapFailed
            }
        }),
        UpnpCommand::Unmap { external_port } => {
            match igd.unmap(external_port) {
                Ok(()) => log::debug!("UPnP: deleted the mapping of port {external_port}"),
                Err(e) => log::debug!("UPnP: {e}"),
            }
            None
        }
    }
}
