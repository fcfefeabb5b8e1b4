//! gate-bench's report: the medians per target, the rows with their CXR Gate / HAProxy ratios,
//! and the Markdown table.

use super::*;

// ---------------------------------------------------------------------------------------------
// Report

#[derive(Default)]
pub(super) struct Col {
    pub(super) setup: Vec<Duration>,
    pub(super) rtt_small: Vec<Duration>,
    pub(super) rtt_large: Vec<Duration>,
    pub(super) throughput: Vec<Throughput>,
    pub(super) small_frames: Vec<Throughput>,
    pub(super) raw: Vec<Throughput>,
    /// `/app/` requests, per round.
    pub(super) app: Vec<App>,
    /// The lookup alone, µs: roots made per request, and once; per round.
    pub(super) lookup: Vec<(f64, f64)>,
    pub(super) idle: Option<Idle>,
}

impl Col {
    pub(super) fn summary(v: &[Duration]) -> Option<Summary> {
        (!v.is_empty()).then(|| summarize(v.to_vec()))
    }

    /// The median round's throughput.
    pub(super) fn mib_per_s(runs: &[Throughput]) -> Option<f64> {
        let mut v: Vec<f64> = runs.iter().map(|t| t.mib_per_s).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }

    /// All rounds' CPU seconds over all rounds' GB.
    pub(super) fn cpu_per_gb(runs: &[Throughput]) -> Option<f64> {
        let cpu: Option<f64> = runs.iter().map(|t| t.cpu_secs).sum();
        let gb: f64 = runs.iter().map(|t| t.gb).sum();
        cpu.filter(|_| gb > 0.0).map(|c| c / gb)
    }
}

pub(super) fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(super) fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(super) struct Row {
    pub(super) name: String,
    pub(super) values: [Option<f64>; 3],
    pub(super) decimals: usize,
}

pub(super) fn rows(cols: &[Col; 3], opts: &Opts) -> Vec<Row> {
    let pick = |f: &dyn Fn(&Col) -> Option<f64>| [f(&cols[0]), f(&cols[1]), f(&cols[2])];
    let mut out = Vec::new();
    let mut row = |name: String, decimals: usize, f: &dyn Fn(&Col) -> Option<f64>| {
        out.push(Row { name, values: pick(f), decimals })
    };
    let n_setup = cols[0].setup.len();
    let n_rtt = cols[0].rtt_small.len();
    row(format!("session set-up p50, ms (n={n_setup})"), 3, &|c| Col::summary(&c.setup).map(|s| ms(s.p50)));
    row(format!("session set-up p99, ms (n={n_setup})"), 3, &|c| Col::summary(&c.setup).map(|s| ms(s.p99)));
    row(format!("round trip 64 B p50, µs (n={n_rtt})"), 1, &|c| Col::summary(&c.rtt_small).map(|s| us(s.p50)));
    row(format!("round trip 64 B p99, µs (n={n_rtt})"), 1, &|c| Col::summary(&c.rtt_small).map(|s| us(s.p99)));
    row(format!("round trip 16 KiB p50, µs (n={n_rtt})"), 1, &|c| Col::summary(&c.rtt_large).map(|s| us(s.p50)));
    row(format!("round trip 16 KiB p99, µs (n={n_rtt})"), 1, &|c| Col::summary(&c.rtt_large).map(|s| us(s.p99)));
    row(
        format!(
            "echo throughput, MiB/s each way (median of {} × {} MiB in 1 MiB messages)",
            opts.rounds,
            opts.stream_bytes / MIB
        ),
        1,
        &|c| Col::mib_per_s(&c.throughput),
    );
    let mib = opts.stream_bytes / MIB;
    row(
        format!("echo throughput, MiB/s each way (median of {} × {mib} MiB in 1 KiB messages)", opts.rounds),
        1,
        &|c| Col::mib_per_s(&c.small_frames),
    );
    row(
        format!("echo throughput, MiB/s each way (median of {} × {mib} MiB of raw bytes, not frames)", opts.rounds),
        1,
        &|c| Col::mib_per_s(&c.raw),
    );
    row("proxy CPU seconds per GB tunnelled (up + down), 1 MiB messages".into(), 2, &|c| {
        Col::cpu_per_gb(&c.throughput)
    });
    row("proxy CPU seconds per GB tunnelled, 1 KiB messages".into(), 2, &|c| Col::cpu_per_gb(&c.small_frames));
    row("proxy CPU seconds per GB tunnelled, raw bytes".into(), 2, &|c| Col::cpu_per_gb(&c.raw));
    row("proxy RSS before, MiB".into(), 1, &|c| c.idle.as_ref().map(|i| i.rss_before_kib as f64 / 1024.0));
    row(format!("proxy RSS with {} idle sessions, MiB", opts.idle_sessions), 1, &|c| {
        c.idle.as_ref().map(|i| i.rss_after_kib as f64 / 1024.0)
    });
    row("memory per idle session, KiB".into(), 1, &|c| c.idle.as_ref().map(|i| i.per_session_kib));
    row(
        format!(
            "/app/ requests per second, {APP_FILES} files of 1 KiB, {APP_CONNECTIONS} keep-alive connections (median of {} × {})",
            opts.rounds, opts.app_requests
        ),
        0,
        &|c| median(c.app.iter().map(|a| a.per_s).collect()),
    );
    row("proxy CPU µs per /app/ request (median of the rounds)".into(), 1, &|c| {
        median(c.app.iter().filter_map(|a| a.cpu_us).collect())
    });
    row("/app/ file lookup, µs each, web root canonicalised per request (as before)".into(), 2, &|c| {
        median(c.lookup.iter().map(|l| l.0).collect())
    });
    row("/app/ file lookup, µs each, web root canonicalised once per configuration".into(), 2, &|c| {
        median(c.lookup.iter().map(|l| l.1).collect())
    });
    // Workloads left out by --only show no row.
    out.retain(|r| r.values.iter().any(Option::is_some));
    out
}

pub(super) fn table(rows: &[Row]) -> String {
    let fmt = |v: Option<f64>, d: usize| match v {
        Some(x) => format!("{x:.d$}"),
        None => "—".into(),
    };
    let mut s = String::new();
    let _ = writeln!(s, "| workload | CXR Gate | HAProxy | direct | CXR Gate / HAProxy |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for r in rows {
        let ratio = match (r.values[0], r.values[1]) {
            (Some(a), Some(b)) if b.abs() > f64::EPSILON => format!("{:.2}", a / b),
            _ => "—".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.name,
            fmt(r.values[0], r.decimals),
            fmt(r.values[1], r.decimals),
            fmt(r.values[2], r.decimals),
            ratio
        );
    }
    s
}
