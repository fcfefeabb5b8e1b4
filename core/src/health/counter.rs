//! Turns a stream of probe results into verdicts: UP after `rise` consecutive successes,
//! DOWN after `fall` consecutive failures, `unknown` before the first verdict.

use crate::status::BackendState;

#[derive(Debug, Clone)]
pub struct Counter {
    rise: u32,
    fall: u32,
    state: BackendState,
    ok_run: u32,
    fail_run: u32,
}

impl Counter {
    pub fn new(rise: u32, fall: u32) -> Self {
        Self { rise: rise.max(1), fall: fall.max(1), state: BackendState::Unknown, ok_run: 0, fail_run: 0 }
    }

    pub fn state(&self) -> BackendState {
        self.state
    }

    /// Consecutive failures so far (for the DOWN log line).
    pub fn failures(&self) -> u32 {
        self.fail_run
    }

    pub fn successes(&self) -> u32 {
        self.ok_run
    }

    /// Records one probe; returns the new state when this probe changed it.
    pub fn record(&mut self, ok: bool) -> Option<BackendState> {
        if ok {
            self.ok_run = self.ok_run.saturating_add(1);
            self.fail_run = 0;
            if self.state != BackendState::Up && self.ok_run >= self.rise {
                self.state = BackendState::Up;
                return Some(self.state);
            }
        } else {
            self.fail_run = self.fail_run.saturating_add(1);
            self.ok_run = 0;
            if self.state != BackendState::Down && self.fail_run >= self.fall {
                self.state = BackendState::Down;
                return Some(self.state);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BackendState::*;

    fn run(c: &mut Counter, probes: &str) -> Vec<BackendState> {
        probes
            .chars()
            .map(|p| {
                c.record(p == '+');
                c.state()
            })
            .collect()
    }

    #[test]
    fn rise_two_fall_three_like_haproxy() {
        let mut c = Counter::new(2, 3);
        assert_eq!(c.state(), Unknown);
        assert_eq!(run(&mut c, "+"), vec![Unknown]);
        assert_eq!(run(&mut c, "+"), vec![Up]);
        // Two failures are not enough; a success resets the run.
        assert_eq!(run(&mut c, "--+--"), vec![Up, Up, Up, Up, Up]);
        assert_eq!(run(&mut c, "-"), vec![Down]);
        assert_eq!(c.failures(), 3);
        assert_eq!(run(&mut c, "+-"), vec![Down, Down]);
        assert_eq!(run(&mut c, "++"), vec![Down, Up]);
    }

    #[test]
    fn first_verdict_can_be_down_and_transitions_are_reported_once() {
        let mut c = Counter::new(2, 3);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), Some(Down));
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(true), Some(Up));
        assert_eq!(c.record(true), None);
    }

    #[test]
    fn rise_and_fall_of_one_flip_immediately() {
        let mut c = Counter::new(1, 1);
        assert_eq!(c.record(true), Some(Up));
        assert_eq!(c.record(false), Some(Down));
        assert_eq!(c.record(true), Some(Up));
    }
}
