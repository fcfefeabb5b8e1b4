//! A standalone WebSocket echo backend (the `cxr_gate_core::demo::EchoServer`) in its own process,
//! so the benchmark measures the proxies against a backend that does not share their CPU accounting.
//!
//! `echo-server [--listen 127.0.0.1:0] [--stdin-lifetime]` prints `listening on ADDR` on stdout
//! once it accepts connections, then serves until SIGINT or SIGTERM (or, with `--stdin-lifetime`,
//! until its stdin closes: a parent that dies cannot leave it behind).

use std::net::SocketAddr;
use std::process::ExitCode;

use cxr_gate_core::demo::EchoServer;
use tokio::io::AsyncReadExt;

const USAGE: &str = "usage: echo-server [--listen ADDR:PORT] [--stdin-lifetime]   (default 127.0.0.1:0; loopback only)";

struct Args {
    listen: SocketAddr,
    stdin_lifetime: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let mut stdin_lifetime = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => {
                let v = args.next().ok_or("--listen needs ADDR:PORT")?;
                listen = v.parse().map_err(|_| format!("--listen {v:?}: expected ADDR:PORT"))?;
            }
            "--stdin-lifetime" => stdin_lifetime = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if !listen.ip().is_loopback() {
        return Err(format!("--listen {listen}: only loopback addresses are allowed"));
    }
    Ok(Args { listen, stdin_lifetime })
}

async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

#[cfg(unix)]
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let Args { listen, stdin_lifetime } = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let server = match EchoServer::start(listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo-server: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    println!("listening on {}", server.addr());

    let parent_gone = async {
        if stdin_lifetime {
            stdin_closed().await
        } else {
            std::future::pending().await
        }
    };
    tokio::select! {
        _ = parent_gone => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated() => {}
    }
    server.stop().await;
    ExitCode::SUCCESS
}
