//! Backend health checking with HAProxy semantics (`check inter 2s rise 2 fall 3 on-marked-down shutdown-sessions`),
//! split as in rpxy: [`check_tcp`] does one probe, [`counter`] turns probe results into UP/DOWN verdicts,
//! [`checker`] runs one probe loop per backend in use and publishes transitions.

pub mod check_tcp;
pub mod checker;
pub mod counter;

pub use checker::Health;
