//! `smi-watch`: which SMI counters this machine offers, and a TSC-gap report over an
//! interval (like `hwlatdetect`, in user space).
//!
//! ```sh
//! cargo run --example smi-watch -- --seconds 5
//! cargo run --example smi-watch -- --seconds 30 --cpu 3 --threshold-us 20
//! ```
//!
//! The spin occupies one CPU for the whole interval. Gaps are time the CPU was taken
//! away: SMIs, but also hypervisor exits and (unless the CPU is isolated) other tasks; the
//! report counts the spinning thread's involuntary context switches to tell them apart.

#[macro_use]
#[path = "common/out.rs"]
mod out;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use sovereign_linux::discovery;
use sovereign_linux::msr::LinuxMsr;
use sovereign_linux::smi::{self, GAP_BUCKETS, GapReport, PerfSmiCounter};

/// SMI count sources and TSC gaps over an interval.
#[derive(Debug, Parser)]
#[command(name = "smi-watch", version, about)]
struct Args {
    /// How long to spin, in seconds.
    #[arg(long, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// CPU to spin on (default: the CPU this starts on).
    #[arg(long, value_name = "N")]
    cpu: Option<usize>,
    /// Report gaps at or above this many microseconds.
    #[arg(long, default_value_t = 10, value_name = "US")]
    threshold_us: u64,
    /// Root of device nodes (`cpu/N/msr`).
    #[arg(long, default_value = "/dev", value_name = "DIR")]
    dev_root: PathBuf,
}

/// An SMI counter that could be opened.
enum Counter {
    IntelMsr(LinuxMsr, u32),
    AmdPmu(PerfSmiCounter),
}

impl Counter {
    fn read(&mut self) -> Result<u64, String> {
        match self {
            Self::IntelMsr(m, cpu) => smi::read_intel_smi_count(m, *cpu)
                .map(u64::from)
                .map_err(|e| e.to_string()),
            Self::AmdPmu(p) => p.read_total().map_err(|e| e.to_string()),
        }
    }
}

fn online_cpus() -> Vec<u32> {
    // /sys/devices/system/cpu/online: "0-3,6"
    let Ok(s) = std::fs::read_to_string("/sys/devices/system/cpu/online") else {
        return vec![0];
    };
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u32>()),
        }
    }
    if out.is_empty() { vec![0] } else { out }
}

fn print_report(r: &GapReport) {
    let secs = r.duration_ns as f64 / 1e9;
    out!(
        "  TSC: {:.3} GHz (calibrated against CLOCK_MONOTONIC over the run)",
        r.tsc_hz as f64 / 1e9
    );
    out!(
        "  spun {:.3} s on CPU {}; gaps >= {} us: {} ({:.1}/s), max {:.1} us, total {:.3} ms ({:.4} % of the run)",
        secs,
        r.cpu.map_or_else(|| "?".to_owned(), |c| c.to_string()),
        r.threshold_ns / 1000,
        r.gaps,
        if secs > 0.0 {
            r.gaps as f64 / secs
        } else {
            0.0
        },
        r.max_gap_ns as f64 / 1e3,
        r.total_gap_ns as f64 / 1e6,
        r.lost_ppm() as f64 / 1e4
    );
    if r.gaps > 0 {
        out!("  histogram:");
        let peak = r.histogram.iter().copied().max().unwrap_or(1).max(1);
        for i in 0..GAP_BUCKETS {
            let n = r.histogram.get(i).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let (lo, hi) = smi::gap_bucket_bounds_us(i);
            // Gaps under the threshold were not counted: the lowest printed bucket starts
            // at the threshold, not at its power of two (10 us shows as [10, 16), not [8, 16)).
            let lo = lo.max(r.threshold_ns / 1000);
            let range = match hi {
                Some(hi) => format!("[{lo:>6}, {hi:>6}) us"),
                None => format!("[{lo:>6},    inf) us"),
            };
            let bar = "#".repeat(((n * 40).div_ceil(peak)) as usize);
            out!("    {range} {n:>8} {bar}");
        }
    }
    if r.backwards > 0 {
        out!(
            "  the TSC went backwards {} times (unstable TSC: gaps are not trustworthy)",
            r.backwards
        );
    }
    match r.involuntary_switches {
        Some(n) => out!(
            "  involuntary context switches of the spinning thread: {n} (each is a gap caused by another task, not an SMI)"
        ),
        None => out!("  involuntary context switches: unknown"),
    }
}

fn main() {
    let args = Args::parse();
    let id = discovery::cpu_identity();
    let vm = discovery::under_hypervisor();
    match &id {
        Some(c) => out!(
            "CPU: {} ({}, family {:#x}, model {:#x}){}",
            c.brand,
            c.vendor,
            c.family,
            c.model,
            if vm { ", under a hypervisor" } else { "" }
        ),
        None => out!("CPU: unknown (not x86_64)"),
    }

    out!("SMI count sources:");
    let housekeeping = args.cpu.and_then(|c| u32::try_from(c).ok()).unwrap_or(0);
    let is_intel = id.as_ref().is_some_and(|c| c.is_intel());
    let is_amd = id.as_ref().is_some_and(|c| c.is_amd());
    let mut counter = None;
    // Intel: MSR_SMI_COUNT (HARDWARE.md §8).
    if is_intel {
        let mut m = LinuxMsr::with_root(args.dev_root.join("cpu"), housekeeping);
        match smi::read_intel_smi_count(&mut m, housekeeping) {
            Ok(n) => {
                out!(
                    "  Intel MSR_SMI_COUNT (0x34) on CPU {housekeeping}: available ({n} SMIs since reset)"
                );
                counter = Some(Counter::IntelMsr(m, housekeeping));
            }
            Err(e) => out!("  Intel MSR_SMI_COUNT (0x34): unavailable: {e}"),
        }
    } else {
        out!("  Intel MSR_SMI_COUNT (0x34): not applicable (not an Intel CPU)");
    }
    // AMD Zen: core PMU event ls_smi_rx (HARDWARE.md §8).
    if is_amd {
        match PerfSmiCounter::open(&online_cpus()) {
            Ok(p) => {
                out!("  AMD ls_smi_rx (PMU raw event 0x2B) on all online CPUs: available");
                counter = Some(Counter::AmdPmu(p));
            }
            Err(e) => out!("  AMD ls_smi_rx (PMU raw event 0x2B): unavailable: {e}"),
        }
    } else {
        out!("  AMD ls_smi_rx (PMU raw event 0x2B): not applicable (not an AMD CPU)");
    }
    if vm {
        out!(
            "  note: under a hypervisor, SMIs are the host's; the guest sees them (and every VM exit) only as TSC gaps"
        );
    }

    let before = counter.as_mut().map(Counter::read);
    out!();
    out!(
        "TSC-gap detector: spinning {} s on {}, reporting gaps >= {} us ...",
        args.seconds,
        args.cpu
            .map_or_else(|| "the current CPU".to_owned(), |c| format!("CPU {c}")),
        args.threshold_us
    );
    let report = smi::detect_tsc_gaps(
        Duration::from_secs(args.seconds),
        Duration::from_micros(args.threshold_us),
        args.cpu,
    );
    let after = counter.as_mut().map(Counter::read);
    match report {
        Ok(r) => print_report(&r),
        Err(e) => out!("  unavailable: {e}"),
    }
    match (before, after) {
        (Some(Ok(b)), Some(Ok(a))) => out!(
            "SMIs counted during the run: {}",
            a.wrapping_sub(b) & 0xFFFF_FFFF
        ),
        (Some(Err(e)), _) | (_, Some(Err(e))) => {
            out!("SMI count during the run: unavailable: {e}")
        }
        _ => out!("SMI count during the run: no counter available (see above)"),
    }
}
