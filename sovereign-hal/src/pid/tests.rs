//! Behaviour of the fixed-point PID, one property per test. Test-only (floats compare
//! the filter with its formula).
//!
//! Test-only: the parent module declares this file under `#[cfg(test)]`.

#[cfg(test)]
use proptest::prelude::*;

use super::*;

const SEC: Period = Period::ONE_SECOND;

fn ms(v: u32) -> Period {
    Period::new(MilliSeconds(v)).unwrap()
}

/// Cooling loop around 80 °C, per-mille output 0–1000.
fn cooling(kp: i16, ki: i16, kd: i16) -> PidConfig {
    let mut c = PidConfig::new(Direction::Reverse, 80_000, 0, 1000);
    c.kp = Gain::from_whole(kp);
    c.ki = Gain::from_whole(ki);
    c.kd = Gain::from_whole(kd);
    c
}

#[test]
fn reference_fan_loop_is_a_valid_configuration() {
    let c = PidConfig::reference_fan_loop();
    assert_eq!(Pid::new(c), Ok(Pid::reference_fan_loop()));
    assert_eq!((c.output_min, c.output_max), (200, 1000));
    assert_eq!(c.setpoint, 80_000);
}

#[test]
fn reference_fan_loop_idles_at_minimum_and_goes_full_when_hot() {
    let mut pid = Pid::reference_fan_loop();
    let cold = pid.step(45_000, SEC);
    assert_eq!(output_to_duty(cold.output), Duty::from_percent(20));
    assert!(cold.limits.contains(LimitsHit::OUTPUT_MIN));
    let mut pid = Pid::reference_fan_loop();
    let hot = pid.step(110_000, SEC);
    assert_eq!(output_to_duty(hot.output), Duty::FULL);
}

#[test]
fn hotter_means_more_output_with_positive_gains_in_reverse_direction() {
    let mut pid = Pid::new(cooling(10, 0, 0)).unwrap();
    let t = pid.step(82_500, SEC);
    assert_eq!(t.error, 2_500);
    assert_eq!(t.p, 25);
    let mut direct = cooling(10, 0, 0);
    direct.direction = Direction::Direct;
    direct.output_min = -1000;
    let mut pid = Pid::new(direct).unwrap();
    assert_eq!(pid.step(82_500, SEC).p, -25);
}

#[test]
fn integral_scales_with_dt() {
    let mut a = Pid::new(cooling(0, 2, 0)).unwrap();
    let mut b = Pid::new(cooling(0, 2, 0)).unwrap();
    // 5 °C over for 1 s at 2 ‰/(°C·s) = 10 ‰; the same over ten 100 ms steps.
    assert_eq!(a.step(85_000, SEC).i, 10);
    let mut last = PidTerms::default();
    for _ in 0..10 {
        last = b.step(85_000, ms(100));
    }
    assert_eq!(last.i, 10);
}

#[test]
fn derivative_scales_with_dt_and_acts_on_the_measurement() {
    let mut pid = Pid::new(cooling(0, 0, 10)).unwrap();
    assert_eq!(pid.step(80_000, SEC).d, 0);
    // +1 °C in 0.5 s = 2 °C/s × 10 = 20 ‰.
    assert_eq!(pid.step(81_000, ms(500)).d, 20);
}

#[test]
fn no_first_sample_kick() {
    let mut pid = Pid::new(cooling(0, 0, 100)).unwrap();
    // Far from the setpoint on the very first sample: D must still be zero.
    assert_eq!(pid.step(95_000, SEC).d, 0);
}

#[test]
fn no_setpoint_kick() {
    let mut pid = Pid::new(cooling(0, 0, 100)).unwrap();
    pid.step(85_000, SEC);
    pid.set_setpoint(70_000);
    // Derivative of the error would be 15 °C/s × 100 = 1500 ‰: a full-scale kick.
    let t = pid.step(85_000, SEC);
    assert_eq!(t.d, 0);
}

#[test]
fn derivative_filter_smooths_a_step() {
    let mut c = cooling(0, 0, 10);
    c.derivative_filter = MilliSeconds(3000);
    let mut pid = Pid::new(c).unwrap();
    pid.step(80_000, SEC);
    // Unfiltered D would be 10 °C/s × 10 = 100 ‰; with τ = 3 s, dt = 1 s: 100/4 = 25.
    assert_eq!(pid.step(90_000, SEC).d, 25);
    // Then it decays: 25 + (0 − 25)/4 = 18.75 → 19.
    assert_eq!(pid.step(90_000, SEC).d, 19);
}

#[test]
fn asymmetric_output_limits() {
    let mut c = cooling(100, 0, 0);
    c.output_min = 200;
    c.output_max = 900;
    let mut pid = Pid::new(c).unwrap();
    let t = pid.step(60_000, SEC);
    assert_eq!((t.unsaturated, t.output), (-2000, 200));
    assert!(t.limits.contains(LimitsHit::OUTPUT_MIN));
    let t = pid.step(100_000, SEC);
    assert_eq!((t.unsaturated, t.output), (2000, 900));
    assert!(t.limits.contains(LimitsHit::OUTPUT_MAX));
}

#[test]
fn integral_limits_clamp_the_integral() {
    let mut c = cooling(0, 100, 0);
    c.integral_min = -50;
    c.integral_max = 300;
    c.anti_windup = AntiWindup::ClampOnly;
    let mut pid = Pid::new(c).unwrap();
    let t = pid.step(90_000, SEC);
    assert_eq!(t.i, 300);
    assert!(t.limits.contains(LimitsHit::INTEGRAL_MAX));
    let t = pid.step(70_000, SEC);
    assert_eq!(t.i, -50);
    assert!(t.limits.contains(LimitsHit::INTEGRAL_MIN));
}

#[test]
fn conditional_integration_holds_the_integral_only_while_saturated() {
    let mut c = cooling(10, 5, 0);
    c.output_max = 400;
    c.integral_min = -1000;
    c.integral_max = 1000;
    let mut pid = Pid::new(c).unwrap();
    // 10 °C over: P = 100, I grows 50 per second until P + I hits 400.
    let mut integrals = [0; 10];
    for slot in &mut integrals {
        *slot = pid.step(90_000, SEC).i;
    }
    assert_eq!(integrals[..6], [50, 100, 150, 200, 250, 300]);
    // At 300 the output is exactly 400; the next increment would push past it: held.
    assert!(integrals[6..].iter().all(|&i| i == 300));
    // The error reverses: integration resumes at once, output leaves the limit.
    let t = pid.step(79_000, SEC);
    assert_eq!(t.i, 295);
    assert_eq!(t.output, 285);
    assert!(!t.limits.contains(LimitsHit::INTEGRATION_HELD));
}

#[test]
fn conditional_integration_fills_up_to_the_limit_instead_of_stopping_short() {
    // 10 °C over, P = 100, I grows 70 per second: 70, 140, 210, 280 → output 380. The
    // next full increment would overshoot 400; the output is not saturated, so holding
    // the whole increment would leave the fans at 38 % forever while the CPU is hot.
    let mut c = cooling(10, 7, 0);
    c.output_max = 400;
    c.integral_max = 1000;
    let mut pid = Pid::new(c).unwrap();
    let outputs: [i32; 8] = core::array::from_fn(|_| pid.step(90_000, SEC).output);
    assert_eq!(outputs[..4], [170, 240, 310, 380]);
    assert!(outputs[4..].iter().all(|&o| o == 400), "{outputs:?}");
    // Saturated now: further increments are held, the integral does not wind up.
    let t = pid.step(90_000, SEC);
    assert!(
        t.limits
            .contains(LimitsHit::OUTPUT_MAX | LimitsHit::INTEGRATION_HELD),
        "{t:?}"
    );
    assert_eq!(pid.integral(), 300);
    // And only the part of the increment that fits was taken: Ki·e is an upper bound.
    let mut down = cooling(10, 7, 0);
    down.output_min = -400;
    down.integral_min = -1000;
    let mut pid = Pid::new(down).unwrap();
    let outputs: [i32; 6] = core::array::from_fn(|_| pid.step(70_000, SEC).output);
    assert_eq!(outputs, [-170, -240, -310, -380, -400, -400]);
}

proptest! {
    /// Truncation toward zero is odd-symmetric: an error sequence that is zero-mean in
    /// pairs (e, −e) leaves the integral exactly where it started, for any gain and dt
    /// (a floor-rounding integrator would drift downwards by up to 1 LSB per step).
    #[test]
    fn integral_does_not_drift_under_a_zero_mean_error(
        ki in (i32::MIN + 1..=i32::MAX).prop_map(|r| Gain::from_raw(r).unwrap()),
        steps in proptest::collection::vec((-5_000i32..5_000, 1u32..100_000), 1..100),
    ) {
        let mut c = PidConfig::new(Direction::Reverse, 0, i32::MIN, i32::MAX);
        c.ki = ki;
        let mut pid = Pid::new(c).unwrap();
        // Start from a non-zero integral so the check is not trivially satisfied.
        pid.step(1_000, SEC);
        let start = pid.integral;
        for (e, dt) in steps {
            pid.step(e, ms(dt));
            pid.step(-e, ms(dt));
        }
        prop_assert_eq!(pid.integral, start);
    }
}

/// Readings that hit the ends of `i32` often, not once in four billion draws.
fn extreme_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(i32::MIN),
        Just(i32::MAX),
        Just(0),
        Just(-1),
        any::<i32>()
    ]
}

/// Periods of 1 ms and of `u32::MAX` ms (49 days) as often as anything between.
fn extreme_period() -> impl Strategy<Value = Period> {
    prop_oneof![Just(1u32), Just(u32::MAX), 1..=u32::MAX].prop_map(ms)
}

proptest! {
    /// The extremes themselves, in any order and with any configuration: no panic, and
    /// the output and integral stay inside their limits.
    #[test]
    fn extreme_readings_and_periods_stay_within_limits(
        config in any_config(),
        steps in proptest::collection::vec(
            (extreme_i32(), extreme_i32(), extreme_period(), proptest::option::of(extreme_i32())),
            1..40,
        ),
    ) {
        let mut pid = Pid::new(config).unwrap();
        for (m, dist, dt, manual) in steps {
            pid.set_manual(manual);
            let t = pid.step_with_disturbance(m, dist, dt);
            prop_assert!(t.output >= config.output_min && t.output <= config.output_max);
            prop_assert!(t.i >= config.integral_min && t.i <= config.integral_max);
        }
    }
}

proptest! {
    /// D, FF and the limits never enter the integral: in automatic mode it moves only in
    /// the direction of Ki·e and by at most |Ki·e·dt| (plus truncation), whatever the
    /// derivative, feed-forward, slew or output limits do.
    #[test]
    fn integral_moves_only_by_a_part_of_ki_e_dt(
        config in any_config(),
        steps in proptest::collection::vec((extreme_i32(), extreme_i32(), extreme_period()), 1..40),
    ) {
        let mut pid = Pid::new(config).unwrap();
        for (m, dist, dt) in steps {
            let before = i128::from(pid.integral);
            let t = pid.step_with_disturbance(m, dist, dt);
            let moved = i128::from(pid.integral) - before;
            // Q16 × milli-units × ms / 10⁶; `t.error` is exact unless saturated to i32.
            let full = i128::from(config.ki.raw()) * i128::from(t.error) * i128::from(dt.millis());
            let bound = if t.error == i32::MIN || t.error == i32::MAX {
                i128::MAX
            } else {
                full.abs() / 1_000_000 + 2
            };
            prop_assert!(moved.abs() <= bound, "moved {moved}, Ki·e·dt {full}/10⁶");
            prop_assert!(moved == 0 || moved.signum() == full.signum(), "moved {moved} against Ki·e {full}");
        }
    }
}

#[test]
fn slew_limits_up_and_down() {
    let mut c = cooling(100, 0, 0);
    c.slew_up_per_s = Some(50);
    c.slew_down_per_s = Some(10);
    let mut pid = Pid::new(c).unwrap();
    assert_eq!(pid.step(80_000, SEC).output, 0);
    let t = pid.step(90_000, ms(2000));
    assert_eq!(t.output, 100);
    assert!(t.limits.contains(LimitsHit::SLEW_UP));
    let t = pid.step(80_000, ms(500));
    assert_eq!(t.output, 95);
    assert!(t.limits.contains(LimitsHit::SLEW_DOWN));
}

#[test]
fn feed_forward_and_slew_never_leak_into_the_integral() {
    // phosphor-pid-control back-calculates its integral on every slew-limited step, so
    // FF and D end up in I (STYLE.md). Here, at zero error, I must stay zero.
    let mut c = cooling(10, 10, 50);
    c.kff_disturbance = Gain::from_whole(2); // 2 ‰ per W
    c.slew_up_per_s = Some(10);
    c.slew_down_per_s = Some(10);
    c.integral_min = -1000;
    c.integral_max = 1000;
    let mut pid = Pid::new(c).unwrap();
    for (i, power_mw) in [0, 300_000, 300_000, 0, 300_000, 0].into_iter().enumerate() {
        let t = pid.step_with_disturbance(80_000, power_mw, SEC);
        assert_eq!(t.i, 0, "step {i}: {t:?}");
    }
}

#[test]
fn feed_forward_from_setpoint_disturbance_and_bias() {
    let mut c = PidConfig::new(Direction::Direct, 5_000_000, 0, 1000);
    // A fan RPM loop as phosphor configures it: pure feed-forward, duty ∝ RPM target.
    c.kff_setpoint = Gain::from_ratio(1, 10).unwrap(); // 0.1 ‰ per RPM (setpoint in mRPM)
    c.kff_disturbance = Gain::from_whole(1);
    c.bias = 50;
    let mut pid = Pid::new(c).unwrap();
    let t = pid.step_with_disturbance(0, 100_000, SEC);
    assert_eq!(t.ff, 500 + 100 + 50);
    assert_eq!(t.output, 650);
}

#[test]
fn setpoint_band_zeroes_the_error_and_stays_continuous() {
    let mut c = cooling(10, 0, 0);
    c.setpoint_band = SetpointBand {
        below: 3_000,
        above: 1_000,
    };
    let mut pid = Pid::new(c).unwrap();
    assert_eq!(pid.step(80_900, SEC).error, 0);
    assert_eq!(pid.step(77_500, SEC).error, 0);
    assert_eq!(pid.step(81_500, SEC).error, 500);
    assert_eq!(pid.step(76_000, SEC).error, -1_000);
}

#[test]
fn input_deadband_holds_small_moves() {
    let mut c = cooling(10, 0, 0);
    c.input_deadband = 250;
    let mut pid = Pid::new(c).unwrap();
    assert_eq!(pid.step(81_000, SEC).error, 1_000);
    // One Tctl quantum (125 m°C) up and down: nothing moves.
    assert_eq!(pid.step(81_125, SEC).error, 1_000);
    assert_eq!(pid.step(80_875, SEC).error, 1_000);
    assert_eq!(pid.step(81_300, SEC).error, 1_300);
}

#[test]
fn manual_mode_and_bumpless_return_to_auto() {
    let mut c = cooling(20, 1, 0);
    c.integral_max = 1000;
    let mut pid = Pid::new(c).unwrap();
    pid.step(85_000, SEC);
    pid.set_manual(Some(700));
    let t = pid.step(85_000, SEC);
    assert!(t.manual);
    assert_eq!(t.output, 700);
    pid.set_manual(None);
    // First automatic step continues from 700 ‰: P = 100, I takes the rest.
    let t = pid.step(85_000, SEC);
    assert!(!t.manual);
    assert_eq!((t.output, t.p, t.i), (700, 100, 600));
    // And the loop goes on from there.
    assert_eq!(pid.step(85_000, SEC).output, 705);
}

#[test]
fn leaving_manual_mode_leaves_no_lasting_offset_without_an_integral_term() {
    // A P-only loop (Ki = 0) has no integrator to absorb the difference between the
    // manual duty and P: seeding one would keep that offset forever, with Ki = 0 nothing
    // ever removes it. The return is shaped by the slew limits instead.
    let mut c = cooling(20, 0, 0);
    c.slew_down_per_s = Some(100);
    let mut pid = Pid::new(c).unwrap();
    pid.step(85_000, SEC);
    pid.set_manual(Some(700));
    pid.step(85_000, SEC);
    pid.set_manual(None);
    let back: [i32; 7] = core::array::from_fn(|_| pid.step(85_000, SEC).output);
    assert_eq!(back, [600, 500, 400, 300, 200, 100, 100]);
    assert_eq!(pid.integral(), 0);
}

#[test]
fn manual_output_respects_the_output_limits() {
    let mut pid = Pid::reference_fan_loop();
    pid.set_manual(Some(50));
    assert_eq!(pid.step(60_000, SEC).output, 200);
}

#[test]
fn changing_ki_does_not_bump_the_output() {
    let mut pid = Pid::new(cooling(0, 10, 0)).unwrap();
    pid.step(81_000, SEC);
    let before = pid.step(80_000, SEC).output;
    let mut c = *pid.config();
    c.ki = Gain::from_whole(1000);
    pid.set_config(c).unwrap();
    assert_eq!(pid.step(80_000, SEC).output, before);
}

#[test]
fn constructors_reject_bad_configurations() {
    let good = cooling(1, 1, 1);
    let mut c = good;
    c.output_min = 1001;
    assert_eq!(Pid::new(c), Err(PidError::InvertedOutputLimits));
    let mut c = good;
    c.integral_min = 10;
    c.integral_max = -10;
    assert_eq!(Pid::new(c), Err(PidError::InvertedIntegralLimits));
    let mut c = good;
    c.slew_down_per_s = Some(0);
    assert_eq!(Pid::new(c), Err(PidError::ZeroSlewRate));
    let mut pid = Pid::new(good).unwrap();
    assert_eq!(pid.set_config(c), Err(PidError::ZeroSlewRate));
    assert_eq!(pid.config(), &good);
}

#[test]
fn output_to_duty_clamps() {
    assert_eq!(output_to_duty(-5), Duty::ZERO);
    assert_eq!(output_to_duty(625).per_mille(), 625);
    assert_eq!(output_to_duty(5000), Duty::FULL);
}

#[test]
fn extreme_values_saturate_instead_of_wrapping() {
    let mut c = PidConfig::new(Direction::Reverse, i32::MIN, i32::MIN, i32::MAX);
    c.kp = Gain::from_raw(i32::MAX).unwrap();
    c.ki = Gain::from_raw(i32::MAX).unwrap();
    c.kd = Gain::from_raw(i32::MAX).unwrap();
    c.kff_disturbance = Gain::from_raw(i32::MAX).unwrap();
    c.slew_up_per_s = Some(u32::MAX);
    let mut pid = Pid::new(c).unwrap();
    let t = pid.step_with_disturbance(i32::MAX, i32::MAX, ms(1));
    assert_eq!(t.output, i32::MAX);
    let t = pid.step_with_disturbance(i32::MIN, i32::MIN, ms(u32::MAX));
    // The most negative disturbance, fed forward at the largest gain, drives the output
    // to its lower limit; nothing wraps on the way.
    assert_eq!(t.output, i32::MIN);
    assert!(t.limits.contains(LimitsHit::OUTPUT_MIN));
}

fn any_gain() -> impl Strategy<Value = Gain> {
    (i32::MIN + 1..=i32::MAX).prop_map(|r| Gain::from_raw(r).unwrap())
}

fn any_config() -> impl Strategy<Value = PidConfig> {
    (
        (
            any::<bool>(),
            any::<i32>(),
            any_gain(),
            any_gain(),
            any_gain(),
            any_gain(),
            any_gain(),
        ),
        (
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
        ),
        (
            proptest::option::of(1..=u32::MAX),
            proptest::option::of(1..=u32::MAX),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
        ),
        (any::<u32>(), any::<u32>()),
    )
        .prop_map(
            |(
                (dir, sp, kp, ki, kd, kffs, kffd),
                (bias, o1, o2, i1, i2),
                (up, down, tau, below, above, dead, cond),
                (filter, out_dead),
            )| {
                let mut c = PidConfig::new(
                    if dir {
                        Direction::Reverse
                    } else {
                        Direction::Direct
                    },
                    sp,
                    o1.min(o2),
                    o1.max(o2),
                );
                (c.kp, c.ki, c.kd, c.kff_setpoint, c.kff_disturbance, c.bias) =
                    (kp, ki, kd, kffs, kffd, bias);
                (c.integral_min, c.integral_max) = (i1.min(i2), i1.max(i2));
                (c.slew_up_per_s, c.slew_down_per_s) = (up, down);
                c.derivative_filter = MilliSeconds(tau);
                c.setpoint_band = SetpointBand { below, above };
                c.input_deadband = dead;
                c.measurement_filter = MilliSeconds(filter);
                c.output_deadband = out_dead;
                c.anti_windup = if cond {
                    AntiWindup::Conditional
                } else {
                    AntiWindup::ClampOnly
                };
                c
            },
        )
}

proptest! {
    /// No configuration and no sequence of readings panics, and the output and integral
    /// always stay inside their limits.
    #[test]
    fn any_readings_stay_within_limits(
        config in any_config(),
        steps in proptest::collection::vec((any::<i32>(), any::<i32>(), 1..=u32::MAX, proptest::option::of(any::<i32>())), 1..40),
    ) {
        let mut pid = Pid::new(config).unwrap();
        for (m, dist, dt, manual) in steps {
            pid.set_manual(manual);
            let t = pid.step_with_disturbance(m, dist, Period::new(MilliSeconds(dt)).unwrap());
            prop_assert!(t.output >= config.output_min && t.output <= config.output_max);
            prop_assert!(t.i >= config.integral_min && t.i <= config.integral_max);
        }
    }

    /// Without slew limits the output deadband changes nothing but the output: the
    /// integral is the same as without it, the output is never more than the deadband
    /// away from the undeadbanded one, and equal to it whenever that one is at a limit.
    #[test]
    fn output_deadband_only_holds_small_changes(
        dead in 0u32..60,
        steps in proptest::collection::vec((60_000i32..100_000, 1u32..3000), 1..60),
    ) {
        let mut c = cooling(50, 5, 0);
        c.output_min = 200;
        let mut plain = Pid::new(c).unwrap();
        c.output_deadband = dead;
        let mut held = Pid::new(c).unwrap();
        for (m, dt) in steps {
            let dt = Period::new(MilliSeconds(dt)).unwrap();
            let (a, b) = (plain.step(m, dt), held.step(m, dt));
            prop_assert_eq!(a.i, b.i);
            prop_assert!(a.output.abs_diff(b.output) <= dead, "{a:?} {b:?}");
            // "At a limit" is the limit flag, not the rounded ‰: an output a fraction of a
            // ‰ below the maximum prints as the maximum but is not at it, and may be held.
            if a.limits.intersects(LimitsHit::OUTPUT_MIN | LimitsHit::OUTPUT_MAX) {
                prop_assert_eq!(a.output, b.output);
            }
        }
    }

    /// With fixed limits, a slew-limited output never moves faster than allowed.
    #[test]
    fn slew_limits_hold_for_any_readings(
        up in 1u32..2000, down in 1u32..2000,
        steps in proptest::collection::vec((0i32..150_000, 1u32..5000), 2..40),
    ) {
        let mut c = cooling(50, 5, 20);
        c.slew_up_per_s = Some(up);
        c.slew_down_per_s = Some(down);
        let mut pid = Pid::new(c).unwrap();
        let mut prev = pid.step(steps[0].0, SEC).output;
        for (m, dt) in steps.into_iter().skip(1) {
            let out = pid.step(m, Period::new(MilliSeconds(dt)).unwrap()).output;
            let rise = i64::from(out) - i64::from(prev);
            // +1: the output is the Q16 state rounded to nearest, twice.
            prop_assert!(rise <= i64::from(up) * i64::from(dt) / 1000 + 1, "rise {rise}");
            prop_assert!(-rise <= i64::from(down) * i64::from(dt) / 1000 + 1, "fall {rise}");
            prev = out;
        }
    }
}

/// P-only cooling loop around 0 m°C whose P term is the error in m°C (Kp 1000 ‰/°C),
/// so the filtered measurement can be read off `terms.p`.
fn filter_probe(tau_ms: u32) -> Pid {
    let mut c = PidConfig::new(Direction::Reverse, 0, -1_000_000, 1_000_000);
    c.kp = Gain::from_whole(1000);
    c.measurement_filter = MilliSeconds(tau_ms);
    Pid::new(c).unwrap()
}

#[test]
fn measurement_filter_step_response_is_first_order() {
    // τ = 10 s, dt = 1 s, a 10 °C step after one sample at 0 °C.
    let mut pid = filter_probe(10_000);
    assert_eq!(pid.step(0, SEC).p, 0);
    let step_mc = 10_000.0_f64;
    for k in 1..=60_i32 {
        let filtered = f64::from(pid.step(10_000, SEC).p);
        // Backward Euler: 1 − (τ/(τ+dt))^k, within 1 m°C (rounding of the output only;
        // the Q16 state truncates by < 1/65536 m°C per step).
        let discrete = step_mc * (1.0 - (10.0_f64 / 11.0).powi(k));
        assert!(
            (filtered - discrete).abs() <= 1.0,
            "k {k}: {filtered} vs {discrete}"
        );
        // The continuous first-order response 1 − e^(−t/τ): within 2 % of the step for
        // dt = τ/10 (the largest gap of the two curves is 1.77 % at this ratio).
        let continuous = step_mc * (1.0 - (-f64::from(k) / 10.0).exp());
        assert!(
            (filtered - continuous).abs() <= 0.02 * step_mc,
            "k {k}: {filtered} vs {continuous}"
        );
    }
}

#[test]
fn measurement_filter_starts_at_the_first_reading_and_reaches_a_steady_input() {
    let mut pid = filter_probe(2_000);
    // No start-up transient: the first step sees the reading itself.
    assert_eq!(pid.step(85_000, SEC).p, 85_000);
    for _ in 0..200 {
        pid.step(80_125, SEC);
    }
    assert_eq!(pid.step(80_125, SEC).p, 80_125);
    // The period counts: one 10 s step moves a 2 s filter 10/12 of the way.
    let mut pid = filter_probe(2_000);
    pid.step(0, SEC);
    assert_eq!(pid.step(12_000, ms(10_000)).p, 10_000);
}

#[test]
fn measurement_filter_calms_a_flickering_quantised_reading() {
    // Tctl flickering by one k10temp step (0.125 °C) around 80 °C at Kp 268 ‰/°C: the
    // raw loop moves the output 33 ‰ at every flicker, the 2 s filter far less.
    let total_movement = |tau_ms: u32| {
        let mut c = cooling(268, 0, 0);
        c.measurement_filter = MilliSeconds(tau_ms);
        c.output_min = -1000;
        let mut pid = Pid::new(c).unwrap();
        let mut prev = pid.step(80_000, SEC).output;
        let mut moved = 0;
        for k in 0..100 {
            let m = if k % 2 == 0 { 80_125 } else { 80_000 };
            let out = pid.step(m, SEC).output;
            moved += out.abs_diff(prev);
            prev = out;
        }
        moved
    };
    let raw = total_movement(0);
    let filtered = total_movement(2_000);
    assert!(raw >= 3_300, "raw {raw}");
    assert!(filtered * 4 <= raw, "filtered {filtered} vs raw {raw}");
}

#[test]
fn measurement_filter_off_is_the_plain_controller() {
    let mut plain = Pid::new(cooling(40, 2, 5)).unwrap();
    let mut with_field = Pid::new(cooling(40, 2, 5)).unwrap();
    let mut c = cooling(40, 2, 5);
    c.measurement_filter = MilliSeconds(0);
    with_field.set_config(c).unwrap();
    for m in [80_000, 83_000, 79_000, 95_000, 60_000] {
        assert_eq!(plain.step(m, SEC), with_field.step(m, SEC));
    }
}

/// P-only loop, 10 ‰/°C, output 200–1000 ‰, output deadband 5 ‰.
fn deadband_loop() -> PidConfig {
    let mut c = cooling(10, 0, 0);
    c.output_min = 200;
    c.bias = 600;
    c.output_deadband = 5;
    c
}

#[test]
fn output_deadband_holds_small_changes_and_passes_larger_ones() {
    let mut pid = Pid::new(deadband_loop()).unwrap();
    assert_eq!(pid.step(80_000, SEC).output, 600);
    // +0.3 °C ⇒ 3 ‰: held.
    let t = pid.step(80_300, SEC);
    assert_eq!(t.output, 600);
    assert_eq!(t.unsaturated, 603);
    assert!(t.limits.contains(LimitsHit::OUTPUT_HELD));
    // +0.5 °C ⇒ 5 ‰: still held (≤ the deadband).
    assert_eq!(pid.step(80_500, SEC).output, 600);
    // +0.6 °C ⇒ 6 ‰: passed on in full, and held there.
    let t = pid.step(80_600, SEC);
    assert_eq!(t.output, 606);
    assert!(!t.limits.contains(LimitsHit::OUTPUT_HELD));
    assert_eq!(pid.step(80_200, SEC).output, 606);
    assert_eq!(pid.step(80_000, SEC).output, 600);
}

#[test]
fn output_deadband_never_holds_the_output_off_a_limit() {
    let mut c = deadband_loop();
    c.bias = 0;
    c.output_deadband = 10;
    let mut pid = Pid::new(c).unwrap();
    // 100.5 °C ⇒ 205 ‰; 100.8 °C ⇒ 208 ‰ is held at 205 ‰.
    assert_eq!(pid.step(100_500, SEC).output, 205);
    assert_eq!(pid.step(100_800, SEC).output, 205);
    // Cooler: the demand falls to (99 °C) or below (exactly 100 °C) the 200 ‰ minimum,
    // 5 ‰ away, inside the deadband: the output goes to the minimum all the same.
    let t = pid.step(99_000, SEC);
    assert_eq!(t.output, 200, "{t:?}");
    assert!(t.limits.contains(LimitsHit::OUTPUT_MIN));
    assert!(!t.limits.contains(LimitsHit::OUTPUT_HELD));
    assert_eq!(pid.step(100_800, SEC).output, 200);
    let mut pid = Pid::new(c).unwrap();
    assert_eq!(pid.step(100_500, SEC).output, 205);
    assert_eq!(pid.step(100_000, SEC).output, 200);
    // At the top: 995 ‰, then a demand of exactly or above the maximum gives 1000 ‰.
    let mut pid = Pid::new(c).unwrap();
    assert_eq!(pid.step(179_500, SEC).output, 995);
    let t = pid.step(190_000, SEC);
    assert_eq!(t.output, 1000);
    assert!(t.limits.contains(LimitsHit::OUTPUT_MAX));
    assert!(!t.limits.contains(LimitsHit::OUTPUT_HELD));
    let mut pid = Pid::new(c).unwrap();
    assert_eq!(pid.step(179_500, SEC).output, 995);
    assert_eq!(pid.step(180_000, SEC).output, 1000);
    // And from the maximum, a small fall is held again.
    assert_eq!(pid.step(179_500, SEC).output, 1000);
}

#[test]
fn output_deadband_does_not_hold_a_manual_or_failsafe_output() {
    let mut pid = Pid::new(deadband_loop()).unwrap();
    assert_eq!(pid.step(80_000, SEC).output, 600);
    // A supervisor (failsafe) demands 2 ‰ more: applied at once, not held.
    pid.set_manual(Some(602));
    assert_eq!(pid.step(80_000, SEC).output, 602);
    pid.set_manual(Some(1000));
    assert_eq!(pid.step(80_000, SEC).output, 1000);
    // Back to automatic: this loop is P-only (Ki = 0), so there is no integrator to carry
    // a bumpless offset (see `leaving_manual_mode_leaves_no_lasting_offset_without_an_
    // integral_term`) and no slew limit: the output returns to the loop's own 600 ‰ —
    // and the deadband does not hold the old manual 1000 ‰ either.
    pid.set_manual(None);
    assert_eq!(pid.step(80_000, SEC).output, 600);
}

#[test]
fn integral_keeps_working_while_the_output_is_held() {
    // 0.2 °C above the setpoint with Ki 1 ‰/(°C·s): 0.2 ‰ per second. The output is
    // held until the integral has built more than the deadband, so no error is left
    // standing.
    let mut c = deadband_loop();
    c.ki = Gain::from_whole(1);
    let mut pid = Pid::new(c).unwrap();
    let first = pid.step(80_200, SEC).output;
    let mut moved_after = None;
    for s in 1..=60 {
        let t = pid.step(80_200, SEC);
        if t.output != first {
            moved_after = Some(s);
            break;
        }
    }
    // 5 ‰ at 0.2 ‰/s: the 26th second's increment takes it past the deadband.
    assert_eq!(moved_after, Some(26));
}

#[test]
fn output_deadband_does_not_stop_a_slow_slew() {
    // The reference loop's 2 %/s fall at a 100 ms period is 2 ‰ per step, less than a
    // 4 ‰ deadband: the fall must go on step by step, not stall.
    let mut c = PidConfig::reference_fan_loop();
    c.output_deadband = 4;
    c.ki = Gain::ZERO;
    let mut pid = Pid::new(c).unwrap();
    // 95 °C: 15 °C × 40 ‰/°C = 600 ‰.
    assert_eq!(pid.step(95_000, ms(100)).output, 600);
    let mut out = 0;
    for _ in 0..10 {
        let t = pid.step(85_000, ms(100));
        assert!(t.limits.contains(LimitsHit::SLEW_DOWN), "{t:?}");
        out = t.output;
    }
    assert_eq!(out, 580);
}
