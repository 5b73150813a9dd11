//! Differential tests against the `pid` crate 4.0 (f64), and the places where Sovereign
//! deliberately differs from it.
//!
//! Shared subset: P + I + D with output and integral limits, a fixed setpoint and a
//! fixed period of 1 s (the `pid` crate has no dt: its integral adds `Ki·e` per call and
//! its derivative is `−Kd·Δm` per call). Both take D from the measurement. The `pid`
//! crate limits symmetrically and zeroes every term whose limit is left at its default
//! of 0, so the reference sets P and D limits far out of reach.
//!
//! # Quantisation bound
//!
//! The gains are drawn as raw Q16.16 values and handed to the reference as exactly the
//! same rational (`raw / 65536`), so gain rounding is not part of the comparison (it is
//! pinned in `fixed`: ≤ 2⁻¹⁷ per gain). Per step, Sovereign truncates three products to
//! Q47.16 (P, D and the integral increment), each off by less than one LSB = 2⁻¹⁶ output
//! units; the integral carries its truncation error forward and clamping cannot enlarge
//! it. After `n` steps the exact sum differs by less than `(n + 2)·2⁻¹⁶`; the final
//! rounding of the Q47.16 output to an integer adds at most 0.5. With at most 64 steps
//! the bound is `0.5 + 66/65536 < 0.502` output units for the output and for each term;
//! f64 rounding on values below 10⁷ is ~10⁻⁹ and does not matter. The tests assert
//! `|sovereign − pid| ≤ 0.502`.

#[cfg(test)]
use proptest::prelude::*;

use super::*;

/// Largest allowed difference in output units (derived in the module docs).
const BOUND: f64 = 0.502;
const SEC: Period = Period::ONE_SECOND;

#[derive(Debug, Clone, Copy)]
struct Shared {
    setpoint_milli: i32,
    kp_raw: i32,
    ki_raw: i32,
    kd_raw: i32,
    output_limit: i32,
    integral_limit: i32,
}

fn sovereign(s: Shared, anti_windup: AntiWindup) -> Pid {
    let mut c = PidConfig::new(
        Direction::Direct,
        s.setpoint_milli,
        -s.output_limit,
        s.output_limit,
    );
    c.kp = Gain::from_raw(s.kp_raw).unwrap();
    c.ki = Gain::from_raw(s.ki_raw).unwrap();
    c.kd = Gain::from_raw(s.kd_raw).unwrap();
    c.integral_min = -s.integral_limit;
    c.integral_max = s.integral_limit;
    c.anti_windup = anti_windup;
    Pid::new(c).unwrap()
}

fn reference(s: Shared) -> pid::Pid<f64> {
    let q = |raw: i32| f64::from(raw) / 65536.0;
    let mut r = pid::Pid::new(
        f64::from(s.setpoint_milli) / 1000.0,
        f64::from(s.output_limit),
    );
    // The crate's per-term limits default to 0, which silently zeroes P, I and D.
    r.p(q(s.kp_raw), 1e12)
        .i(q(s.ki_raw), f64::from(s.integral_limit))
        .d(q(s.kd_raw), 1e12);
    r
}

fn shared() -> impl Strategy<Value = Shared> {
    (
        -100_000i32..100_000,
        -(100 << 16)..(100 << 16),
        -(20 << 16)..(20 << 16),
        -(50 << 16)..(50 << 16),
        1i32..5000,
        0i32..5000,
    )
        .prop_map(
            |(setpoint_milli, kp_raw, ki_raw, kd_raw, output_limit, integral_limit)| Shared {
                setpoint_milli,
                kp_raw,
                ki_raw,
                kd_raw,
                output_limit,
                integral_limit,
            },
        )
}

fn close(a: i32, b: f64) -> bool {
    (f64::from(a) - b).abs() <= BOUND
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Same gains, limits and readings: every term and the output agree within BOUND.
    #[test]
    fn agrees_with_the_pid_crate_on_the_shared_subset(
        s in shared(),
        readings in proptest::collection::vec(-200_000i32..200_000, 1..64),
    ) {
        let mut ours = sovereign(s, AntiWindup::ClampOnly);
        let mut theirs = reference(s);
        for (n, m) in readings.into_iter().enumerate() {
            let a = ours.step(m, SEC);
            let b = theirs.next_control_output(f64::from(m) / 1000.0);
            prop_assert!(close(a.p, b.p), "step {n}: P {} vs {}", a.p, b.p);
            prop_assert!(close(a.i, b.i), "step {n}: I {} vs {}", a.i, b.i);
            prop_assert!(close(a.d, b.d), "step {n}: D {} vs {}", a.d, b.d);
            prop_assert!(close(a.output, b.output), "step {n}: output {} vs {}", a.output, b.output);
        }
    }

    /// While the output stays inside its limits, saturation-only anti-windup changes
    /// nothing: Sovereign's default agrees with the `pid` crate too.
    #[test]
    fn conditional_integration_is_invisible_when_unsaturated(
        s in shared(),
        readings in proptest::collection::vec(-5_000i32..5_000, 1..64),
    ) {
        let s = Shared { output_limit: 1_000_000, integral_limit: 4000, kp_raw: s.kp_raw / 10, ..s };
        let s = Shared { setpoint_milli: 0, ..s };
        let mut ours = sovereign(s, AntiWindup::Conditional);
        let mut theirs = reference(s);
        for m in readings {
            let a = ours.step(m, SEC);
            let b = theirs.next_control_output(f64::from(m) / 1000.0);
            prop_assert!(a.limits.intersection(LimitsHit::OUTPUT_MAX | LimitsHit::OUTPUT_MIN).is_empty());
            prop_assert!(close(a.output, b.output), "output {} vs {}", a.output, b.output);
        }
    }
}

#[test]
fn differs_no_derivative_kick_where_derivative_on_error_kicks() {
    // phosphor-pid-control differentiates the error; a 10 °C setpoint step with Kd = 50
    // then gives a one-step D of 50 × 10 = 500 output units. Sovereign gives 0 (so does
    // the `pid` crate, which also differentiates the measurement).
    let s = Shared {
        setpoint_milli: 80_000,
        kp_raw: 0,
        ki_raw: 0,
        kd_raw: 50 << 16,
        output_limit: 1000,
        integral_limit: 0,
    };
    let mut ours = sovereign(s, AntiWindup::Conditional);
    let mut theirs = reference(s);
    ours.step(80_000, SEC);
    theirs.next_control_output(80.0);
    ours.set_setpoint(70_000);
    theirs.setpoint(70.0);
    let derivative_on_error = 50.0 * ((70.0 - 80.0) - (80.0 - 80.0));
    assert_eq!(derivative_on_error, -500.0);
    assert_eq!(ours.step(80_000, SEC).d, 0);
    assert_eq!(theirs.next_control_output(80.0).d, 0.0);
}

#[test]
fn differs_asymmetric_output_limits() {
    // Fan duty 20–100 %: the `pid` crate can only limit to ±L, so a cold CPU asks for a
    // negative duty; Sovereign holds the 20 % floor.
    let mut c = PidConfig::new(Direction::Direct, 80_000, 200, 1000);
    c.kp = Gain::from_whole(-40);
    let mut ours = Pid::new(c).unwrap();
    let mut theirs = pid::Pid::<f64>::new(80.0, 1000.0);
    theirs.p(-40.0, 1e12);
    assert_eq!(ours.step(40_000, SEC).output, 200);
    assert_eq!(theirs.next_control_output(40.0).output, -1000.0);
}

#[test]
fn differs_saturation_only_anti_windup_recovers_at_once() {
    // 60 s at 20 °C over the setpoint with the output pinned at its limit, then the
    // load drops and the CPU is 5 °C under. The `pid` crate keeps integrating while
    // saturated (up to its integral limit) and keeps the fans high long after; with
    // conditional integration Sovereign's integral stopped when the output saturated.
    let s = Shared {
        setpoint_milli: 80_000,
        kp_raw: -(20 << 16),
        ki_raw: -(2 << 16),
        kd_raw: 0,
        output_limit: 1000,
        integral_limit: 1000,
    };
    let mut ours = sovereign(s, AntiWindup::Conditional);
    let mut theirs = reference(s);
    for _ in 0..59 {
        ours.step(100_000, SEC);
        theirs.next_control_output(100.0);
    }
    assert_eq!(ours.step(100_000, SEC).output, 1000);
    assert_eq!(theirs.next_control_output(100.0).output, 1000.0);
    assert_eq!(theirs.next_control_output(100.0).i, 1000.0);
    assert!(ours.integral() < 700, "integral {}", ours.integral());

    // After the drop: ours = 600 − 100 − 10·k, theirs = 1000 − 100 − 10·k.
    let mut ours_above_80_percent = 0;
    let mut theirs_above_80_percent = 0;
    for _ in 0..30 {
        if ours.step(75_000, SEC).output > 800 {
            ours_above_80_percent += 1;
        }
        if theirs.next_control_output(75.0).output > 800.0 {
            theirs_above_80_percent += 1;
        }
    }
    assert_eq!(ours_above_80_percent, 0);
    assert_eq!(theirs_above_80_percent, 9);
}
