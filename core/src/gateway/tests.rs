//! The gateway's certificate work runs off the async threads: with the data dir's lock held
//! elsewhere (as another process holds it), a runtime of one thread keeps running its other tasks
//! while a start, a new certificate, a new CA or a new certificate setting waits for the lock.

use std::path::Path;

use super::*;
use crate::net::LanSource;

struct NoLan;

impl LanSource for NoLan {
    fn scan(&self) -> Vec<LanInterface> {
        Vec::new()
    }
}

/// Takes the data dir's lock on a handle of its own, and lets go after `hold` on a plain thread.
fn hold_lock(dir: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let path = dir.join("cert.lock");
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).unwrap();
    file.lock().unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(hold);
        // Closing the handle releases the lock too: wine's UnlockFile fails (ERROR_LOCK_VIOLATION)
        // while the gate's other handle waits in LockFileEx.
        let _ = file.unlock();
        drop(file);
    })
}

/// Runs `work`, and returns with its output the longest gap between the ticks of a task that
/// wakes every 5 ms meanwhile.
async fn longest_stall<T>(work: impl Future<Output = T>) -> (T, Duration) {
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let ticker = tokio::spawn(async move {
        let (mut last, mut worst) = (Instant::now(), Duration::ZERO);
        loop {
            tokio::select! {
                _ = stopped.cancelled() => return worst.max(last.elapsed()),
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
            worst = worst.max(last.elapsed());
            last = Instant::now();
        }
    });
    tokio::task::yield_now().await;
    let out = work.await;
    stop.cancel();
    (out, ticker.await.unwrap_or_default())
}

// The default test runtime has one thread: certificate work on it would stop every other task.
#[tokio::test]
async fn certificate_work_waits_for_the_lock_off_the_async_threads() {
    const HELD: Duration = Duration::from_millis(500);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let config = Config { listen, data_dir: dir.path().to_path_buf(), ..Config::default() };
    let parts = Parts { lan: Arc::new(NoLan), ..Parts::default() };

    let held = hold_lock(dir.path(), HELD);
    let (gw, stall) = longest_stall(Gateway::start_parts(config, parts)).await;
    let gw = gw.unwrap();
    held.join().unwrap();
    println!("start: longest stall {stall:?} while the lock was held {HELD:?}");
    assert!(gw.status().borrow().cert.is_some(), "a certificate once the lock was free");
    assert!(stall < HELD / 2, "start: the runtime stalled {stall:?}");

    for what in ["regenerate_cert", "rotate_ca", "apply_config"] {
        let held = hold_lock(dir.path(), HELD);
        let (result, stall) = longest_stall(async {
            match what {
                "regenerate_cert" => gw.regenerate_cert().await.map(drop),
                "rotate_ca" => gw.rotate_ca().await.map(drop),
                _ => {
                    let mut config = gw.config();
                    config.cert_hostnames = vec!["gate.lan".into()];
                    gw.apply_config(config).await
                }
            }
        })
        .await;
        held.join().unwrap();
        result.unwrap_or_else(|e| panic!("{what}: {e}"));
        println!("{what}: longest stall {stall:?}");
        assert!(stall < HELD / 2, "{what}: the runtime stalled {stall:?}");
    }
    assert!(gw.status().borrow().cert.as_ref().is_some_and(|c| c.sans.contains(&"gate.lan".to_string())));
    gw.shutdown().await;
}

/// A CA pair that stays mismatched while the gate runs: one line when it is seen, one when it is
/// rewritten from the CA in use, then quiet (it was a warning at every LAN scan).
#[tokio::test]
async fn a_ca_pair_that_stays_mismatched_is_said_once_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config =
        Config { listen: ([127, 0, 0, 1], port).into(), data_dir: dir.path().to_path_buf(), ..Config::default() };
    config.lan_scan_interval = Duration::from_millis(50);
    let gw = Gateway::start_parts(config, Parts { lan: Arc::new(NoLan), ..Parts::default() }).await.unwrap();
    let key_path = dir.path().join("ca-key.pem");
    let key = std::fs::read(&key_path).unwrap();
    let other = tempfile::tempdir().unwrap();
    CertManager::new(other.path(), None, vec![]).ensure(&[]).unwrap();
    std::fs::write(&key_path, std::fs::read(other.path().join("ca-key.pem")).unwrap()).unwrap();
    let at = Instant::now();
    while std::fs::read(&key_path).unwrap() != key {
        assert!(at.elapsed() < Duration::from_secs(10), "not rewritten");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Ten scans more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let st = gw.status().borrow().clone();
    let lines: Vec<&str> = st.log.iter().map(|l| l.msg.as_str()).filter(|m| m.contains("ca-key.pem")).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].contains("does not match") && lines[0].contains("at the next check"), "{}", lines[0]);
    assert!(lines[1].contains("at two checks in a row") && lines[1].contains("rewrote the CA in use"), "{}", lines[1]);
    assert_eq!(st.cert.and_then(|c| c.ca).and_then(|ca| ca.damaged), None);
    gw.shutdown().await;
}
