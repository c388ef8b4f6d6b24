//! Cut-through sessions: two applications on one node talking through one
//! fifo pair, with no transport in between (VPP's `application_local.c`).
//!
//! When an app with local scope connects to an endpoint that an app of its
//! namespace listens on in the local table, the worker allocates one fifo
//! pair from the listener's segment manager and creates two sessions on
//! itself: the server's (accepted, rx/tx as allocated) and the client's
//! (connected, the same fifos swapped). Writing into one side's tx fifo is
//! writing into the other side's rx fifo, so "pushing tx" only means telling
//! the peer it has data, and reading means telling the peer it has room.
//!
//! The pair is freed by whichever side goes last: until then the other side
//! still has views into it. Closing one side tells the other that its peer
//! disconnected.

use std::net::SocketAddr;

use net::seam::Seam;
use shm::types::TransportProto;

use crate::error::SessionError;
use crate::pool::Pool;
use crate::snapshot::ConnSnapshot;
use crate::transport::{ConnectRequest, EventKind, Transport, TransportCx};

/// One cut-through connection: the two sessions it joins.
#[derive(Debug, Clone, Copy)]
pub struct CtConn {
    /// Client session (connected).
    pub client: u32,
    /// Server session (accepted).
    pub server: u32,
    /// Which sides have closed.
    pub client_closed: bool,
    /// Which sides have closed.
    pub server_closed: bool,
    /// Which sides have shut down writing (their peer was told it disconnected).
    pub client_shut: bool,
    /// Which sides have shut down writing.
    pub server_shut: bool,
    /// Datagram flavour.
    pub dgram: bool,
}

impl CtConn {
    /// The other session of the pair.
    pub fn peer_of(&self, session: u32) -> u32 {
        if session == self.client {
            self.server
        } else {
            self.client
        }
    }
}

/// A worker's cut-through connections.
pub struct CutThrough {
    conns: Pool<CtConn>,
}

impl Default for CutThrough {
    fn default() -> Self {
        Self::new()
    }
}

impl CutThrough {
    /// No connections.
    pub fn new() -> Self {
        CutThrough { conns: Pool::new("cut-through connections") }
    }

    /// Joins two sessions that already share a fifo pair; returns the connection index.
    pub fn add(&mut self, client: u32, server: u32, dgram: bool) -> Result<u32, SessionError> {
        let c = CtConn {
            client,
            server,
            client_closed: false,
            server_closed: false,
            client_shut: false,
            server_shut: false,
            dgram,
        };
        Ok(self.conns.insert_with(|_| Ok(c))?.index)
    }

    /// The connection at `conn`.
    pub fn conn(&self, conn: u32) -> Option<&CtConn> {
        self.conns.get(conn)
    }

    /// Whether the peer of `session` on `conn` still holds its side.
    pub fn peer_alive(&self, conn: u32, session: u32) -> bool {
        self.conns.get(conn).is_some_and(|c| if session == c.client { !c.server_closed } else { !c.client_closed })
    }

    /// Whether `session`'s side had shut down writing; with `set`, it has now.
    fn shut(&mut self, conn: u32, session: u32, set: bool) -> bool {
        let Some(c) = self.conns.get_mut(conn) else { return false };
        let flag = if session == c.client { &mut c.client_shut } else { &mut c.server_shut };
        let was = *flag;
        *flag |= set;
        was
    }

    /// Marks `session`'s side closed; forgets the connection once both are.
    fn side_closed(&mut self, conn: u32, session: u32) -> Option<u32> {
        let c = self.conns.get_mut(conn)?;
        if session == c.client {
            c.client_closed = true;
        } else {
            c.server_closed = true;
        }
        let peer = c.peer_of(session);
        let peer_open = if session == c.client { !c.server_closed } else { !c.client_closed };
        if c.client_closed && c.server_closed {
            self.conns.remove(conn);
        }
        peer_open.then_some(peer)
    }
}

impl<S: Seam> Transport<S> for CutThrough {
    fn proto(&self) -> TransportProto {
        TransportProto::CtTcp
    }

    /// Cut-through connects are made by the session layer, which creates
    /// both sessions and calls [`CutThrough::add`]; nothing reaches here.
    fn connect(
        &mut self,
        _cx: &mut TransportCx<'_, S>,
        _session: u32,
        _local: SocketAddr,
        _req: &ConnectRequest,
    ) -> Result<u32, SessionError> {
        Err(SessionError::UnsupportedConfig("cut-through connects go through the session layer".into()))
    }

    fn push_tx(&mut self, cx: &mut TransportCx<'_, S>, session: u32) -> usize {
        let Some(s) = cx.sessions.get(session) else { return 0 };
        let Some(c) = self.conns.get(s.conn) else { return 0 };
        let peer = c.peer_of(session);
        let n = s.tx().max_dequeue();
        if !self.peer_alive(s.conn, session) {
            return 0;
        }
        // The data is already in the peer's rx fifo; tell it once.
        if let Some(p) = cx.sessions.get(peer) {
            if p.rx().set_event() {
                cx.event(peer, EventKind::Rx);
            }
        }
        n
    }

    /// What the app wrote is already in the peer's rx fifo.
    fn retry_tx_while_fifo_has_data(&self) -> bool {
        false
    }

    fn app_rx(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(s) = cx.sessions.get(session) else { return };
        let Some(c) = self.conns.get(s.conn) else { return };
        let peer = c.peer_of(session);
        if cx.sessions.get(peer).is_some_and(|p| p.want_tx_event) && self.peer_alive(s.conn, session) {
            cx.event(peer, EventKind::TxSpace);
        }
    }

    fn close(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(conn) = cx.sessions.get(session).map(|s| s.conn) else { return };
        let shut = self.shut(conn, session, false);
        if let Some(peer) = self.side_closed(conn, session) {
            if !shut {
                cx.event(peer, EventKind::Disconnected);
            }
        }
        cx.event(session, EventKind::TransportClosed);
    }

    fn shutdown_write(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(conn) = cx.sessions.get(session).map(|s| s.conn) else { return };
        if self.conns.get(conn).is_some_and(|c| !c.dgram) && !self.shut(conn, session, true) {
            // What this side wrote is in the peer's rx fifo already: it reads it, then the end.
            if self.peer_alive(conn, session) {
                cx.event(self.conns.get(conn).map_or(session, |c| c.peer_of(session)), EventKind::Disconnected);
            }
        }
    }

    fn abort(&mut self, cx: &mut TransportCx<'_, S>, session: u32) {
        let Some(conn) = cx.sessions.get(session).map(|s| s.conn) else { return };
        if let Some(peer) = self.side_closed(conn, session) {
            cx.event(peer, EventKind::Reset);
        }
    }

    fn conn_snapshot(&self, conn: u32) -> ConnSnapshot {
        match self.conns.get(conn) {
            Some(c) => ConnSnapshot::CutThrough {
                dgram: c.dgram,
                client: c.client,
                server: c.server,
                client_closed: c.client_closed,
                server_closed: c.server_closed,
            },
            None => ConnSnapshot::Closed { proto: TransportProto::CtTcp },
        }
    }

    fn connections(&self) -> usize {
        self.conns.len()
    }
}
