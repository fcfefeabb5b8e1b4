//! The CA's files against real files in a temp dir: damage while running (rewritten from memory; a
//! pair that does not match, once it persists), damage between runs (put back from the kept copy,
//! or refused: never a third CA), a rotation killed after any rename, rotations racing a running
//! gate, a start that lets a writer finish, and the limit on the wait for the lock.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::super::tests::{saved_ca, write};
use super::super::{CertEvent, CertManager};
use super::{load_ca, ON_PAUSE};
use crate::status::CertInfo;
use crate::tls::lock::LOCK_WAIT;
use crate::tls::store::{crash, Store, CA_COPY_FILE, CA_FILE, CA_KEY_COPY_FILE, CA_KEY_FILE, LOCK_FILE};
use crate::tls::TlsError;
use rustls_pki_types::pem::PemObject;

fn ca_fp(info: &CertInfo) -> String {
    info.ca.as_ref().expect("a generated certificate has a CA").fingerprint_sha256.clone()
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    fs::read(dir.join(file)).unwrap_or_default()
}

/// The CA `ca.pem` and `ca-key.pem` hold, if they are a pair.
fn on_disk(dir: &Path) -> Option<String> {
    load_ca(&Store::new(dir)).ok().flatten().map(|l| l.ca.facts.fingerprint)
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn fresh(dir: &Path) -> CertManager {
    CertManager::new(dir, None, vec![])
}

#[test]
fn damaged_ca_files_are_rewritten_while_running_and_put_back_from_the_copy_between_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mgr = fresh(dir);
    let first = mgr.ensure(&[]).unwrap();
    let ca = ca_fp(&first);
    let ca_bytes = read(dir, CA_FILE);
    // A copy of the pair is kept beside it.
    assert_eq!(read(dir, CA_COPY_FILE), ca_bytes);
    assert_eq!(read(dir, CA_KEY_COPY_FILE), read(dir, CA_KEY_FILE));
    // While running: deleted or garbled files come back from memory, same CA, same certificate.
    fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
    let info = mgr.ensure(&[]).unwrap();
    assert_eq!(info.fingerprint_sha256, first.fingerprint_sha256);
    assert!(dir.join(CA_KEY_FILE).exists());
    let events = mgr.take_events();
    assert!(
        matches!(events.as_slice(), [CertEvent::Repaired(what)] if what.contains("ca-key.pem was deleted")),
        "{events:?}"
    );
    assert!(mgr.take_events().is_empty(), "an event is reported once");
    write(&dir.join(CA_FILE), "garbage");
    mgr.ensure(&[]).unwrap();
    assert_eq!(read(dir, CA_FILE), ca_bytes);

    // Between runs the key is lost: put back from the copy, and said; same CA, same certificate.
    fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
    let info = fresh(dir).ensure(&[]).unwrap();
    assert_eq!(ca_fp(&info), ca);
    assert_eq!(info.fingerprint_sha256, first.fingerprint_sha256, "headsets keep trusting it");
    assert!(!info.changed_since_last_run && !info.ca.as_ref().unwrap().changed_since_last_run);
    let notice = info.notice.unwrap_or_default();
    assert!(notice.contains("put back the CA from ca.pem and ca-key.pem.bak"), "{notice}");
    assert_eq!(on_disk(dir).as_ref(), Some(&ca));
    // The certificate garbled and its copy gone: the one in cert.pem's chain.
    write(&dir.join(CA_FILE), "garbage");
    fs::remove_file(dir.join(CA_COPY_FILE)).unwrap();
    let info = fresh(dir).ensure(&[]).unwrap();
    assert_eq!(ca_fp(&info), ca);
    let notice = info.notice.unwrap_or_default();
    assert!(notice.contains("from the chain in cert.pem and ca-key.pem"), "{notice}");
    assert_eq!(read(dir, CA_FILE), ca_bytes);
    assert_eq!(read(dir, CA_COPY_FILE), ca_bytes, "the copy is made again");

    // Both keys lost: a CA devices may trust, and nothing to sign with it. Refused, nothing written.
    fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
    fs::remove_file(dir.join(CA_KEY_COPY_FILE)).unwrap();
    let mgr = fresh(dir);
    let err = mgr.ensure(&[]).unwrap_err();
    assert!(matches!(err, TlsError::CaLost { .. }), "{err}");
    let msg = err.to_string();
    for part in
        ["ca-key.pem: the file is missing", "ca.pem.bak", "does not replace it on its own", "--rotate-ca", "New CA…"]
    {
        assert!(msg.contains(part), "{part:?} in {msg}");
    }
    assert!(mgr.info().is_none(), "nothing served");
    assert_eq!(read(dir, CA_FILE), ca_bytes);
    assert!(!dir.join(CA_KEY_FILE).exists() && !dir.join(CA_KEY_COPY_FILE).exists());
    // The next check says the same (without the pauses for a writer in progress).
    let t = Instant::now();
    assert!(matches!(mgr.ensure(&[]), Err(TlsError::CaLost { .. })));
    assert!(t.elapsed() < Duration::from_millis(300), "{:?}", t.elapsed());
    // The user's word makes a new one.
    let info = mgr.rotate_ca(&[], "the old key is lost").unwrap();
    assert_ne!(ca_fp(&info), ca);
    assert!(info.ca.as_ref().unwrap().changed_since_last_run);
    assert_eq!(read(dir, CA_COPY_FILE), read(dir, CA_FILE));
}

#[test]
fn a_ca_rotated_by_another_process_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let running = fresh(dir.path());
    let first = running.ensure(&[]).unwrap();
    // `cxr-gate-proxy --rotate-ca` on the same data dir.
    let rotated = fresh(dir.path()).rotate_ca(&[], "from the command line").unwrap();
    let info = running.ensure(&[]).unwrap();
    assert_eq!(ca_fp(&info), ca_fp(&rotated));
    assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(info.fingerprint_sha256, rotated.fingerprint_sha256, "the rotation's certificate, not a third");
    assert!(saved_ca(dir.path()).signed(&running.cert_der().unwrap()));
}

#[test]
fn a_mismatched_ca_pair_is_rewritten_from_memory_once_it_persists() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mgr = fresh(dir);
    let first = mgr.ensure(&[]).unwrap();
    let first_key = read(dir, CA_KEY_FILE);
    let other = tempfile::tempdir().unwrap();
    fresh(other.path()).ensure(&[]).unwrap();
    let new_key = read(other.path(), CA_KEY_FILE);
    // Halfway through a replacement by a writer outside the lock: a new key beside the old CA.
    // Left alone at this check, and shown.
    fs::write(dir.join(CA_KEY_FILE), &new_key).unwrap();
    let info = mgr.ensure(&[]).unwrap();
    assert_eq!(info.fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(read(dir, CA_KEY_FILE), new_key, "not written back yet");
    let damaged = info.ca.unwrap().damaged.unwrap_or_default();
    assert!(damaged.contains("does not match") && damaged.contains("at the next check"), "{damaged}");
    assert!(mgr.take_events().is_empty());
    // The writer finishes before the next check: its CA is taken up, nothing is rewritten.
    fs::copy(other.path().join(CA_FILE), dir.join(CA_FILE)).unwrap();
    let info = mgr.ensure(&[]).unwrap();
    let taken = saved_ca(other.path()).facts.fingerprint;
    assert_eq!(ca_fp(&info), taken);
    assert_eq!(info.ca.as_ref().unwrap().damaged, None);
    assert!(mgr.take_events().is_empty());
    assert_eq!(read(dir, CA_KEY_COPY_FILE), new_key, "the copy follows the CA in use");

    // A pair that stays mismatched (a writer that died, a sync tool): rewritten from memory at the
    // second check, and said once.
    let (in_use, in_use_key) = (read(dir, CA_FILE), read(dir, CA_KEY_FILE));
    fs::write(dir.join(CA_KEY_FILE), &first_key).unwrap();
    let seen = mgr.ensure(&[]).unwrap();
    assert!(seen.ca.as_ref().unwrap().damaged.is_some());
    assert!(mgr.take_events().is_empty());
    assert_eq!(read(dir, CA_KEY_FILE), first_key);
    let repaired = mgr.ensure(&[]).unwrap();
    assert_eq!((read(dir, CA_FILE), read(dir, CA_KEY_FILE)), (in_use, in_use_key));
    assert_eq!(repaired.ca.as_ref().unwrap().damaged, None);
    assert_eq!(ca_fp(&repaired), taken);
    let events = mgr.take_events();
    assert!(
        matches!(events.as_slice(), [CertEvent::Repaired(what)] if what.contains("at two checks in a row")),
        "{events:?}"
    );
    mgr.ensure(&[]).unwrap();
    assert!(mgr.take_events().is_empty(), "said once");
    // The next start finds the CA in use, and its certificate: nothing new.
    let next = fresh(dir).ensure(&[]).unwrap();
    assert_eq!(next.fingerprint_sha256, repaired.fingerprint_sha256);
}

#[test]
fn a_rotation_killed_after_any_rename_leaves_the_old_ca_or_the_new_one_and_says_which() {
    let mut points = 0;
    for n in 0.. {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let old = ca_fp(&fresh(dir).ensure(&[]).unwrap());
        // A gate that runs through it.
        let running = fresh(dir);
        running.ensure(&[]).unwrap();
        let pair_before = (read(dir, CA_FILE), read(dir, CA_KEY_FILE));
        // `--rotate-ca`, killed after `n` renames (each file is written whole, then renamed).
        crash::after(Some(n));
        let rotated = fresh(dir).rotate_ca(&[], "killed");
        let died = crash::died();
        crash::after(None);
        let new = ca_fp(&rotated.unwrap());
        if !died {
            break;
        }
        points += 1;
        let pair_touched = (read(dir, CA_FILE), read(dir, CA_KEY_FILE)) != pair_before;

        // A start: the old CA or the new one, never a third, and never without saying so.
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir, copy.path());
        let info = fresh(copy.path()).ensure(&[]).unwrap_or_else(|e| panic!("killed after {n} renames: {e}"));
        let got = ca_fp(&info);
        assert!(got == old || got == new, "killed after {n} renames: a third CA");
        if got == new {
            assert!(info.ca.as_ref().unwrap().changed_since_last_run, "killed after {n}: the new CA, said as new");
        } else if pair_touched {
            let notice = info.notice.clone().unwrap_or_default();
            assert!(notice.contains("put back the CA"), "killed after {n}: {notice:?}");
        }
        assert_eq!(on_disk(copy.path()).as_ref(), Some(&got), "killed after {n}: the pair is whole again");
        assert_eq!(read(copy.path(), CA_COPY_FILE), read(copy.path(), CA_FILE));
        assert_eq!(read(copy.path(), CA_KEY_COPY_FILE), read(copy.path(), CA_KEY_FILE));

        // The running gate ends with the same CA (at its second check at the latest), and the
        // start after it serves the same certificate.
        running.ensure(&[]).unwrap();
        let ran = running.ensure(&[]).unwrap();
        assert_eq!(ca_fp(&ran), got, "killed after {n}: the running gate");
        let next = fresh(dir).ensure(&[]).unwrap();
        assert_eq!(next.fingerprint_sha256, ran.fingerprint_sha256, "killed after {n}: no third certificate");
    }
    println!("{points} crash points");
    // The CA pair, its copy, the certificate pair (2 renames each), before the first rename.
    assert!(points >= 7, "{points}");
}

#[test]
fn a_start_pausing_on_a_pair_mid_replacement_lets_the_writer_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let first = fresh(&dir).ensure(&[]).unwrap();
    let other = tempfile::tempdir().unwrap();
    fresh(other.path()).ensure(&[]).unwrap();
    let theirs = saved_ca(other.path()).facts.fingerprint;
    // A writer outside the process has put the new key and waits for the lock to put the certificate.
    fs::copy(other.path().join(CA_KEY_FILE), dir.join(CA_KEY_FILE)).unwrap();
    let pauses = Arc::new(AtomicUsize::new(0));
    let (d, o, p) = (dir.clone(), other.path().to_path_buf(), pauses.clone());
    ON_PAUSE.with(|hook| {
        *hook.borrow_mut() = Some(Box::new(move || {
            p.fetch_add(1, Relaxed);
            let lock = Store::new(&d).lock(Duration::from_millis(200)).expect("the lock while the start pauses");
            fs::copy(o.join(CA_FILE), d.join(CA_FILE)).unwrap();
            drop(lock);
        }))
    });
    let info = fresh(&dir).ensure(&[]);
    ON_PAUSE.with(|hook| hook.borrow_mut().take());
    let info = info.unwrap();
    assert_eq!(pauses.load(Relaxed), 1);
    assert_eq!(ca_fp(&info), theirs, "the writer's CA, not a third");
    assert_ne!(ca_fp(&info), ca_fp(&first));
    assert_eq!(info.notice, None, "nothing was put back");
}

#[test]
fn a_lock_held_elsewhere_ends_the_wait_at_the_limit_naming_the_file_and_its_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let limit = Duration::from_millis(300);
    let mgr = Arc::new(fresh(dir).with_lock_wait(limit));
    mgr.ensure(&[]).unwrap();
    // Another holder (another handle on the lock file, as another process has).
    let held = Store::new(dir).lock(LOCK_WAIT).unwrap();
    type Op = fn(&CertManager) -> Result<CertInfo, TlsError>;
    let ops: [(&str, Op); 3] = [
        ("ensure", |m| m.ensure(&[])),
        ("regenerate", |m| m.regenerate(&[], "test")),
        ("rotate_ca", |m| m.rotate_ca(&[], "test")),
    ];
    for (name, op) in ops {
        let (tx, rx) = mpsc::channel();
        let m = mgr.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let result = op(&m).map(|_| ());
            let _ = tx.send((result, t.elapsed()));
        });
        let (result, waited) = rx.recv_timeout(Duration::from_secs(10)).expect("the wait ends at its limit");
        let err = result.expect_err(name);
        assert!(matches!(err, TlsError::Locked { .. }), "{name}: {err}");
        assert!(waited >= limit && waited < Duration::from_secs(5), "{name}: {waited:?}");
        let msg = err.to_string();
        assert!(msg.contains(&dir.join(LOCK_FILE).display().to_string()), "{msg}");
        // Windows refuses a read of a locked file to other handles: there the holder is unknown.
        #[cfg(unix)]
        assert!(msg.contains(&format!("held by process {} (", std::process::id())), "{msg}");
        println!("{name}: {waited:?}: {msg}");
    }
    assert!(mgr.info().is_some(), "the certificate loaded before is still served");
    // Let go: the next operation gets it, and the waiter left behind lets go of it too.
    drop(held);
    mgr.ensure(&[]).unwrap();
    Store::new(dir).lock(Duration::from_secs(2)).unwrap();
}

#[test]
fn rotations_racing_a_running_gate_never_bring_an_old_ca_back() {
    let dir = tempfile::tempdir().unwrap();
    let running = fresh(dir.path());
    let first = running.ensure(&[]).unwrap();
    let mut rotated = vec![ca_fp(&first)];
    let done = AtomicBool::new(false);
    let (gate_started, reader_started) = (AtomicBool::new(false), AtomicBool::new(false));
    let (gate_seen, (reader_seen, reads)) = std::thread::scope(|s| {
        // The running gate's LAN-scan check, back to back.
        let gate = s.spawn(|| {
            let mut seen: Vec<String> = Vec::new();
            loop {
                let ca = ca_fp(&running.ensure(&[]).unwrap());
                if seen.last() != Some(&ca) {
                    seen.push(ca);
                }
                gate_started.store(true, Relaxed);
                if done.load(Relaxed) {
                    return seen;
                }
            }
        });
        // Reading the pair as a start does: it must always be a CA and its key.
        let reader = s.spawn(|| {
            let store = Store::new(dir.path());
            let (mut seen, mut reads): (Vec<String>, u64) = (Vec::new(), 0);
            loop {
                let _lock = store.lock(LOCK_WAIT).unwrap();
                let ca = match load_ca(&store) {
                    Ok(Some(local)) => local.ca.facts.fingerprint,
                    other => panic!("read {} times, then not a CA and its key: {:?}", reads, other.err()),
                };
                if seen.last() != Some(&ca) {
                    seen.push(ca);
                }
                reads += 1;
                reader_started.store(true, Relaxed);
                if done.load(Relaxed) {
                    return (seen, reads);
                }
            }
        });
        // Both read before the first rotation, so each must see the first CA, then only newer ones.
        while !gate_started.load(Relaxed) || !reader_started.load(Relaxed) {
            std::thread::yield_now();
        }
        // `cxr-gate-proxy --rotate-ca`, again and again.
        for _ in 0..20 {
            let info = fresh(dir.path()).rotate_ca(&[], "racing").unwrap();
            rotated.push(ca_fp(&info));
        }
        done.store(true, Relaxed);
        (gate.join().unwrap(), reader.join().unwrap())
    });
    println!("20 rotations; the gate saw {} CAs, the reader {} in {reads} reads", gate_seen.len(), reader_seen.len());
    // Both saw the CAs in the order they were made, starting with the first: never an older one back.
    let order = |seen: &[String]| -> Vec<usize> {
        seen.iter().map(|fp| rotated.iter().position(|r| r == fp).expect("a CA that was made")).collect()
    };
    for (who, seen) in [("gate", &gate_seen), ("reader", &reader_seen)] {
        let order = order(seen);
        assert_eq!(order.first(), Some(&0), "the {who} saw the first CA first: {order:?}");
        assert!(order.windows(2).all(|w| w[0] < w[1]), "an older CA came back to the {who}: {order:?}");
    }
    let events = running.take_events();
    assert!(events.is_empty(), "nothing to repair: {events:?}");
    // The files hold the last CA; the gate serves the rotation's certificate from it, and so does the next start.
    let last = rotated.last().unwrap();
    assert_eq!(&saved_ca(dir.path()).facts.fingerprint, last);
    let info = running.ensure(&[]).unwrap();
    assert_eq!(&ca_fp(&info), last);
    let next = fresh(dir.path()).ensure(&[]).unwrap();
    assert_eq!(next.fingerprint_sha256, info.fingerprint_sha256, "no third certificate");
    // The certificate the gate serves chains to it.
    let served = rustls_pki_types::CertificateDer::from_pem_slice(running.cert_pem().unwrap().as_bytes()).unwrap();
    assert!(saved_ca(dir.path()).signed(served.as_ref()));
}
