//! SMI counting and a TSC-gap detector.
//!
//! System Management Interrupts freeze every core for tens to hundreds of microseconds
//! and the operating system never sees them; Sovereign exists to get rid of the BMC's
//! in-band polling that causes them. Three ways to watch them:
//!
//! - **Intel**: `MSR_SMI_COUNT` (0x34), low 32 bits = SMIs since reset (HARDWARE.md §8),
//!   read through any [`MsrReader`] with [`read_intel_smi_count`].
//! - **AMD Zen**: there is no SMI-count MSR in the kernel's view; the core PMU event
//!   `ls_smi_rx` (raw event 0x2B, "SMIs received") counts them (HARDWARE.md §8).
//!   [`PerfSmiCounter`] opens it per CPU with `perf_event_open(PERF_TYPE_RAW, 0x2B)`.
//! - **Anywhere** (this VM included): [`detect_tsc_gaps`] spins on one CPU reading the TSC
//!   and reports every gap above a threshold, like `hwlatdetect` in user space. A gap is
//!   time the CPU was taken away: an SMI, but equally a hypervisor exit or (unless the CPU
//!   is isolated) another task; the report counts this thread's involuntary context
//!   switches so a reader can tell them apart.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use sovereign_hal::msr::MsrReader;

/// Intel `MSR_SMI_COUNT` (HARDWARE.md §8), from the core's register map.
pub use sovereign_hal::msr::intel::MSR_SMI_COUNT;
/// AMD Zen core PMU raw event `ls_smi_rx`, "SMIs received" (HARDWARE.md §8).
pub const AMD_LS_SMI_RX: u64 = 0x2B;

/// Reads Intel's SMI count on `cpu`: the low 32 bits of MSR 0x34 (turbostat masks the
/// same way, HARDWARE.md §8).
pub fn read_intel_smi_count<R: MsrReader>(msr: &mut R, cpu: u32) -> Result<u32, R::Error> {
    Ok((msr.read_msr(cpu, MSR_SMI_COUNT)? & 0xFFFF_FFFF) as u32)
}

/// SMIs between two 32-bit counts, across one wrap.
pub fn smi_count_delta(earlier: u32, later: u32) -> u32 {
    later.wrapping_sub(earlier)
}

/// Why SMI counting is not available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmiError {
    message: String,
    errno: Option<i32>,
}

impl SmiError {
    /// The errno behind it, if any.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }
}

impl fmt::Display for SmiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SmiError {}

/// `struct perf_event_attr` in its first published size (`PERF_ATTR_SIZE_VER0`, 64 bytes):
/// the kernel accepts any older size and zero-fills the rest.
#[repr(C)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// Bit field: disabled, inherit, pinned, exclusive, exclude_user, … (all 0: count
    /// everything, enabled at once).
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_RAW: u32 = 4;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// The current `kernel.perf_event_paranoid`, for error messages.
fn perf_paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Counts AMD's `ls_smi_rx` on a list of CPUs through `perf_event_open`.
#[derive(Debug)]
pub struct PerfSmiCounter {
    fds: Vec<(u32, OwnedFd)>,
}

impl PerfSmiCounter {
    /// Opens the event on each CPU. Needs root, CAP_PERFMON or
    /// `kernel.perf_event_paranoid` ≤ 0 (system-wide per-CPU counting).
    pub fn open(cpus: &[u32]) -> Result<Self, SmiError> {
        let mut fds = Vec::with_capacity(cpus.len());
        for &cpu in cpus {
            let attr = PerfEventAttr {
                type_: PERF_TYPE_RAW,
                size: std::mem::size_of::<PerfEventAttr>() as u32,
                config: AMD_LS_SMI_RX,
                sample_period: 0,
                sample_type: 0,
                read_format: 0,
                flags: 0,
                wakeup_events: 0,
                bp_type: 0,
                config1: 0,
            };
            let cpu_arg = libc::c_int::try_from(cpu).map_err(|_| SmiError {
                message: format!("CPU {cpu} is out of range"),
                errno: None,
            })?;
            // SAFETY: perf_event_open reads `attr` (a live, fully initialised struct whose
            // `size` field tells the kernel how much to read) and returns a new fd or -1.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_perf_event_open,
                    &attr as *const PerfEventAttr,
                    -1 as libc::pid_t,
                    cpu_arg,
                    -1 as libc::c_int,
                    PERF_FLAG_FD_CLOEXEC,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                let errno = e.raw_os_error();
                let message = match errno {
                    Some(libc::EACCES | libc::EPERM) => format!(
                        "perf_event_open(raw 0x2B) on CPU {cpu}: permission denied: needs root, CAP_PERFMON or \
                         kernel.perf_event_paranoid <= 0 (it is {})",
                        perf_paranoid().map_or_else(|| "unknown".to_owned(), |p| p.to_string())
                    ),
                    Some(libc::ENOENT | libc::EINVAL | libc::EOPNOTSUPP) => format!(
                        "perf_event_open(raw 0x2B) on CPU {cpu}: the core PMU does not count raw event 0x2B here \
                         (not an AMD Zen PMU, or a VM without PMU passthrough): {e}"
                    ),
                    Some(libc::ENODEV | libc::ENXIO) => {
                        format!("perf_event_open on CPU {cpu}: no such CPU: {e}")
                    }
                    Some(libc::ENOSYS) => {
                        "perf_event_open: this kernel has no perf events".to_owned()
                    }
                    _ => format!("perf_event_open(raw 0x2B) on CPU {cpu}: {e}"),
                };
                return Err(SmiError { message, errno });
            }
            let fd = libc::c_int::try_from(rc).map_err(|_| SmiError {
                message: format!("perf_event_open returned {rc}"),
                errno: None,
            })?;
            // SAFETY: `fd` is a new file descriptor just returned by the kernel and owned by
            // nothing else.
            fds.push((cpu, unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        Ok(Self { fds })
    }

    /// The count on each CPU since opening.
    pub fn read_per_cpu(&self) -> Result<Vec<(u32, u64)>, SmiError> {
        self.fds
            .iter()
            .map(|(cpu, fd)| {
                let mut buf = [0u8; 8];
                // SAFETY: reads at most 8 bytes into a live 8-byte buffer.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n != 8 {
                    let e = io::Error::last_os_error();
                    return Err(SmiError {
                        message: format!("reading the SMI counter of CPU {cpu}: {e}"),
                        errno: e.raw_os_error(),
                    });
                }
                Ok((*cpu, u64::from_ne_bytes(buf)))
            })
            .collect()
    }

    /// The sum over all CPUs since opening.
    pub fn read_total(&self) -> Result<u64, SmiError> {
        Ok(self
            .read_per_cpu()?
            .iter()
            .fold(0u64, |a, (_, c)| a.saturating_add(*c)))
    }
}

/// Number of histogram buckets: `[2^i, 2^(i+1))` µs for i in 0..15, the last open-ended.
pub const GAP_BUCKETS: usize = 16;

/// What the TSC-gap detector saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapReport {
    /// The CPU the spin ran on (pinned), if known.
    pub cpu: Option<usize>,
    /// TSC frequency calibrated against CLOCK_MONOTONIC over the whole run, in Hz.
    pub tsc_hz: u64,
    /// Wall time spun, in nanoseconds.
    pub duration_ns: u64,
    /// Gaps at or above this were counted, in nanoseconds.
    pub threshold_ns: u64,
    /// Number of gaps counted.
    pub gaps: u64,
    /// The longest gap, in nanoseconds.
    pub max_gap_ns: u64,
    /// Sum of all counted gaps, in nanoseconds.
    pub total_gap_ns: u64,
    /// `histogram[i]` = gaps in `[2^i, 2^(i+1))` µs; the last bucket is open-ended; gaps
    /// below 1 µs (a threshold under 1 µs) land in bucket 0.
    pub histogram: [u64; GAP_BUCKETS],
    /// Times the TSC went backwards between two reads (should be 0 on a pinned thread).
    pub backwards: u64,
    /// Involuntary context switches of the spinning thread during the run: each one is a
    /// gap that is another task's, not an SMI.
    pub involuntary_switches: Option<u64>,
}

impl GapReport {
    fn new(threshold_ns: u64) -> Self {
        Self {
            cpu: None,
            tsc_hz: 0,
            duration_ns: 0,
            threshold_ns,
            gaps: 0,
            max_gap_ns: 0,
            total_gap_ns: 0,
            histogram: [0; GAP_BUCKETS],
            backwards: 0,
            involuntary_switches: None,
        }
    }

    /// Counts one gap (already known to be at or above the threshold).
    pub fn record(&mut self, gap_ns: u64) {
        self.gaps = self.gaps.saturating_add(1);
        self.max_gap_ns = self.max_gap_ns.max(gap_ns);
        self.total_gap_ns = self.total_gap_ns.saturating_add(gap_ns);
        let slot = self.histogram.get_mut(gap_bucket(gap_ns));
        if let Some(slot) = slot {
            *slot = slot.saturating_add(1);
        }
    }

    /// Fraction of the run lost in counted gaps, in parts per million.
    pub fn lost_ppm(&self) -> u64 {
        if self.duration_ns == 0 {
            return 0;
        }
        (u128::from(self.total_gap_ns) * 1_000_000 / u128::from(self.duration_ns)) as u64
    }
}

/// The histogram bucket of a gap: `floor(log2(gap in µs))`, clamped to the table.
pub fn gap_bucket(gap_ns: u64) -> usize {
    let us = gap_ns / 1000;
    if us == 0 {
        return 0;
    }
    (us.ilog2() as usize).min(GAP_BUCKETS - 1)
}

/// `[low, high)` of bucket `i` in µs (`high` = None for the last).
pub fn gap_bucket_bounds_us(i: usize) -> (u64, Option<u64>) {
    let low = if i == 0 { 0 } else { 1u64 << i.min(63) };
    let high = if i + 1 >= GAP_BUCKETS {
        None
    } else {
        Some(1u64 << (i + 1))
    };
    (low, high)
}

/// Ticks → nanoseconds at `hz`.
pub fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(hz)).unwrap_or(u64::MAX)
}

/// Nanoseconds → ticks at `hz`.
pub fn ns_to_ticks(ns: u64, hz: u64) -> u64 {
    u64::try_from(u128::from(ns) * u128::from(hz) / 1_000_000_000).unwrap_or(u64::MAX)
}

#[cfg(target_arch = "x86_64")]
fn rdtsc() -> u64 {
    // SAFETY: RDTSC reads the time-stamp counter; it has no memory effects, and every
    // x86_64 CPU implements it (it only faults with CR4.TSD set, which Linux does not set
    // for ordinary processes).
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn involuntary_switches() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; it is live and correctly sized.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: getrusage succeeded, so the struct is initialised (it was zeroed anyway).
    let usage = unsafe { usage.assume_init() };
    u64::try_from(usage.ru_nivcsw).ok()
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) -> Result<(), SmiError> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it, and
    // sched_setaffinity reads it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(SmiError {
            message: format!(
                "cannot pin to CPU {cpu}: {e} (is it online and in this process's cpuset?)"
            ),
            errno: e.raw_os_error(),
        });
    }
    Ok(())
}

fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes no arguments and returns a CPU number or -1.
    let c = unsafe { libc::sched_getcpu() };
    usize::try_from(c).ok()
}

/// Spins on one CPU for `duration`, reading the TSC back to back, and reports every gap of
/// at least `threshold` (count, max, histogram). `cpu` = None pins to the CPU the caller is
/// on. The TSC frequency is calibrated against CLOCK_MONOTONIC (first over 50 ms to set
/// the threshold in ticks, then over the whole run for the report).
///
/// This burns one CPU for `duration`. It needs an invariant TSC (`constant_tsc`,
/// `nonstop_tsc`) for gaps to be wall time.
#[cfg(target_arch = "x86_64")]
pub fn detect_tsc_gaps(
    duration: Duration,
    threshold: Duration,
    cpu: Option<usize>,
) -> Result<GapReport, SmiError> {
    let cpu = cpu.or_else(current_cpu);
    if let Some(c) = cpu {
        pin_to(c)?;
    }
    let threshold_ns = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
    let mut report = GapReport::new(threshold_ns);
    report.cpu = cpu;

    // Short calibration to turn the threshold and the deadline into ticks.
    let (t0, c0) = (Instant::now(), rdtsc());
    while t0.elapsed() < Duration::from_millis(50) {}
    let (t1, c1) = (Instant::now(), rdtsc());
    let cal_ns = u64::try_from((t1 - t0).as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    let hz0 = u64::try_from(u128::from(c1.wrapping_sub(c0)) * 1_000_000_000 / u128::from(cal_ns))
        .unwrap_or(0);
    if hz0 == 0 {
        return Err(SmiError {
            message: "the TSC did not advance during calibration".into(),
            errno: None,
        });
    }
    let threshold_ticks = ns_to_ticks(threshold_ns, hz0).max(1);
    let duration_ticks = ns_to_ticks(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX), hz0);

    // Gaps are kept as ticks and converted with the whole-run frequency afterwards.
    let mut gaps: Vec<u64> = Vec::with_capacity(1 << 16);
    let mut dropped_max = 0u64;
    let mut dropped = 0u64;
    let switches_before = involuntary_switches();
    let start_instant = Instant::now();
    let start = rdtsc();
    let deadline = start.saturating_add(duration_ticks);
    let mut prev = start;
    loop {
        let now = rdtsc();
        if now < prev {
            report.backwards += 1;
        } else {
            let d = now - prev;
            if d >= threshold_ticks {
                if gaps.len() < gaps.capacity() {
                    gaps.push(d);
                } else {
                    dropped += 1;
                    dropped_max = dropped_max.max(d);
                }
            }
        }
        prev = now;
        if now >= deadline {
            break;
        }
    }
    let end = rdtsc();
    let wall_ns = u64::try_from(start_instant.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    let switches_after = involuntary_switches();

    let hz =
        u64::try_from(u128::from(end.wrapping_sub(start)) * 1_000_000_000 / u128::from(wall_ns))
            .unwrap_or(hz0);
    report.tsc_hz = hz;
    report.duration_ns = wall_ns;
    for g in gaps {
        report.record(ticks_to_ns(g, hz));
    }
    for _ in 0..dropped {
        report.record(ticks_to_ns(dropped_max, hz));
    }
    report.involuntary_switches = match (switches_before, switches_after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Ok(report)
}

/// Not available off x86_64.
#[cfg(not(target_arch = "x86_64"))]
pub fn detect_tsc_gaps(_: Duration, _: Duration, _: Option<usize>) -> Result<GapReport, SmiError> {
    Err(SmiError {
        message: "the TSC-gap detector needs an x86_64 CPU".into(),
        errno: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sovereign_hal::msr::ErrorKind;

    struct Msr(u64);
    impl MsrReader for Msr {
        type Error = ErrorKind;
        fn read_msr(&mut self, _: u32, msr: u32) -> Result<u64, ErrorKind> {
            if msr == MSR_SMI_COUNT {
                Ok(self.0)
            } else {
                Err(ErrorKind::Unsupported)
            }
        }
    }

    #[test]
    fn intel_smi_count_is_the_low_32_bits_of_msr_0x34() {
        assert_eq!(
            read_intel_smi_count(&mut Msr(0xDEAD_0000_0000_0007), 0).unwrap(),
            7
        );
        assert_eq!(smi_count_delta(0xFFFF_FFFE, 3), 5, "across a wrap");
    }

    #[test]
    fn gaps_land_in_power_of_two_microsecond_buckets() {
        assert_eq!(gap_bucket(999), 0);
        assert_eq!(gap_bucket(1_000), 0);
        assert_eq!(gap_bucket(1_999), 0);
        assert_eq!(gap_bucket(2_000), 1);
        assert_eq!(gap_bucket(50_000), 5); // 50 µs: [32, 64)
        assert_eq!(gap_bucket(800_000), 9); // 800 µs: [512, 1024)
        assert_eq!(gap_bucket(u64::MAX), GAP_BUCKETS - 1);
        assert_eq!(gap_bucket_bounds_us(5), (32, Some(64)));
        assert_eq!(gap_bucket_bounds_us(GAP_BUCKETS - 1), (1 << 15, None));
    }

    #[test]
    fn a_report_counts_max_total_and_lost_fraction() {
        let mut r = GapReport::new(10_000);
        r.duration_ns = 1_000_000_000;
        for g in [50_000, 120_000, 800_000] {
            r.record(g);
        }
        assert_eq!(
            (r.gaps, r.max_gap_ns, r.total_gap_ns),
            (3, 800_000, 970_000)
        );
        assert_eq!(r.histogram[5] + r.histogram[6] + r.histogram[9], 3);
        assert_eq!(r.lost_ppm(), 970);
    }

    #[test]
    fn tick_conversion_is_exact_and_saturating() {
        assert_eq!(ticks_to_ns(2_100, 2_100_000_000), 1_000);
        assert_eq!(ns_to_ticks(1_000, 2_100_000_000), 2_100);
        assert_eq!(ticks_to_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(ticks_to_ns(5, 0), 0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_detector_runs_and_reports_a_plausible_tsc_frequency() {
        // Not a timing assertion: only that it terminates and calibrates to something
        // a real x86 TSC could run at (100 MHz .. 10 GHz).
        let r =
            detect_tsc_gaps(Duration::from_millis(20), Duration::from_micros(10), None).unwrap();
        assert!(
            (100_000_000..10_000_000_000).contains(&r.tsc_hz),
            "{}",
            r.tsc_hz
        );
        assert!(r.duration_ns >= 20_000_000);
        assert_eq!(r.histogram.iter().sum::<u64>(), r.gaps);
    }
}
