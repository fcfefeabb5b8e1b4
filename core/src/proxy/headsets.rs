//! Publishes the headset book ([`crate::headsets`]) into the status, coalesced, and logs each
//! headset's state changes (through `tracing` and the status log), until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::headsets::{advice, announce::Announcer, Book};
use crate::status::StatusHub;
use crate::status_log;

/// After publishing, changes wait this long to be published together: a flood of handshakes
/// costs a few status updates a second, and a refusal still shows well within a second.
pub const COALESCE: Duration = Duration::from_millis(250);

pub async fn publish_loop(book: Arc<Book>, hub: StatusHub, shutdown: CancellationToken) {
    let mut announcer = Announcer::new(std::time::Instant::now());
    loop {
        let due = announcer.due().map(tokio::time::Instant::from_std);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = book.changed() => {}
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
        }
        let ctx = hub.read(|s| advice::Context {
            cert_fingerprint: s.cert.as_ref().map(|c| c.fingerprint_sha256.clone()),
            cert_since_ms: None,
            cert_new_this_run: s.cert.as_ref().is_some_and(|c| c.changed_since_last_run),
            web_app_query: s.web_app.root.as_ref().map(|_| s.web_app.query.clone()),
        });
        let list = book.render(ctx);
        for line in announcer.lines(&list, std::time::Instant::now()) {
            if line.warn {
                status_log!(hub, warn, "{}", line.msg);
            } else {
                status_log!(hub, info, "{}", line.msg);
            }
        }
        // A request that changed nothing visible (a later "last seen") wakes no status reader.
        if hub.read(|s| s.headsets != list) {
            hub.update(|s| s.headsets = list);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(COALESCE) => {}
        }
    }
}
