//! gate-bench's processes: the echo backend, cxr-gate-proxy and HAProxy with the container's
//! configuration (spawned, killed when dropped), and what /proc says of them (RSS, CPU time).

use super::*;

// ---------------------------------------------------------------------------------------------
// Child processes

/// A spawned process that is killed (and reaped) when dropped, whatever happens.
pub(super) struct Proc {
    pub(super) name: &'static str,
    pub(super) child: Child,
    pub(super) log: Option<PathBuf>,
}

impl Proc {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails (with the end of its log) if the process has exited.
    pub(super) fn check_alive(&mut self) -> Result<()> {
        if let Some(st) = self.child.try_wait()? {
            bail!("{} exited early ({st}){}", self.name, self.log_tail());
        }
        Ok(())
    }

    pub(super) fn log_tail(&self) -> String {
        let Some(p) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("\n--- last lines of {} ---\n{tail}", p.display())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn log_file(path: &Path) -> Result<(Stdio, Stdio)> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok((Stdio::from(f.try_clone()?), Stdio::from(f)))
}

pub(super) fn start_echo(opts: &Opts, work: &Path) -> Result<(Proc, SocketAddr)> {
    if !opts.echo_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p cxr-gate-tests --bin echo-server` \
             (or set ECHO_SERVER_BIN)",
            opts.echo_bin.display()
        );
    }
    let log = work.join("echo-server.log");
    let (_, err) = log_file(&log)?;
    let mut child = Command::new(&opts.echo_bin)
        .args(["--listen", "127.0.0.1:0", "--stdin-lifetime"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", opts.echo_bin.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut proc = Proc { name: "echo-server", child, log: Some(log) };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).context("reading echo-server's address")?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| anyhow!("echo-server said {line:?}{}", proc.log_tail()))?;
    proc.check_alive()?;
    Ok((proc, addr))
}

pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind((LOOPBACK, 0))?.local_addr()?.port())
}

pub(super) fn start_gate(opts: &Opts, work: &Path, echo: SocketAddr, max_conn: usize) -> Result<(Proc, SocketAddr)> {
    if !opts.proxy_bin.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p cxr-gate-core` \
             (or set CXR_GATE_PROXY_BIN)",
            opts.proxy_bin.display()
        );
    }
    let data = work.join("gate-data");
    std::fs::create_dir_all(&data)?;
    // The web app for the /app/ row: an index and many small files, as a built web client has.
    let app = work.join("app");
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("index.html"), "<!doctype html><title>bench</title>")?;
    for i in 0..APP_FILES {
        std::fs::write(app.join(format!("f{i:03}.js")), vec![b'x'; 1024])?;
    }
    let port = free_port()?;
    let log = work.join("cxr-gate-proxy.log");
    let (out, err) = log_file(&log)?;
    let child = Command::new(&opts.proxy_bin)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--backend")
        .arg(echo.to_string())
        .arg("--data-dir")
        .arg(&data)
        .args(["--health-interval", "2s", "--rise", "2", "--fall", "3"])
        .arg("--max-connections")
        .arg(max_conn.to_string())
        .arg("--web-root")
        .arg(&app)
        // The container's variables must not leak in from the caller's environment.
        .env_remove("BACKEND_HOST")
        .env_remove("BACKEND_PORT")
        .env_remove("PROXY_PORT")
        .env_remove("CERT_HOSTNAMES")
        .env_remove("ALLOWED_BACKENDS")
        .env_remove("DATA_DIR")
        .env_remove("WEB_ROOT")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", opts.proxy_bin.display()))?;
    Ok((Proc { name: "cxr-gate-proxy", child, log: Some(log) }, SocketAddr::new(LOOPBACK, port)))
}

/// The HAProxy config of NVIDIA's `Dockerfile.wss.proxy`, with loopback addresses, the same
/// certificate as CXR Gate, `nbthread 2` and a `maxconn` that fits the idle-session row.
pub(super) fn haproxy_config(port: u16, pem: &Path, echo: SocketAddr, maxconn: usize) -> String {
    format!(
        r#"global
    log stdout local0 info
    stats timeout 30s
    maxconn {maxconn}
    nbthread 2
    ca-base /etc/ssl/certs
    crt-base /etc/ssl/private
    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

defaults
    log global
    option httplog
    option dontlognull
    option logasap
    maxconn {maxconn}
    timeout connect 5s
    timeout client 3600s
    timeout server 3600s
    timeout tunnel 3600s

frontend websocket_frontend
    log global
    bind 127.0.0.1:{port} ssl crt {pem}
    mode http
    capture request header Host len 32
    capture request header Upgrade len 32
    capture request header Connection len 32
    http-response set-header Access-Control-Allow-Origin "*"
    http-response set-header Access-Control-Allow-Headers "*"
    http-response set-header Access-Control-Allow-Methods "GET, POST, PUT, DELETE, OPTIONS"
    http-response set-header Access-Control-Expose-Headers "*"
    http-request return status 200 content-type "text/plain" string "OK" if METH_OPTIONS
    default_backend websocket_backend

backend websocket_backend
    log global
    mode http
    server local_websocket {echo} check inter 2s rise 2 fall 3 on-marked-down shutdown-sessions
"#,
        pem = pem.display()
    )
}

pub(super) fn start_haproxy(
    opts: &Opts,
    work: &Path,
    gate_data: &Path,
    echo: SocketAddr,
    maxconn: usize,
) -> Result<(Proc, SocketAddr)> {
    if !opts.haproxy_bin.exists() {
        bail!(
            "{} not found: install it with `apt-get install haproxy` (or set HAPROXY_BIN)",
            opts.haproxy_bin.display()
        );
    }
    // HAProxy's `crt` takes one combined PEM: the same certificate and key CXR Gate serves.
    let cert = std::fs::read(gate_data.join("cert.pem")).context("reading CXR Gate's cert.pem")?;
    let key = std::fs::read(gate_data.join("key.pem")).context("reading CXR Gate's key.pem")?;
    let pem = work.join("haproxy-server.pem");
    let mut combined = cert;
    if !combined.ends_with(b"\n") {
        combined.push(b'\n');
    }
    combined.extend_from_slice(&key);
    std::fs::write(&pem, combined)?;
    let port = free_port()?;
    let cfg = work.join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(port, &pem, echo, maxconn))?;
    let check = Command::new(&opts.haproxy_bin).arg("-c").arg("-f").arg(&cfg).output().context("running haproxy -c")?;
    if !check.status.success() {
        bail!(
            "haproxy rejected {}:\n{}{}",
            cfg.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let log = work.join("haproxy.log");
    let (out, err) = log_file(&log)?;
    let child = Command::new(&opts.haproxy_bin)
        .arg("-f")
        .arg(&cfg)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", opts.haproxy_bin.display()))?;
    Ok((Proc { name: "haproxy", child, log: Some(log) }, SocketAddr::new(LOOPBACK, port)))
}

pub(super) fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|| format!("({cmd} not available)"))
}

// ---------------------------------------------------------------------------------------------
// /proc readings (Linux)

pub(super) fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of the process, in seconds.
pub(super) fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is f[0]; utime is field 14, stime field 15.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks() as f64)
}

pub(super) fn clock_ticks() -> i64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            return t;
        }
    }
    100
}

pub(super) fn machine_info(opts: &Opts) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:")).map(|v| v.trim().to_string()))
        .unwrap_or_default();
    vec![
        ("CPU".into(), format!("{model} ({nproc} logical CPUs available)")),
        ("memory".into(), mem),
        ("kernel".into(), command_line("uname", &["-srm"])),
        (
            "load average (1/5/15 min) at the end".into(),
            std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        ),
        ("haproxy".into(), command_line(&opts.haproxy_bin.to_string_lossy(), &["-v"])),
        ("cxr-gate-proxy".into(), command_line(&opts.proxy_bin.to_string_lossy(), &["--version"])),
    ]
}
