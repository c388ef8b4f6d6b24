//! A connection's timers: ONE table of absolute deadlines indexed by
//! [`Timer`] kind (quinn-proto's `TimerTable` idea), instead of a field per
//! timer. The connection arms, cancels and expires through it, and the
//! worker sees only the earliest deadline ([`TimerTable::next`]), which it
//! keeps as the connection's single timer-wheel entry.
//!
//! Every deadline is at least [`MIN_TIMER_NS`] after the `now` it was armed
//! at, so a zero delay from the config cannot re-arm a timer
//! at the instant it fired and spin.

/// The shortest delay any timer is armed with: one tick of the worker's
/// timer wheel. Why a floor: a zero delay (a zero RTO, keepalive interval
/// or TIME-WAIT from the config) would re-arm a timer at the instant it
/// fired and spin; with it every timer moves time forward.
pub const MIN_TIMER_NS: u64 = 1_000_000;

/// The deadline `delay` after `now`: at least [`MIN_TIMER_NS`] later, and
/// saturating instead of wrapping for delays near `u64::MAX`.
pub(crate) fn after(now: u64, delay: u64) -> u64 {
    now.saturating_add(delay.max(MIN_TIMER_NS))
}

/// The kinds of timer a connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// TIME-WAIT (2*MSL) or FIN-WAIT-2 expiry: the connection closes.
    Close,
    /// Retransmission (RFC 6298), SYN and SYN-ACK included.
    Rto,
    /// Zero-window probe, or the sender-side SWS override (RFC 9293 §3.8.6.1).
    Persist,
    /// Delayed ACK (RFC 1122 §4.2.3.2).
    DelayedAck,
    /// Keepalive idle time or probe interval (RFC 1122 §4.2.3.6).
    Keepalive,
}

impl Timer {
    /// Every kind, in the order expiry handles them: `Close` first (it
    /// ends the connection, and with it every other timer), then the rest.
    pub const ALL: [Timer; 5] = [Timer::Close, Timer::Rto, Timer::Persist, Timer::DelayedAck, Timer::Keepalive];

    fn index(self) -> usize {
        self as usize
    }
}

/// Absolute deadlines (ns), one per [`Timer`] kind; `None` = not armed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<u64>; Timer::ALL.len()],
}

impl TimerTable {
    /// Arms `timer` for `delay` after `now` (at least [`MIN_TIMER_NS`] later), replacing any earlier deadline.
    pub fn arm(&mut self, timer: Timer, now: u64, delay: u64) {
        self.deadlines[timer.index()] = Some(after(now, delay));
    }

    /// Arms `timer` for `delay` after `now` unless it is armed already.
    pub fn arm_if_idle(&mut self, timer: Timer, now: u64, delay: u64) {
        self.deadlines[timer.index()].get_or_insert(after(now, delay));
    }

    /// Disarms `timer`.
    pub fn cancel(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Disarms every timer.
    pub fn cancel_all(&mut self) {
        self.deadlines = Default::default();
    }

    /// Whether `timer` is armed.
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.deadlines[timer.index()].is_some()
    }

    /// When `timer` fires, if armed.
    pub fn deadline(&self, timer: Timer) -> Option<u64> {
        self.deadlines[timer.index()]
    }

    /// The earliest deadline of all.
    pub fn next(&self) -> Option<u64> {
        self.deadlines.iter().flatten().copied().min()
    }

    /// Whether `timer` is due at `now`; if so it is disarmed (it fired).
    pub fn expire(&mut self, timer: Timer, now: u64) -> bool {
        let slot = &mut self.deadlines[timer.index()];
        if slot.is_some_and(|t| t <= now) {
            *slot = None;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn arm_cancel_expire_and_next() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.arm(Timer::Rto, 0, 200 * MIN_TIMER_NS);
        t.arm(Timer::DelayedAck, 0, 40 * MIN_TIMER_NS);
        assert_eq!(t.next(), Some(40 * MIN_TIMER_NS));
        // Armed already: left alone.
        t.arm_if_idle(Timer::DelayedAck, 10 * MIN_TIMER_NS, 40 * MIN_TIMER_NS);
        assert_eq!(t.deadline(Timer::DelayedAck), Some(40 * MIN_TIMER_NS));
        assert!(!t.expire(Timer::DelayedAck, 40 * MIN_TIMER_NS - 1));
        assert!(t.expire(Timer::DelayedAck, 40 * MIN_TIMER_NS));
        assert!(!t.is_armed(Timer::DelayedAck));
        assert!(!t.expire(Timer::DelayedAck, u64::MAX), "fires once");
        assert_eq!(t.next(), Some(200 * MIN_TIMER_NS));
        t.cancel(Timer::Rto);
        assert_eq!(t.next(), None);
        t.arm(Timer::Close, 5, 1);
        t.arm(Timer::Keepalive, 5, 1);
        t.cancel_all();
        assert_eq!(t, TimerTable::default());
    }

    #[test]
    fn deadlines_have_a_floor_and_saturate() {
        let mut t = TimerTable::default();
        t.arm(Timer::Persist, 7, 0);
        assert_eq!(t.deadline(Timer::Persist), Some(7 + MIN_TIMER_NS));
        t.arm(Timer::Persist, u64::MAX - 1, u64::MAX);
        assert_eq!(t.deadline(Timer::Persist), Some(u64::MAX));
    }

    #[test]
    fn every_kind_has_its_own_slot() {
        let mut t = TimerTable::default();
        for (i, k) in Timer::ALL.into_iter().enumerate() {
            t.arm(k, 0, (i as u64 + 1) * MIN_TIMER_NS);
        }
        for (i, k) in Timer::ALL.into_iter().enumerate() {
            assert_eq!(t.deadline(k), Some((i as u64 + 1) * MIN_TIMER_NS), "{k:?}");
        }
    }
}
