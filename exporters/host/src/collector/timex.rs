//! Kernel clock discipline from `adjtimex(2)` (read-only: `modes` = 0), with node_exporter 1.5's
//! `node_timex_*` names and units. The kernel reports offset and jitter in µs or ns depending on
//! `STA_NANO`, frequencies in ppm with a 16-bit fraction, and returns `TIME_ERROR` (5) as the
//! call's value when the clock is not synchronised.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// `adjtimex` returns this when the clock is unsynchronised.
const TIME_ERROR: i32 = 5;
/// `status` bit: offset and jitter are in nanoseconds (else microseconds).
const STA_NANO: i64 = 0x2000;
/// ppm with a 16-bit binary fraction, see NOTES in adjtimex(2).
const PPM16FRAC: f64 = 1_000_000.0 * 65_536.0;

/// The fields of `struct timex` the collector reports, plus the call's return value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// The clock state `adjtimex` returned (`TIME_OK` … `TIME_ERROR`).
    pub state: i32,
    /// Time offset, µs or ns (see `status`).
    pub offset: i64,
    /// Frequency offset, scaled ppm.
    pub freq: i64,
    /// Maximum error, µs.
    pub maxerror: i64,
    /// Estimated error, µs.
    pub esterror: i64,
    /// Clock command/status bits.
    pub status: i64,
    /// PLL time constant.
    pub constant: i64,
    /// µs between clock ticks.
    pub tick: i64,
    /// PPS frequency, scaled ppm.
    pub ppsfreq: i64,
    /// PPS jitter, µs or ns.
    pub jitter: i64,
    /// PPS interval duration, log2 seconds as the kernel keeps it.
    pub shift: i64,
    /// PPS stability, scaled ppm.
    pub stabil: i64,
    /// PPS jitter limit exceeded.
    pub jitcnt: i64,
    /// PPS calibration intervals.
    pub calcnt: i64,
    /// PPS calibration errors.
    pub errcnt: i64,
    /// PPS stability limit exceeded.
    pub stbcnt: i64,
    /// TAI offset, seconds.
    pub tai: i64,
}

/// Writes the timex families for one reading (pure: tested on fixed readings).
pub fn write(r: &Reading, out: &mut MetricSet) {
    let divisor = if r.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let g = |out: &mut MetricSet, name: &'static str, help: &'static str, v: f64| {
        out.gauge(name, help, &[], v)
    };
    let c = |out: &mut MetricSet, name: &'static str, help: &'static str, v: f64| {
        out.counter(name, help, &[], v)
    };
    g(
        out,
        "node_timex_sync_status",
        "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
        if r.state == TIME_ERROR { 0.0 } else { 1.0 },
    );
    g(
        out,
        "node_timex_offset_seconds",
        "Time offset in between local system and reference clock.",
        r.offset as f64 / divisor,
    );
    g(
        out,
        "node_timex_frequency_adjustment_ratio",
        "Local clock frequency adjustment.",
        1.0 + r.freq as f64 / PPM16FRAC,
    );
    g(
        out,
        "node_timex_maxerror_seconds",
        "Maximum error in seconds.",
        r.maxerror as f64 / 1e6,
    );
    g(
        out,
        "node_timex_estimated_error_seconds",
        "Estimated error in seconds.",
        r.esterror as f64 / 1e6,
    );
    g(
        out,
        "node_timex_status",
        "Value of the status array bits.",
        r.status as f64,
    );
    g(
        out,
        "node_timex_loop_time_constant",
        "Phase-locked loop time constant.",
        r.constant as f64,
    );
    g(
        out,
        "node_timex_tick_seconds",
        "Seconds between clock ticks.",
        r.tick as f64 / 1e6,
    );
    g(
        out,
        "node_timex_pps_frequency_hertz",
        "Pulse per second frequency.",
        r.ppsfreq as f64 / PPM16FRAC,
    );
    g(
        out,
        "node_timex_pps_jitter_seconds",
        "Pulse per second jitter.",
        r.jitter as f64 / divisor,
    );
    g(
        out,
        "node_timex_pps_shift_seconds",
        "Pulse per second interval duration.",
        r.shift as f64,
    );
    g(
        out,
        "node_timex_pps_stability_hertz",
        "Pulse per second stability, average of recent frequency changes.",
        r.stabil as f64 / PPM16FRAC,
    );
    c(
        out,
        "node_timex_pps_jitter_total",
        "Pulse per second count of jitter limit exceeded events.",
        r.jitcnt as f64,
    );
    c(
        out,
        "node_timex_pps_calibration_total",
        "Pulse per second count of calibration intervals.",
        r.calcnt as f64,
    );
    c(
        out,
        "node_timex_pps_error_total",
        "Pulse per second count of calibration errors.",
        r.errcnt as f64,
    );
    c(
        out,
        "node_timex_pps_stability_exceeded_total",
        "Pulse per second count of stability limit exceeded events.",
        r.stbcnt as f64,
    );
    g(
        out,
        "node_timex_tai_offset_seconds",
        "International Atomic Time (TAI) offset.",
        r.tai as f64,
    );
}

/// Reads the kernel's clock state and writes the families. The syscall reads the host's clock
/// whatever `--path.*` says (as node_exporter's does), and needs no privilege in read-only mode.
pub fn collect(_host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let reading = sys::adjtimex_read()?;
    write(&reading, out);
    Ok(())
}

#[cfg(target_os = "linux")]
mod sys {
    use super::Reading;

    /// `adjtimex(2)` with `modes` = 0, which only reads.
    #[allow(unsafe_code)]
    // `c_long` is i64 here but i32 on 32-bit targets: `from` is the conversion that fits both.
    #[allow(clippy::useless_conversion)]
    pub(super) fn adjtimex_read() -> std::io::Result<Reading> {
        // SAFETY: `libc::timex` is a plain C struct of integers (and a `timeval` of integers)
        // for which all-zero bytes are a valid value; zero `modes` asks the kernel to change
        // nothing. `adjtimex` writes only inside the struct we pass by exclusive reference,
        // which lives until the call returns.
        let (state, t) = unsafe {
            let mut t: libc::timex = std::mem::zeroed();
            let state = libc::adjtimex(&mut t);
            (state, t)
        };
        if state < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Reading {
            state,
            offset: i64::from(t.offset),
            freq: i64::from(t.freq),
            maxerror: i64::from(t.maxerror),
            esterror: i64::from(t.esterror),
            status: i64::from(t.status),
            constant: i64::from(t.constant),
            tick: i64::from(t.tick),
            ppsfreq: i64::from(t.ppsfreq),
            jitter: i64::from(t.jitter),
            shift: i64::from(t.shift),
            stabil: i64::from(t.stabil),
            jitcnt: i64::from(t.jitcnt),
            calcnt: i64::from(t.calcnt),
            errcnt: i64::from(t.errcnt),
            stbcnt: i64::from(t.stbcnt),
            tai: i64::from(t.tai),
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::Reading;

    pub(super) fn adjtimex_read() -> std::io::Result<Reading> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "adjtimex is Linux-only",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(r: &Reading) -> String {
        let mut out = MetricSet::new();
        write(r, &mut out);
        out.encode().0
    }

    fn value(text: &str, name: &str) -> String {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .map(|l| l[name.len() + 1..].to_owned())
            .unwrap_or_default()
    }

    /// The values node_exporter 1.5 printed on this machine (testkit/fixtures/anchors), from the
    /// kernel's unsynchronised defaults.
    #[test]
    fn unsynchronised_kernel_defaults_read_as_node_exporter_printed_them() {
        let r = Reading {
            state: TIME_ERROR,
            maxerror: 16_000_000,
            esterror: 16_000_000,
            status: 64,
            constant: 2,
            tick: 10_000,
            ..Reading::default()
        };
        let out = render(&r);
        assert_eq!(value(&out, "node_timex_sync_status"), "0");
        assert_eq!(value(&out, "node_timex_maxerror_seconds"), "16");
        assert_eq!(value(&out, "node_timex_estimated_error_seconds"), "16");
        assert_eq!(value(&out, "node_timex_status"), "64");
        assert_eq!(value(&out, "node_timex_tick_seconds"), "0.01");
        assert_eq!(value(&out, "node_timex_frequency_adjustment_ratio"), "1");
        assert_eq!(value(&out, "node_timex_loop_time_constant"), "2");
    }

    #[test]
    fn nanosecond_status_changes_the_offset_unit_and_scaled_ppm_is_decoded() {
        let r = Reading {
            state: 0,
            offset: 1_500,
            jitter: 2_000,
            status: STA_NANO | 1,
            freq: 65_536 * 10, // +10 ppm
            ppsfreq: 65_536,
            ..Reading::default()
        };
        let out = render(&r);
        assert_eq!(value(&out, "node_timex_sync_status"), "1");
        assert_eq!(value(&out, "node_timex_offset_seconds"), "1.5e-06");
        assert_eq!(value(&out, "node_timex_pps_jitter_seconds"), "2e-06");
        assert_eq!(
            value(&out, "node_timex_frequency_adjustment_ratio"),
            "1.00001"
        );
        assert_eq!(value(&out, "node_timex_pps_frequency_hertz"), "1e-06");
        let micro = Reading {
            offset: 1_500,
            ..Reading::default()
        };
        let out = render(&micro);
        assert_eq!(value(&out, "node_timex_offset_seconds"), "0.0015");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_answers_a_read_only_call() {
        let r = sys::adjtimex_read().unwrap();
        assert!(r.tick > 0, "{r:?}");
        assert!((0..=5).contains(&r.state), "{r:?}");
    }
}
