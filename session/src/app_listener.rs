//! App listeners: one per (application, endpoint).
//!
//! When several workers of one application listen on the same endpoint they
//! share one listener rather than competing for the address: the listener
//! records which of the app's workers listen and hands each new connection
//! to the next of them in turn (the accept rotor). It also remembers in
//! which scopes it is registered (global table of a FIB, local table of a
//! namespace) so that it can be taken out of exactly those tables, and which
//! worker owns the listen session (receives listen-related events). This is
//! VPP's `app_listener_t` (`application.c`), whose worker set is a bitmap
//! walked with `clib_bitmap_next_set` from the rotor position.
//!
//! The worker set here is a sorted `Vec` of app worker map indices, so there
//! is no limit on the number of listening workers besides memory; the rotor
//! is the map index to try next, which keeps the round robin fair when
//! workers join or leave between accepts.
//!
//! A listening worker can be *passive*: it keeps its place (the listener
//! and its port stay while it listens) but the rotor hands it sessions only
//! when no active worker listens. This is for a process that listened and
//! then forked workers to accept for it (nginx's master): a worker that joins
//! makes the master passive, as VPP's VLS stops the listen of a forking
//! parent that never accepted. A worker that says it is active is *pinned*:
//! it can no longer be made passive by another worker, so a parent that does
//! accept after forking is not pushed aside by a child that joins later.

use shm::types::{Endpoint, Scope, TransportOptions};

/// One application's listener on one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppListener {
    /// Index in the listener pool.
    pub index: u32,
    /// Application that listens.
    pub app_index: u32,
    /// What it listens on.
    pub endpoint: Endpoint,
    /// Which tables it is registered in: global of `fib_index`, local of `ns_index`.
    pub scope: Scope,
    /// FIB whose global table holds it (meaningful for global scope).
    pub fib_index: u32,
    /// Namespace whose local table holds it (meaningful for local scope).
    pub ns_index: u32,
    /// Transport options for the sessions it accepts (e.g. TCP congestion control).
    pub options: TransportOptions,
    /// TLS over the TCP connections it accepts (a `tls://` listen).
    pub tls: Option<crate::tls::TlsServer>,
    /// QUIC for the peers it gets (a `quic://` listen, on UDP).
    pub quic: Option<crate::quic::QuicServer>,
    workers: Vec<u32>,
    /// Listening workers that get sessions only when no active one listens (sorted).
    passive: Vec<u32>,
    /// Workers that asked to be active: never made passive again (sorted).
    pinned: Vec<u32>,
    rotor: u32,
    owner_worker: u32,
}

impl AppListener {
    /// A listener with `first_worker` (an app worker map index) as its only worker and owner.
    pub fn new(
        index: u32,
        app_index: u32,
        endpoint: Endpoint,
        scope: Scope,
        fib_index: u32,
        ns_index: u32,
        first_worker: u32,
    ) -> Self {
        Self {
            index,
            app_index,
            endpoint,
            scope,
            fib_index,
            ns_index,
            options: TransportOptions::default(),
            tls: None,
            quic: None,
            workers: vec![first_worker],
            passive: Vec::new(),
            pinned: Vec::new(),
            rotor: first_worker,
            owner_worker: first_worker,
        }
    }

    /// Picks the worker for the next accept, round robin over the listening workers.
    pub fn select_worker(&mut self) -> Option<u32> {
        let (chosen, next) = self.select_worker_from(self.rotor)?;
        self.rotor = next;
        Some(chosen)
    }

    /// The rotor step on its own: the worker chosen from rotor position
    /// `rotor`, and the next rotor position.
    ///
    /// Data-plane workers only read the listener tables, so each keeps its
    /// own rotor per listener and asks with it: accepts are round robin per
    /// data-plane worker rather than across them, which is the same thing
    /// with one worker and close to it with several.
    ///
    /// Passive workers are skipped while an active one listens.
    pub fn select_worker_from(&self, rotor: u32) -> Option<(u32, u32)> {
        let pick = |eligible: &dyn Fn(u32) -> bool| {
            let from = self.workers.partition_point(|&w| w < rotor);
            let (before, after) = self.workers.split_at(from);
            after.iter().chain(before).copied().find(|&w| eligible(w))
        };
        let chosen = if self.passive.len() < self.workers.len() {
            pick(&|w| self.passive.binary_search(&w).is_err())?
        } else {
            pick(&|_| true)?
        };
        Some((chosen, chosen.wrapping_add(1)))
    }

    /// Makes a listening worker passive (`true`) or active again (`false`,
    /// which also pins it active). Returns whether it is passive now, or
    /// `None` if it does not listen. Making a pinned worker passive does nothing.
    pub fn set_passive(&mut self, wrk_map_index: u32, passive: bool) -> Option<bool> {
        if !self.has_worker(wrk_map_index) {
            return None;
        }
        let pinned = self.pinned.binary_search(&wrk_map_index);
        let at = self.passive.binary_search(&wrk_map_index);
        match (passive, at) {
            (true, Err(i)) if pinned.is_err() => self.passive.insert(i, wrk_map_index),
            (false, Ok(i)) => {
                self.passive.remove(i);
            }
            _ => {}
        }
        if let (false, Err(i)) = (passive, pinned) {
            self.pinned.insert(i, wrk_map_index);
        }
        Some(self.is_passive(wrk_map_index))
    }

    /// Whether a worker is passive on this listener.
    pub fn is_passive(&self, wrk_map_index: u32) -> bool {
        self.passive.binary_search(&wrk_map_index).is_ok()
    }

    /// Passive workers (map indices), ascending.
    pub fn passive_workers(&self) -> &[u32] {
        &self.passive
    }

    /// Adds a listening worker; returns false if it already listened.
    pub fn add_worker(&mut self, wrk_map_index: u32) -> bool {
        match self.workers.binary_search(&wrk_map_index) {
            Ok(_) => false,
            Err(at) => {
                self.workers.insert(at, wrk_map_index);
                true
            }
        }
    }

    /// Removes a worker if it listens; returns true when no worker is left.
    ///
    /// If the owner leaves, ownership passes to the lowest remaining worker.
    pub fn del_worker(&mut self, wrk_map_index: u32) -> bool {
        for set in [&mut self.workers, &mut self.passive, &mut self.pinned] {
            if let Ok(at) = set.binary_search(&wrk_map_index) {
                set.remove(at);
            }
        }
        if self.owner_worker == wrk_map_index {
            if let Some(&first) = self.workers.first() {
                self.owner_worker = first;
            }
        }
        self.workers.is_empty()
    }

    /// Whether this worker listens.
    pub fn has_worker(&self, wrk_map_index: u32) -> bool {
        self.workers.binary_search(&wrk_map_index).is_ok()
    }

    /// Makes a listening worker the owner of the listen session; false if it doesn't listen.
    pub fn set_owner(&mut self, wrk_map_index: u32) -> bool {
        let listens = self.has_worker(wrk_map_index);
        if listens {
            self.owner_worker = wrk_map_index;
        }
        listens
    }

    /// The worker owning the listen session.
    pub fn owner(&self) -> u32 {
        self.owner_worker
    }

    /// Listening workers (map indices), ascending.
    pub fn workers(&self) -> &[u32] {
        &self.workers
    }

    /// The map index the rotor tries next.
    pub fn rotor(&self) -> u32 {
        self.rotor
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::listener_tables::parse_uri;

    fn listener(first: u32) -> AppListener {
        let ep = parse_uri("tcp://0.0.0.0/7").unwrap();
        AppListener::new(0, 0, ep, Scope::GLOBAL, 0, 0, first)
    }

    fn picks(l: &mut AppListener, n: usize) -> Vec<u32> {
        (0..n).map(|_| l.select_worker().unwrap()).collect()
    }

    #[test]
    fn rotor_round_robin() {
        let mut l = listener(0);
        assert!(l.add_worker(2));
        assert!(l.add_worker(1));
        assert!(!l.add_worker(1));
        assert_eq!(l.workers(), [0, 1, 2]);
        assert_eq!(picks(&mut l, 7), [0, 1, 2, 0, 1, 2, 0]);
        // Rotor now points at 1; worker 1 leaves, so 2 is next and the order stays fair.
        assert!(!l.del_worker(1));
        assert_eq!(picks(&mut l, 4), [2, 0, 2, 0]);
        assert!(!l.del_worker(0));
        assert!(l.del_worker(2));
        assert_eq!(l.select_worker(), None);
    }

    #[test]
    fn rotor_survives_max_index() {
        let mut l = listener(u32::MAX);
        l.add_worker(3);
        assert_eq!(picks(&mut l, 3), [u32::MAX, 3, u32::MAX]);
    }

    #[test]
    fn passive_workers_get_sessions_only_when_no_active_one_listens() {
        let mut l = listener(0);
        l.add_worker(1);
        l.add_worker(2);
        assert_eq!(l.set_passive(0, true), Some(true));
        assert_eq!(l.set_passive(7, true), None, "not listening");
        assert_eq!(picks(&mut l, 5), [1, 2, 1, 2, 1]);
        // The only active worker leaves and comes back: the rotor goes on from where it was.
        assert!(!l.del_worker(1));
        assert_eq!(picks(&mut l, 2), [2, 2]);
        l.add_worker(1);
        assert_eq!(picks(&mut l, 3), [1, 2, 1]);
        // No active worker: the passive ones take sessions rather than refusing them.
        l.del_worker(1);
        l.del_worker(2);
        assert_eq!(picks(&mut l, 2), [0, 0]);
        assert_eq!(l.passive_workers(), [0]);
        // Active again, and pinned: another worker can no longer make it passive.
        assert_eq!(l.set_passive(0, false), Some(false));
        assert_eq!(l.set_passive(0, true), Some(false));
        assert!(!l.is_passive(0));
        // A worker that leaves forgets its marks: joining again, it can be made passive.
        l.add_worker(3);
        l.set_passive(3, false);
        l.del_worker(3);
        l.add_worker(3);
        assert_eq!(l.set_passive(3, true), Some(true));
        assert_eq!(picks(&mut l, 2), [0, 0]);
    }

    #[test]
    fn owner_moves_when_it_leaves() {
        let mut l = listener(1);
        l.add_worker(4);
        l.add_worker(3);
        assert_eq!(l.owner(), 1);
        assert!(!l.set_owner(9));
        assert!(l.set_owner(4));
        l.del_worker(4);
        assert_eq!(l.owner(), 1);
        l.del_worker(1);
        assert_eq!(l.owner(), 3);
        assert!(!l.has_worker(1));
    }
}
