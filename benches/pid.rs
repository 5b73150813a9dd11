//! One PID step: Sovereign's fixed-point PID against the `pid` crate 4.0 with f32 and
//! f64, measured in the same run.
//!
//! Run: `cargo bench --bench pid`.
//!
//! First divan prints its table (the "median" column is the number to read, per step).
//! Then this program measures the same three steps once more with a plain
//! median-of-batches timer (divan has no API that returns its medians) and prints the
//! ratios against Sovereign's PID. Benchmarks are not tests: nothing here passes or
//! fails on time.
//!
//! Workload: the shared feature subset of the differential tests (P + I + D with output
//! and integral limits, fixed setpoint, dt = 1 s), fed a fixed pseudo-random sequence of
//! 1024 readings around the setpoint so the branch predictor cannot learn one value.
//! A fourth bench runs Sovereign's PID with every feature on (filter, feed-forward,
//! slew limits, hysteresis) to show what they cost.
//!
//! Reading the ratios: on an x86-64 with an FPU the float crate is the cheaper step —
//! it does about ten flops, while Sovereign also applies hysteresis, the setpoint band,
//! feed-forward, slew and asymmetric limits, rounds seven terms for `PidTerms`, and
//! divides by the step's dt. Either costs tens of nanoseconds per one-second period.
//! Fixed point is for the BMC-class targets without an FPU, where f32/f64 are software
//! routines; this host benchmark does not measure that case.

// A benchmark whose fixed configuration were refused should stop at once, loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use sovereign_hal::pid::{AntiWindup, Direction, Gain, Period, Pid, PidConfig, SetpointBand};
use sovereign_hal::units::MilliSeconds;

const READINGS: usize = 1024;

/// Tctl-like readings in m°C: 80 °C ± 10 °C, from a fixed linear congruential sequence.
fn readings_milli() -> Vec<i32> {
    let mut x: u32 = 0x1234_5678;
    (0..READINGS)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            70_000 + i32::try_from(x >> 16).unwrap_or(0) % 20_000
        })
        .collect()
}

fn sovereign_shared() -> Pid {
    let mut c = PidConfig::new(Direction::Direct, 80_000, -1000, 1000);
    c.kp = Gain::from_whole(-40);
    c.ki = Gain::from_whole(-1);
    c.kd = Gain::from_whole(-5);
    c.integral_min = -1000;
    c.integral_max = 1000;
    c.anti_windup = AntiWindup::ClampOnly;
    Pid::new(c).expect("valid benchmark configuration")
}

fn sovereign_full() -> Pid {
    let mut c = PidConfig::reference_fan_loop();
    c.kd = Gain::from_whole(5);
    c.derivative_filter = MilliSeconds(2000);
    c.kff_disturbance = Gain::from_whole(1);
    c.slew_up_per_s = Some(100);
    c.setpoint_band = SetpointBand {
        below: 1000,
        above: 500,
    };
    Pid::new(c).expect("valid benchmark configuration")
}

fn pid_f32() -> pid::Pid<f32> {
    let mut p = pid::Pid::new(80.0, 1000.0);
    // The crate's per-term limits default to 0 (term off): set them out of reach.
    p.p(-40.0, 1e9).i(-1.0, 1000.0).d(-5.0, 1e9);
    p
}

fn pid_f64() -> pid::Pid<f64> {
    let mut p = pid::Pid::new(80.0, 1000.0);
    p.p(-40.0, 1e9).i(-1.0, 1000.0).d(-5.0, 1e9);
    p
}

/// Three steppers over the same readings, each advancing one reading per call.
struct Cases {
    milli: Vec<i32>,
    f32s: Vec<f32>,
    f64s: Vec<f64>,
}

impl Cases {
    fn new() -> Self {
        let milli = readings_milli();
        let f32s = milli.iter().map(|&m| m as f32 / 1000.0).collect();
        let f64s = milli.iter().map(|&m| f64::from(m) / 1000.0).collect();
        Self { milli, f32s, f64s }
    }
}

#[divan::bench]
fn sovereign_fixed_point(b: divan::Bencher<'_, '_>) {
    let cases = Cases::new();
    let mut pid = sovereign_shared();
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) % READINGS;
        pid.step(black_box(cases.milli[i]), Period::ONE_SECOND)
            .output
    });
}

#[divan::bench]
fn sovereign_fixed_point_all_features(b: divan::Bencher<'_, '_>) {
    let cases = Cases::new();
    let mut pid = sovereign_full();
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) % READINGS;
        pid.step_with_disturbance(
            black_box(cases.milli[i]),
            black_box(300_000),
            Period::ONE_SECOND,
        )
        .output
    });
}

#[divan::bench]
fn pid_crate_f32(b: divan::Bencher<'_, '_>) {
    let cases = Cases::new();
    let mut pid = pid_f32();
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) % READINGS;
        pid.next_control_output(black_box(cases.f32s[i])).output
    });
}

#[divan::bench]
fn pid_crate_f64(b: divan::Bencher<'_, '_>) {
    let cases = Cases::new();
    let mut pid = pid_f64();
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) % READINGS;
        pid.next_control_output(black_box(cases.f64s[i])).output
    });
}

/// Median nanoseconds per call of `step`, over `BATCHES` batches of `PER_BATCH` calls.
fn median_ns(mut step: impl FnMut(usize)) -> f64 {
    const BATCHES: usize = 201;
    const PER_BATCH: usize = 20_000;
    let mut per_call: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for i in 0..PER_BATCH {
                step(i % READINGS);
            }
            start.elapsed().as_secs_f64() * 1e9 / PER_BATCH as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[BATCHES / 2]
}

fn main() {
    divan::main();

    let cases = Cases::new();
    let mut ours = sovereign_shared();
    let mut full = sovereign_full();
    let mut p32 = pid_f32();
    let mut p64 = pid_f64();
    let t_ours = median_ns(|i| {
        black_box(ours.step(black_box(cases.milli[i]), Period::ONE_SECOND));
    });
    let t_full = median_ns(|i| {
        black_box(full.step_with_disturbance(
            black_box(cases.milli[i]),
            black_box(300_000),
            Period::ONE_SECOND,
        ));
    });
    let t_f32 = median_ns(|i| {
        black_box(p32.next_control_output(black_box(cases.f32s[i])));
    });
    let t_f64 = median_ns(|i| {
        black_box(p64.next_control_output(black_box(cases.f64s[i])));
    });
    println!();
    println!("median ns per step (201 batches × 20 000 steps, same run):");
    println!("  sovereign fixed-point (shared subset)  {t_ours:7.2} ns   1.00×");
    println!(
        "  sovereign fixed-point (all features)   {t_full:7.2} ns   {:.2}× sovereign",
        t_full / t_ours
    );
    println!(
        "  pid crate f32                          {t_f32:7.2} ns   {:.2}× sovereign",
        t_f32 / t_ours
    );
    println!(
        "  pid crate f64                          {t_f64:7.2} ns   {:.2}× sovereign",
        t_f64 / t_ours
    );
}
