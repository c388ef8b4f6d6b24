//! Named counters, declared by the layer that counts them.
//!
//! Each layer declares its own set with [`counters!`]: an enum whose
//! variants are the counters, each with the name the CLI prints and whether
//! it counts an error (a dropped or refused packet, for `show errors`) or
//! just activity. The L2/L3 input and output, the poll loop, fault
//! injection, UDP, TCP input and the session layer each have one, next to
//! the code that counts; the CLI prints the sets one after another.
//!
//! Two blocks hold a set's values:
//! - [`AtomicCounters`]: one per worker, written by that worker only (an
//!   increment is a relaxed load plus store, no locked instruction) and read
//!   by the main thread for the CLI;
//! - [`LocalCounters`]: plain integers, for counters a single owner keeps
//!   (a TCP connection's, drained into its worker's totals).
//!
//! Both are arrays indexed by the enum, so an increment is one add at a
//! fixed offset, with no allocation, lock or lookup.

#![warn(missing_docs)]

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

/// What [`counters!`] implements for a set: its members, names and kinds.
pub trait CounterSet: Copy + 'static {
    /// Every counter, in display order.
    const ALL: &'static [Self];
    /// The counter's position (its index in [`CounterSet::ALL`]).
    fn index(self) -> usize;
    /// The name the CLI prints.
    fn name(self) -> &'static str;
    /// Whether this counts dropped or refused packets (`show errors`).
    fn is_error(self) -> bool;
}

/// Declares a counter set: `counters! { /// doc \n pub enum Name { Variant => ("cli name", is_error), ... } }`.
///
/// Generates the enum (with `ALL`, `COUNT`, `name()` and `is_error()`) and
/// its [`CounterSet`] impl. Each variant's doc is its own doc comment, if it
/// has one, then its CLI name.
#[macro_export]
macro_rules! counters {
    ($(#[$meta:meta])* $vis:vis enum $set:ident { $( $(#[$vmeta:meta])* $variant:ident => ($name:literal, $err:literal) ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        $vis enum $set { $(
            $(#[$vmeta])*
            #[doc = $name]
            $variant,
        )* }

        impl $set {
            /// Every counter in declaration order.
            pub const ALL: &'static [$set] = &[$($set::$variant),*];
            /// Number of counters in the set.
            pub const COUNT: usize = $set::ALL.len();

            /// The name printed by the CLI.
            pub const fn name(self) -> &'static str {
                match self { $($set::$variant => $name),* }
            }

            /// Whether this counts dropped or refused packets.
            pub const fn is_error(self) -> bool {
                match self { $($set::$variant => $err),* }
            }
        }

        impl $crate::CounterSet for $set {
            const ALL: &'static [$set] = $set::ALL;
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
            fn name(self) -> &'static str {
                $set::name(self)
            }
            fn is_error(self) -> bool {
                $set::is_error(self)
            }
        }
    };
}

/// One worker's values of set `C` (`N` is `C::COUNT`), readable from any thread.
pub struct AtomicCounters<C, const N: usize> {
    vals: [AtomicU64; N],
    _set: PhantomData<fn(C)>,
}

impl<C: CounterSet, const N: usize> Default for AtomicCounters<C, N> {
    fn default() -> Self {
        const { assert!(N == C::ALL.len(), "N must be the set's COUNT") };
        AtomicCounters { vals: std::array::from_fn(|_| AtomicU64::new(0)), _set: PhantomData }
    }
}

impl<C: CounterSet, const N: usize> AtomicCounters<C, N> {
    /// Add `n` to counter `c`. Only the owning worker may call this: it is a
    /// load and a store, not an atomic add.
    #[inline]
    pub fn add(&self, c: C, n: u64) {
        let v = &self.vals[c.index()];
        v.store(v.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Set counter `c` to `v`: for the few that are levels, not counts
    /// (owner only, see [`AtomicCounters::add`]).
    #[inline]
    pub fn set(&self, c: C, v: u64) {
        self.vals[c.index()].store(v, Ordering::Relaxed);
    }

    /// Add one to counter `c` (owner only, see [`AtomicCounters::add`]).
    #[inline]
    pub fn inc(&self, c: C) {
        self.add(c, 1);
    }

    /// Read counter `c` (any thread).
    #[inline]
    pub fn get(&self, c: C) -> u64 {
        self.vals[c.index()].load(Ordering::Relaxed)
    }

    /// Zero every counter (`clear errors`); racy against the owner by design,
    /// like VPP's: a concurrent increment may survive.
    pub fn clear(&self) {
        for v in &self.vals {
            v.store(0, Ordering::Relaxed);
        }
    }

    /// Every counter with its value, in display order.
    pub fn iter(&self) -> impl Iterator<Item = (C, u64)> + '_ {
        C::ALL.iter().map(move |&c| (c, self.get(c)))
    }
}

impl<C: CounterSet, const N: usize> std::fmt::Debug for AtomicCounters<C, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().filter(|(_, v)| *v != 0).map(|(c, v)| (c.name(), v))).finish()
    }
}

/// Values of set `C` (`N` is `C::COUNT`) kept by one owner, as plain integers.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalCounters<C, const N: usize> {
    vals: [u64; N],
    _set: PhantomData<fn(C)>,
}

impl<C: CounterSet, const N: usize> Default for LocalCounters<C, N> {
    fn default() -> Self {
        const { assert!(N == C::ALL.len(), "N must be the set's COUNT") };
        LocalCounters { vals: [0; N], _set: PhantomData }
    }
}

impl<C: CounterSet, const N: usize> LocalCounters<C, N> {
    /// Adds one.
    #[inline]
    pub fn incr(&mut self, c: C) {
        self.vals[c.index()] += 1;
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&mut self, c: C, n: u64) {
        self.vals[c.index()] += n;
    }

    /// A counter's value.
    pub fn get(&self, c: C) -> u64 {
        self.vals[c.index()]
    }

    /// Adds all of `other` into `self` and zeroes `other`.
    pub fn drain_from(&mut self, other: &mut Self) {
        for (a, b) in self.vals.iter_mut().zip(other.vals.iter_mut()) {
            *a += std::mem::take(b);
        }
    }

    /// Whether every counter is zero.
    pub fn is_zero(&self) -> bool {
        self.vals.iter().all(|&v| v == 0)
    }

    /// Every counter with its value, in display order.
    pub fn iter(&self) -> impl Iterator<Item = (C, u64)> + '_ {
        C::ALL.iter().map(move |&c| (c, self.get(c)))
    }
}

impl<C: CounterSet, const N: usize> std::fmt::Debug for LocalCounters<C, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().filter(|(_, v)| *v != 0).map(|(c, v)| (c.name(), v))).finish()
    }
}

impl<C: CounterSet, const N: usize> std::fmt::Display for LocalCounters<C, N> {
    /// One `value name` line per non-zero counter.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (c, v) in self.iter().filter(|(_, v)| *v != 0) {
            writeln!(f, "{v:>12} {}", c.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    counters! {
        /// A test set.
        pub enum Demo {
            Packets => ("packets", false),
            Drops => ("drops", true),
        }
    }

    #[test]
    fn names_kinds_and_counting() {
        assert_eq!(Demo::COUNT, 2);
        assert_eq!((Demo::Drops.name(), Demo::Drops.is_error()), ("drops", true));
        assert!(!Demo::Packets.is_error());
        let c = AtomicCounters::<Demo, { Demo::COUNT }>::default();
        c.inc(Demo::Drops);
        c.add(Demo::Drops, 2);
        assert_eq!((c.get(Demo::Drops), c.get(Demo::Packets)), (3, 0));
        c.set(Demo::Packets, 7);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![(Demo::Packets, 7), (Demo::Drops, 3)]);
        c.clear();
        assert_eq!(c.get(Demo::Drops), 0);
        let mut a = LocalCounters::<Demo, { Demo::COUNT }>::default();
        let mut b = LocalCounters::<Demo, { Demo::COUNT }>::default();
        b.incr(Demo::Packets);
        b.add(Demo::Drops, 4);
        a.drain_from(&mut b);
        assert!(b.is_zero() && !a.is_zero());
        assert_eq!((a.get(Demo::Packets), a.get(Demo::Drops)), (1, 4));
    }
}
