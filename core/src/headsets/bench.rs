//! The headset book's cost per request, for docs/BENCHMARKS.md: a measurement, not a test (it
//! asserts nothing and is `#[ignore]`d). Run it with
//! `cargo test --release -p cxr-gate-core --lib headsets::bench -- --ignored --nocapture`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::advice::Context;
use super::book::{Book, Handshake, Page, CAP};

use super::QUEST_3_UA as QUEST;

fn peers() -> Vec<SocketAddr> {
    (0..CAP as u32).map(|i| SocketAddr::from(([10, 0, (i / 250) as u8, (1 + i % 250) as u8], 50000))).collect()
}

/// A full book of trusted headsets, and each one's connection.
fn full_book() -> (Book, Vec<(SocketAddr, Handshake)>) {
    let book = Book::default();
    let local: SocketAddr = "192.168.1.10:48322".parse().unwrap();
    let mut conns = Vec::new();
    for p in peers() {
        let hs = book.tls_trusted(p, local, Some("AA"));
        book.request(p, local, &hs, Some(QUEST), Page::Trust);
        conns.push((p, hs));
    }
    (book, conns)
}

/// Requests per second from `threads` threads, each `n` requests on `page` round the book.
fn rate(book: &Arc<Book>, conns: &[(SocketAddr, Handshake)], threads: usize, n: usize, page: Page) -> f64 {
    let local: SocketAddr = "192.168.1.10:48322".parse().unwrap();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for i in 0..n {
                    let (peer, hs) = &conns[i % conns.len()];
                    book.request(*peer, local, hs, Some(QUEST), page);
                }
            });
        }
    });
    (threads * n) as f64 / t0.elapsed().as_secs_f64()
}

#[test]
#[ignore]
fn requests_per_second() {
    let (book, conns) = full_book();
    let book = Arc::new(book);
    let _ = rate(&book, &conns, 1, 200_000, Page::Other);
    let n = 1_000_000;
    let mut rows = Vec::new();
    for round in 0..3 {
        let other = rate(&book, &conns, 1, n, Page::Other);
        let app = rate(&book, &conns, 1, n, Page::App);
        // Two request threads while a third renders the whole book without pause (the
        // publisher renders at most four times a second: this is the worst case for the lock).
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (contended, renders) = std::thread::scope(|s| {
            let r = s.spawn(|| {
                let mut k = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::black_box(book.render(Context::default()));
                    k += 1;
                }
                k
            });
            let t0 = Instant::now();
            let c = rate(&book, &conns, 2, n / 2, Page::App);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let k = r.join().unwrap_or(0);
            (c, k as f64 / t0.elapsed().as_secs_f64())
        });
        let t0 = Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(book.render(Context::default()));
        }
        let render_us = t0.elapsed().as_secs_f64() * 1e6 / 1000.0;
        println!(
            "round {round}: known headset, other page {other:.0}/s; /app/ {app:.0}/s; /app/ from 2 threads while \
             a 3rd renders {contended:.0}/s ({renders:.0} renders/s); render of {CAP}: {render_us:.1} µs"
        );
        rows.push((other, app, contended, render_us));
    }
    let med = |f: fn(&(f64, f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = rows.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "median: other page {:.0}/s, /app/ {:.0}/s, contended /app/ {:.0}/s, render {:.1} µs",
        med(|r| r.0),
        med(|r| r.1),
        med(|r| r.2),
        med(|r| r.3)
    );
}
