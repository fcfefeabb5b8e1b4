//! Statistics of one network check and its verdicts against NVIDIA's CloudXR network table:
//! downstream >200 Mbps (min 100), ping <20 ms (max 40), jitter 1 ms (max 4), loss 0% (max 1%), 5/6 GHz Wi-Fi.

use super::model::{NetCheckResult, Row, Verdict};

/// Nearest-rank percentile (`p` in 0..=100) of unsorted samples; 0 for none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// Jitter as the mean deviation of successive round trips (mean |RTTᵢ − RTTᵢ₋₁|).
pub fn jitter(rtts_in_order: &[f64]) -> f64 {
    if rtts_in_order.len() < 2 {
        return 0.0;
    }
    let sum: f64 = rtts_in_order.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
    sum / (rtts_in_order.len() - 1) as f64
}

pub fn mbps(bytes: u64, millis: f64) -> f64 {
    if millis <= 0.0 {
        return 0.0;
    }
    bytes as f64 * 8.0 / 1e6 / (millis / 1000.0)
}

/// Lower is better: pass below `good`, marginal up to `max`, else fail.
fn lower_better(v: f64, good: f64, max: f64) -> Verdict {
    if v < good {
        Verdict::Pass
    } else if v <= max {
        Verdict::Marginal
    } else {
        Verdict::Fail
    }
}

/// Fills `rows` and `overall` from the measured figures.
pub fn judge(r: &mut NetCheckResult) {
    let down = if r.down_mbps > 200.0 {
        Verdict::Pass
    } else if r.down_mbps > 100.0 {
        Verdict::Marginal
    } else {
        Verdict::Fail
    };
    let ping = lower_better(r.rtt_p50_ms, 20.0, 40.0);
    // The table's "1 ms" is the target: at or under it passes.
    let jit = if r.jitter_ms <= 1.0 { Verdict::Pass } else { lower_better(r.jitter_ms, 1.0, 4.0) };
    r.rows = vec![
        Row {
            metric: "Downstream bandwidth".into(),
            value: format!("{:.0} Mbps", r.down_mbps),
            recommended: "> 200 Mbps".into(),
            minimum: "> 100 Mbps".into(),
            verdict: down,
        },
        Row {
            metric: "Ping (round trip)".into(),
            value: format!("{:.1} ms (p95 {:.1} ms)", r.rtt_p50_ms, r.rtt_p95_ms),
            recommended: "< 20 ms".into(),
            minimum: "< 40 ms".into(),
            verdict: ping,
        },
        Row {
            metric: "Jitter".into(),
            value: format!("{:.2} ms", r.jitter_ms),
            recommended: "1 ms".into(),
            minimum: "4 ms".into(),
            verdict: jit,
        },
        Row {
            metric: "Upstream bandwidth".into(),
            value: format!("{:.0} Mbps", r.up_mbps),
            recommended: "—".into(),
            minimum: "—".into(),
            verdict: Verdict::Info,
        },
        Row {
            metric: "Packet loss".into(),
            value: "not measurable over TCP (WebSocket retransmits lost packets)".into(),
            recommended: "0%".into(),
            minimum: "1%".into(),
            verdict: Verdict::Info,
        },
        Row {
            metric: "Wi-Fi band".into(),
            value: "not visible from here: check the router (5 or 6 GHz, 80 MHz channel)".into(),
            recommended: "5/6 GHz, 80 MHz".into(),
            minimum: "5 GHz, 40 MHz".into(),
            verdict: Verdict::Info,
        },
    ];
    let judged = [down, ping, jit];
    r.overall = Some(if judged.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if judged.contains(&Verdict::Marginal) {
        Verdict::Marginal
    } else {
        Verdict::Pass
    });
}

/// One log line per result (what the headless binary prints).
pub fn summary(r: &NetCheckResult) -> String {
    let v = |x: Option<Verdict>| match x {
        Some(Verdict::Pass) => "PASS",
        Some(Verdict::Marginal) => "MARGINAL",
        Some(Verdict::Fail) => "FAIL",
        _ => "n/a",
    };
    format!(
        "network check from {}: {} — down {:.0} Mbps, up {:.0} Mbps, ping p50 {:.1} ms p95 {:.1} ms, jitter {:.2} ms ({}/{} pings answered)",
        r.client,
        v(r.overall),
        r.down_mbps,
        r.up_mbps,
        r.rtt_p50_ms,
        r.rtt_p95_ms,
        r.jitter_ms,
        r.pings_answered,
        r.pings_sent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 95.0), 95.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[f64::NAN, 4.0], 50.0), 4.0);
    }

    #[test]
    fn jitter_is_the_mean_successive_difference() {
        assert_eq!(jitter(&[10.0, 12.0, 11.0, 15.0]), (2.0 + 1.0 + 4.0) / 3.0);
        assert_eq!(jitter(&[5.0, 5.0, 5.0]), 0.0);
        assert_eq!(jitter(&[5.0]), 0.0);
    }

    #[test]
    fn throughput_in_megabits() {
        assert_eq!(mbps(25_000_000, 1000.0), 200.0);
        assert_eq!(mbps(1, 0.0), 0.0);
    }

    fn result(down: f64, p50: f64, jit: f64) -> NetCheckResult {
        let mut r =
            NetCheckResult { down_mbps: down, rtt_p50_ms: p50, rtt_p95_ms: p50, jitter_ms: jit, ..Default::default() };
        judge(&mut r);
        r
    }

    fn verdict(r: &NetCheckResult, metric: &str) -> Verdict {
        r.rows.iter().find(|x| x.metric.starts_with(metric)).map(|x| x.verdict).unwrap()
    }

    #[test]
    fn verdicts_follow_the_cloudxr_table() {
        let good = result(450.0, 4.0, 0.5);
        assert_eq!(good.overall, Some(Verdict::Pass));
        assert_eq!(verdict(&good, "Packet loss"), Verdict::Info);

        let r = result(150.0, 4.0, 0.5);
        assert_eq!(verdict(&r, "Downstream"), Verdict::Marginal);
        assert_eq!(r.overall, Some(Verdict::Marginal));
        assert_eq!(verdict(&result(100.0, 4.0, 0.5), "Downstream"), Verdict::Fail);
        assert_eq!(verdict(&result(200.5, 4.0, 0.5), "Downstream"), Verdict::Pass);

        assert_eq!(verdict(&result(300.0, 19.9, 0.5), "Ping"), Verdict::Pass);
        assert_eq!(verdict(&result(300.0, 20.0, 0.5), "Ping"), Verdict::Marginal);
        assert_eq!(verdict(&result(300.0, 40.0, 0.5), "Ping"), Verdict::Marginal);
        let slow = result(300.0, 41.0, 0.5);
        assert_eq!(verdict(&slow, "Ping"), Verdict::Fail);
        assert_eq!(slow.overall, Some(Verdict::Fail));

        assert_eq!(verdict(&result(300.0, 5.0, 1.0), "Jitter"), Verdict::Pass);
        assert_eq!(verdict(&result(300.0, 5.0, 3.9), "Jitter"), Verdict::Marginal);
        assert_eq!(verdict(&result(300.0, 5.0, 4.5), "Jitter"), Verdict::Fail);
    }

    #[test]
    fn summary_line_has_the_figures() {
        let mut r = result(250.0, 3.0, 0.2);
        r.client = "192.168.1.30:5000".into();
        r.pings_sent = 250;
        r.pings_answered = 250;
        let s = summary(&r);
        assert!(s.starts_with("network check from 192.168.1.30:5000: PASS — down 250 Mbps"), "{s}");
        assert!(s.contains("250/250 pings answered"));
    }
}
