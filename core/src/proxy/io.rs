//! Connection-level I/O helpers: telling TLS from plain HTTP on the first byte, canned answers for
//! connections hyper never sees, and the request-head deadline (408) wrapped around the TLS stream,
//! which starts only once the previous answer is written whole (`HeadAfterBody` says when hyper is
//! done with the body; the last write says when the bytes left), and the write-stall limit that
//! closes a connection whose client stops reading.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::response::{canned_response, Body};

#[derive(Debug, PartialEq, Eq)]
pub enum FirstBytes {
    Tls,
    PlainHttp,
    Other,
    Closed,
}

/// Peeks (without consuming) at what the client speaks: a TLS record starts with 0x16 (handshake).
pub async fn sniff(tcp: &TcpStream) -> io::Result<FirstBytes> {
    let mut b = [0u8; 1];
    let n = tcp.peek(&mut b).await?;
    Ok(match (n, b[0]) {
        (0, _) => FirstBytes::Closed,
        (_, 0x16) => FirstBytes::Tls,
        (_, c) if c.is_ascii_uppercase() => FirstBytes::PlainHttp,
        _ => FirstBytes::Other,
    })
}

/// Reads what the client sent (so closing does not reset the connection before it reads our answer),
/// then writes `response` and closes. Bounded in bytes and time.
pub async fn drain_and_answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, response: &[u8]) {
    let mut buf = vec![0u8; 4096];
    let mut seen: Vec<u8> = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while seen.len() < 16 * 1024 {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = s.write_all(response).await;
        let _ = s.flush().await;
        let _ = s.shutdown().await;
    })
    .await;
}

/// The error a write ends with (kind `TimedOut`) when it moved no byte at all for the stall limit
/// (`timeouts.write_stall`: the client reads nothing while an answer or a tunnel waits for it),
/// which closes the connection and frees its slot. Any progress, even one byte, restarts the
/// clock: a slow reader at any rate keeps its download. Its own type, so the tunnel can tell the
/// gate's decision from a network error ([`write_stalled`]).
#[derive(Debug)]
pub struct WriteStalled(pub Duration);

impl std::fmt::Display for WriteStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the client read nothing for {:?}", self.0)
    }
}

impl std::error::Error for WriteStalled {}

/// The stall limit, when `e` is the gate giving up on a client that stopped reading.
pub fn write_stalled(e: &io::Error) -> Option<Duration> {
    e.get_ref()?.downcast_ref::<WriteStalled>().map(|s| s.0)
}

enum Deadline {
    Idle,
    Armed,
    /// Writing the 408 answer; offset into it.
    Answering(usize),
    /// Flushing and closing (TLS close_notify) after the answer.
    Closing,
    Done,
}

/// Wraps the TLS stream under hyper: while a request head is awaited (`awaiting` set once hyper is
/// done with the previous answer's body, see [`HeadAfterBody`]), a deadline runs; when it passes, a
/// first or partly received head gets `408 Request Timeout` and the connection is closed (an idle
/// keep-alive connection is just closed). The deadline counts from the last write too, and stands
/// still while a write waits for the client to read: what hyper still had buffered of the answer
/// must reach a slow reader (a headset on weak Wi-Fi) whole. After an upgrade `awaiting` stays false
/// and this is a pass-through. Throughout, a write (or flush, or close) that moves nothing for
/// the stall limit fails with [`WriteStalled`]: else a client that stops reading mid-answer would
/// hold its connection, and a `max_connections` slot, forever.
pub struct HeadDeadlineIo<I> {
    inner: I,
    awaiting: Arc<AtomicBool>,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    deadline: Deadline,
    /// Bytes read since the deadline was armed.
    bytes_in_head: usize,
    /// Requests the service has seen, and how many it had when the deadline was armed: a change
    /// means the head being timed arrived, even if `awaiting` was set again before we looked.
    served: Arc<AtomicU64>,
    armed_after: u64,
    /// The last write or flush waited for the client to read (the deadline stands still).
    write_blocked: bool,
    /// The reader that found the deadline standing still.
    read_waker: Option<Waker>,
    answer: Arc<[u8]>,
    /// Runs while a write waits for the client to read (`stalling`: which one); reset by progress.
    stall: Pin<Box<Sleep>>,
    stalling: Option<Op>,
    stall_limit: Duration,
}

/// The kind of write call that waits: only a finished write of the same kind is progress (a plain
/// stream's flush is always ready, even while a write waits).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Write,
    Flush,
    Shutdown,
}

impl<I> HeadDeadlineIo<I> {
    /// `timeout`: the request head's; `stall_limit`: how long a write may wait for the client.
    pub fn new(
        inner: I,
        awaiting: Arc<AtomicBool>,
        served: Arc<AtomicU64>,
        timeout: Duration,
        stall_limit: Duration,
    ) -> Self {
        Self {
            inner,
            awaiting,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            deadline: Deadline::Idle,
            bytes_in_head: 0,
            served,
            armed_after: 0,
            write_blocked: false,
            read_waker: None,
            answer: canned_response("408 Request Timeout", "The request head did not arrive within the time limit.\n")
                .into(),
            stall: Box::pin(tokio::time::sleep(stall_limit)),
            stalling: None,
            stall_limit,
        }
    }

    /// A write, flush or close is waiting for the client: starts the stall clock if it is not
    /// running and says whether it has run out (the caller then gives up the write).
    fn stalled(&mut self, cx: &mut Context<'_>, op: Op) -> bool {
        if self.stalling.is_none() {
            self.stalling = Some(op);
            self.stall.as_mut().reset(Instant::now() + self.stall_limit);
        }
        self.stall.as_mut().poll(cx).is_ready()
    }

    /// Ends a waiting write with `TimedOut` once the stall limit has passed. Progress stops the
    /// clock: a write that took bytes, or the flush or close that was waiting finishing.
    fn watch<T>(&mut self, cx: &mut Context<'_>, op: Op, r: Poll<io::Result<T>>, moved: bool) -> Poll<io::Result<T>> {
        match r {
            Poll::Pending if self.stalled(cx, op) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, WriteStalled(self.stall_limit))))
            }
            Poll::Pending => Poll::Pending,
            r => {
                if moved || (op != Op::Write && self.stalling == Some(op)) {
                    self.stalling = None;
                }
                r
            }
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadDeadlineIo<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match this.deadline {
                Deadline::Done => return Poll::Ready(Ok(())),
                Deadline::Closing => {
                    if Pin::new(&mut this.inner).poll_shutdown(cx).is_pending() && !this.stalled(cx, Op::Shutdown) {
                        return Poll::Pending;
                    }
                    this.deadline = Deadline::Done;
                    continue;
                }
                Deadline::Answering(off) => {
                    let answer = this.answer.clone();
                    if off >= answer.len() {
                        this.deadline = Deadline::Closing;
                        continue;
                    }
                    match Pin::new(&mut this.inner).poll_write(cx, &answer[off..]) {
                        Poll::Ready(Ok(n)) if n > 0 => {
                            this.stalling = None;
                            this.deadline = Deadline::Answering(off + n);
                        }
                        Poll::Pending if !this.stalled(cx, Op::Write) => return Poll::Pending,
                        _ => this.deadline = Deadline::Done,
                    }
                    continue;
                }
                Deadline::Idle => {
                    if this.awaiting.load(Ordering::Acquire) {
                        let at = Instant::now() + this.timeout;
                        this.sleep.as_mut().reset(at);
                        this.bytes_in_head = 0;
                        this.armed_after = this.served.load(Ordering::Acquire);
                        this.deadline = Deadline::Armed;
                        continue;
                    }
                }
                Deadline::Armed => {
                    let served = this.served.load(Ordering::Acquire);
                    if !this.awaiting.load(Ordering::Acquire) || served != this.armed_after {
                        this.deadline = Deadline::Idle;
                        continue;
                    }
                    if this.write_blocked {
                        // Woken when the write moves again, to poll the deadline it restarts.
                        this.read_waker = Some(cx.waker().clone());
                    } else if this.sleep.as_mut().poll(cx).is_ready() {
                        let first = this.armed_after == 0;
                        this.deadline =
                            if first || this.bytes_in_head > 0 { Deadline::Answering(0) } else { Deadline::Done };
                        continue;
                    }
                }
            }
            let before = buf.filled().len();
            let r = Pin::new(&mut this.inner).poll_read(cx, buf);
            if matches!(this.deadline, Deadline::Armed) {
                this.bytes_in_head += buf.filled().len() - before;
            }
            return r;
        }
    }
}

impl<I> HeadDeadlineIo<I> {
    /// Notes how a write or flush went: bytes that left restart a running deadline from now.
    fn wrote<T>(&mut self, r: &Poll<io::Result<T>>, moved: bool) {
        match r {
            Poll::Pending => self.write_blocked = true,
            Poll::Ready(Ok(_)) if moved || self.write_blocked => {
                self.write_blocked = false;
                if matches!(self.deadline, Deadline::Armed) {
                    self.sleep.as_mut().reset(Instant::now() + self.timeout);
                }
                if let Some(w) = self.read_waker.take() {
                    w.wake();
                }
            }
            Poll::Ready(_) => {}
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for HeadDeadlineIo<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        let moved = matches!(r, Poll::Ready(Ok(n)) if n > 0);
        self.wrote(&r, moved);
        self.watch(cx, Op::Write, r, moved)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // hyper flushes on every turn of its loop: an idle flush is not activity (else a client
        // sending a byte now and then would keep pushing the deadline back).
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(&r, false);
        self.watch(cx, Op::Flush, r, false)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The TLS close_notify waits behind unread bytes too.
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, Op::Shutdown, r, false)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        let moved = matches!(r, Poll::Ready(Ok(n)) if n > 0);
        self.wrote(&r, moved);
        self.watch(cx, Op::Write, r, moved)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An answer's body that sets `awaiting` (the connection awaits its next request head) when hyper
/// is done with it: sent to the last frame, failed, or dropped unsent (HEAD). Until then the head
/// deadline does not run, however long a slow reader or a slow backend takes.
pub struct HeadAfterBody {
    inner: Body,
    awaiting: Arc<AtomicBool>,
}

impl HeadAfterBody {
    pub fn new(inner: Body, awaiting: Arc<AtomicBool>) -> Self {
        Self { inner, awaiting }
    }
}

impl hyper::body::Body for HeadAfterBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for HeadAfterBody {
    fn drop(&mut self) {
        self.awaiting.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(10);
    const WRITE_STALL_LIMIT: Duration = Duration::from_secs(60);

    /// hyper's view of a connection after an answer: awaiting the next head, writing the tail of
    /// the answer; the client at the other end of a small pipe. (Requests served: one.)
    fn after_one_answer() -> (HeadDeadlineIo<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (server, client) = tokio::io::duplex(1024);
        let io = HeadDeadlineIo::new(
            server,
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicU64::new(1)),
            HEAD,
            WRITE_STALL_LIMIT,
        );
        (io, client)
    }

    /// A slow reader takes a minute over the tail of an answer and stalls longer than the head
    /// deadline once: the connection is kept while the write waits, and closed (no 408: it is
    /// idle) one head deadline after the last byte left.
    #[tokio::test(start_paused = true)]
    async fn the_head_deadline_stands_still_while_a_write_waits_and_counts_from_the_last_byte() {
        let (io, mut client) = after_one_answer();
        let (mut r, mut w) = tokio::io::split(io);
        let closed = tokio::spawn(async move {
            let mut b = [0u8; 16];
            let n = r.read(&mut b).await.unwrap();
            (n, Instant::now())
        });
        let tail = vec![7u8; 64 * 1024];
        let writer = tokio::spawn(async move {
            w.write_all(&tail).await.unwrap();
            w.flush().await.unwrap();
            Instant::now()
        });
        let mut got = 0;
        let mut b = vec![0u8; 1024];
        while got < 64 * 1024 {
            let pause = if got == 16 * 1024 { HEAD + HEAD / 2 } else { Duration::from_secs(1) };
            tokio::time::sleep(pause).await;
            got += client.read(&mut b).await.unwrap();
            assert!(!closed.is_finished(), "closed while the answer was still going out ({got} bytes read)");
        }
        let last_byte = writer.await.unwrap();
        let (n, at) = tokio::time::timeout(HEAD * 100, closed).await.expect("never closed").unwrap();
        assert_eq!(n, 0, "an idle connection is just closed");
        assert_eq!(at - last_byte, HEAD);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    }

    /// Flushes with nothing to send (hyper flushes on every turn) do not push the deadline back,
    /// so a client dribbling a head still gets its 408 on time.
    #[tokio::test(start_paused = true)]
    async fn idle_flushes_do_not_extend_the_deadline() {
        let (io, mut client) = after_one_answer();
        let (mut r, mut w) = tokio::io::split(io);
        let started = Instant::now();
        let server = tokio::spawn(async move {
            let mut b = [0u8; 16];
            loop {
                let n = r.read(&mut b).await.unwrap();
                w.flush().await.unwrap();
                if n == 0 {
                    return Instant::now();
                }
            }
        });
        let mut answer = Vec::new();
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if server.is_finished() {
                break;
            }
            let _ = client.write_all(b"G").await;
        }
        let closed_at = server.await.unwrap();
        assert_eq!(closed_at - started, HEAD);
        client.read_to_end(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&answer));
    }

    /// A client that reads the first bytes of an answer and then nothing: the write fails with
    /// `TimedOut` exactly one stall limit after the last byte moved (which closes the connection
    /// and frees its slot), even with the head deadline standing still.
    #[tokio::test(start_paused = true)]
    async fn a_write_the_client_never_reads_fails_at_the_stall_limit() {
        let (io, mut client) = after_one_answer();
        let (_r, mut w) = tokio::io::split(io);
        let writer = tokio::spawn(async move {
            let r = w.write_all(&vec![7u8; 64 * 1024]).await;
            (r, Instant::now())
        });
        let mut b = vec![0u8; 100];
        client.read_exact(&mut b).await.unwrap();
        let last_read = Instant::now();
        let (r, at) = tokio::time::timeout(WRITE_STALL_LIMIT * 10, writer).await.expect("never cut").unwrap();
        let e = r.expect_err("the write went through");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(write_stalled(&e), Some(WRITE_STALL_LIMIT), "{e}");
        assert_eq!(write_stalled(&io::Error::new(io::ErrorKind::TimedOut, "a network timeout")), None);
        assert_eq!(at - last_read, WRITE_STALL_LIMIT);
    }

    /// A reader taking one byte just inside each stall limit gets the whole answer: any progress
    /// restarts the clock, so no rate is too slow, only a full stop.
    #[tokio::test(start_paused = true)]
    async fn a_trickling_reader_is_never_cut() {
        let (io, mut client) = after_one_answer();
        let (_r, mut w) = tokio::io::split(io);
        let extra = 5;
        let writer = tokio::spawn(async move {
            w.write_all(&vec![7u8; 1024 + extra]).await?;
            w.flush().await
        });
        let started = Instant::now();
        let mut b = [0u8; 1];
        for _ in 0..extra {
            tokio::time::sleep(WRITE_STALL_LIMIT - Duration::from_secs(1)).await;
            assert!(!writer.is_finished(), "the write ended early");
            client.read_exact(&mut b).await.unwrap();
        }
        writer.await.unwrap().expect("a trickling reader was cut");
        assert!(started.elapsed() > WRITE_STALL_LIMIT * 4);
        let mut rest = vec![0u8; 1024];
        client.read_exact(&mut rest).await.unwrap();
    }
}
