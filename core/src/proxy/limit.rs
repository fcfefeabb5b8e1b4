//! The connection limit (`max_connections`): one counter for the gateway's life. A settings change
//! resizes it in place, so connections admitted before the change still count against the new limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct Limiter {
    max: AtomicUsize,
    used: AtomicUsize,
}

/// One admitted connection's place; given back when dropped.
pub struct Permit(Arc<Limiter>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limiter {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max: AtomicUsize::new(max), used: AtomicUsize::new(0) })
    }

    /// A place if fewer than `max` are taken, else `None`.
    pub fn try_take(self: &Arc<Self>) -> Option<Permit> {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            if used >= self.max.load(Ordering::Acquire) {
                return None;
            }
            match self.used.compare_exchange_weak(used, used + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(Permit(self.clone())),
                Err(now) => used = now,
            }
        }
    }

    /// Changes the limit; places already taken stay taken (a lower limit admits no one until
    /// enough of them are given back).
    pub fn resize(&self, max: usize) {
        self.max.store(max, Ordering::Release);
    }

    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_keeps_counting_places_taken_before() {
        let l = Limiter::new(3);
        let held: Vec<Permit> = (0..3).map(|_| l.try_take().unwrap()).collect();
        assert!(l.try_take().is_none());
        l.resize(2);
        assert!(l.try_take().is_none(), "3 taken, limit 2");
        let mut held = held;
        held.pop();
        assert!(l.try_take().is_none(), "2 taken, limit 2");
        held.pop();
        let p = l.try_take();
        assert!(p.is_some(), "1 taken, limit 2");
        assert_eq!(l.in_use(), 2);
        l.resize(5);
        let more: Vec<Permit> = (0..3).map(|_| l.try_take().unwrap()).collect();
        assert!(l.try_take().is_none());
        drop((held, p, more));
        assert_eq!(l.in_use(), 0);
    }
}
