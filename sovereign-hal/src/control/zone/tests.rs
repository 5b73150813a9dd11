//! Zone behaviour a user would notice: which duty the fans get, and when.
//!
//! Test-only: the parent module declares this file under `#[cfg(test)]`.

extern crate std;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::control::curve::CurvePoint;
use crate::control::events::EscalationAction;
use crate::control::failsafe::EscalationPolicy;
use crate::control::health::{SensorLimits, StallLimits};
use crate::control::threshold::{ThresholdLevel, Thresholds};
use crate::pid::{Direction, Gain, PidConfig};
use crate::units::MilliSeconds;

const SEC: Period = Period::ONE_SECOND;
const CPU: SensorId = SensorId(0);
const DIMM: SensorId = SensorId(1);

fn sensor(limits: SensorLimits, thresholds: Thresholds) -> ZoneSensor {
    ZoneSensor {
        check: SensorCheck::new(limits).unwrap(),
        thresholds: ThresholdMonitor::new(thresholds).unwrap(),
    }
}

fn stall() -> StallCheck {
    StallCheck::new(StallLimits {
        min_rpm: Rpm(500),
        above_duty: Duty::from_percent(30),
        grace_periods: 1,
    })
}

fn config(policy: FailsafePolicy) -> ZoneConfig {
    ZoneConfig {
        id: ZoneId(1),
        min_duty: Duty::from_percent(20),
        max_duty: Duty::FULL,
        failsafe: policy,
    }
}

fn dimm_table() -> Controller {
    let rows = [
        CurvePoint::new(50_000, 300),
        CurvePoint::new(70_000, 600),
        CurvePoint::new(80_000, 1000),
    ];
    Controller::Stepwise(Stepwise::new(&rows, 0, 0, StepwiseMode::Floor).unwrap())
}

/// The reference CPU loop plus a DIMM table, two direct-duty fans.
fn reference_zone(policy: FailsafePolicy) -> Zone<4, 4, 2> {
    let sensors = [
        sensor(SensorLimits::TCTL, Thresholds::upper(90_000, 95_000, 2_000)),
        // DIMM physics, not the CPU's: ≤ 1.5 °C/s, 30 s timeout (THERMAL.md §4).
        sensor(SensorLimits::DIMM, Thresholds::default()),
    ];
    let inputs = [
        ZoneInput::new(
            &[CPU],
            Combine::Hottest,
            Controller::Pid(Pid::reference_fan_loop()),
        )
        .unwrap(),
        ZoneInput::new(&[DIMM], Combine::Hottest, dimm_table()).unwrap(),
    ];
    let fans = [
        ZoneFan::new(FanDrive::Duty, stall()),
        ZoneFan::new(FanDrive::Duty, stall()),
    ];
    Zone::new(config(policy), &sensors, &inputs, &fans).unwrap()
}

fn duties(out: &ZoneOutput<2>) -> Vec<u16> {
    out.commands
        .iter()
        .map(|c| match c {
            FanCommand::Duty(d) => d.per_mille(),
            FanCommand::Rpm(r) => u16::try_from(r.0).unwrap_or(u16::MAX),
        })
        .collect()
}

const TURNING: [Option<Rpm>; 2] = [Some(Rpm(6000)), Some(Rpm(6000))];

#[test]
fn zone_demand_is_the_largest_controller_output() {
    let mut z = reference_zone(FailsafePolicy::DEFAULT);
    let mut q = EventQueue::<16>::new();
    // CPU cold (PID at its 20 % floor), DIMMs at 72 °C → 60 % from the table.
    let out = z.step(
        &[Sample::Fresh(50_000), Sample::Fresh(72_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    assert_eq!(out.demand.per_mille(), 600);
    assert_eq!(duties(&out), [600, 600]);
    assert!(!out.failsafe);
    assert_eq!(z.inputs()[0].last_output(), Some(200));
    assert!(z.inputs()[0].last_terms().is_some());
    assert!(q.is_empty());
}

#[test]
fn no_reading_at_start_means_failsafe_at_once_and_exit_after_m_good_periods() {
    let mut policy = FailsafePolicy::uniform(Duty::from_percent(80), 3);
    policy.escalation = None;
    let mut z = reference_zone(policy);
    let mut q = EventQueue::<16>::new();
    let out = z.step(
        &[Sample::NotPolled, Sample::Fresh(40_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    assert!(out.failsafe);
    assert_eq!(out.causes, FailsafeCauses::NO_READING_YET);
    assert_eq!(duties(&out), [800, 800]);
    assert_eq!(
        q.pop(),
        Some(Event::FailsafeEntered {
            zone: ZoneId(1),
            causes: FailsafeCauses::NO_READING_YET
        })
    );
    let good = [Sample::Fresh(50_000), Sample::Fresh(40_000)];
    for _ in 0..2 {
        assert!(z.step(&good, &TURNING, SEC, &mut q).failsafe);
    }
    let out = z.step(&good, &TURNING, SEC, &mut q);
    assert!(!out.failsafe);
    assert!(matches!(q.pop(), Some(Event::FailsafeLeft { .. })));
    // Bumpless exit: down from 80 % at the CPU PID's 20 ‰/s…
    assert_eq!(out.demand.per_mille(), 780);
    for _ in 0..24 {
        z.step(&good, &TURNING, SEC, &mut q);
    }
    // …to the DIMM table's first row (30 %), which applies below 50 °C.
    let out = z.step(&good, &TURNING, SEC, &mut q);
    assert_eq!(out.demand, Duty::from_percent(30));
    assert!(!z.is_ramping_down());
}

#[test]
fn a_missed_poll_raises_the_fans_by_the_worst_case() {
    let mut z = reference_zone(FailsafePolicy::DEFAULT);
    let mut q = EventQueue::<16>::new();
    z.step(
        &[Sample::Fresh(79_000), Sample::Fresh(40_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    // The CPU read fails once: control on 79 + 50 °C/s × 1 s, clamped to 150 °C.
    let out = z.step(
        &[Sample::ReadFailed, Sample::Fresh(40_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    assert!(!out.failsafe, "within the retries");
    assert_eq!(out.demand, Duty::FULL);
}

#[test]
fn stale_sensor_enters_failsafe_after_its_timeout() {
    let mut z = reference_zone(FailsafePolicy::DEFAULT);
    let mut q = EventQueue::<16>::new();
    z.step(
        &[Sample::Fresh(60_000), Sample::Fresh(40_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    let mut causes = Vec::new();
    for _ in 0..4 {
        causes.push(
            z.step(
                &[Sample::Fresh(60_000), Sample::NotPolled],
                &TURNING,
                SEC,
                &mut q,
            )
            .causes,
        );
    }
    // DIMM sensor: 30 s timeout, so not stale yet; stuck check is at 60 repeats.
    assert!(causes.iter().all(|c| c.is_empty()));
    for _ in 0..27 {
        z.step(
            &[Sample::Fresh(60_000), Sample::NotPolled],
            &TURNING,
            SEC,
            &mut q,
        );
    }
    let out = z.step(
        &[Sample::Fresh(60_125), Sample::NotPolled],
        &TURNING,
        SEC,
        &mut q,
    );
    assert_eq!(out.causes, FailsafeCauses::STALE);
    assert_eq!(out.demand, Duty::FULL);
}

#[test]
fn implausible_readings_are_failsafe_causes() {
    let mut z = reference_zone(FailsafePolicy::DEFAULT);
    let mut q = EventQueue::<16>::new();
    z.step(
        &[Sample::Fresh(60_000), Sample::Fresh(40_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    let out = z.step(
        &[Sample::Fresh(-128_000), Sample::Fresh(40_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    assert_eq!(out.causes, FailsafeCauses::OUT_OF_RANGE);
    // A DIMM 40 °C warmer within one second.
    let out = z.step(
        &[Sample::Fresh(60_000), Sample::Fresh(80_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    assert_eq!(out.causes, FailsafeCauses::TOO_FAST);
    assert!(out.failsafe);
}

#[test]
fn fan_stall_is_reported_and_drives_the_zone_to_failsafe() {
    let mut policy = FailsafePolicy::uniform(Duty::from_percent(70), 1);
    policy.duty[6] = Duty::FULL; // FAN_STALL: the remaining fans must make up for it
    let mut z = reference_zone(policy);
    let mut q = EventQueue::<16>::new();
    let good = [Sample::Fresh(50_000), Sample::Fresh(72_000)];
    let stalled = [Some(Rpm(6000)), Some(Rpm(0))];
    z.step(&good, &TURNING, SEC, &mut q);
    // Driven at 60 %: one low period is the grace, the second is a stall.
    assert!(!z.step(&good, &stalled, SEC, &mut q).failsafe);
    let out = z.step(&good, &stalled, SEC, &mut q);
    assert_eq!(out.causes, FailsafeCauses::FAN_STALL);
    assert_eq!(duties(&out), [1000, 1000]);
    assert!(z.fans()[1].is_stalled());
    assert_eq!(
        q.pop(),
        Some(Event::FanFailed {
            zone: ZoneId(1),
            fan: FanId(1),
            rpm: Rpm(0)
        })
    );
    assert!(matches!(q.pop(), Some(Event::FailsafeEntered { .. })));
    let out = z.step(&good, &TURNING, SEC, &mut q);
    assert_eq!(
        q.pop(),
        Some(Event::FanRecovered {
            zone: ZoneId(1),
            fan: FanId(1),
            rpm: Rpm(6000)
        })
    );
    assert!(!out.failsafe, "exit_after = 1");
}

#[test]
fn critical_threshold_means_failsafe_events_and_escalation() {
    let mut policy = FailsafePolicy::DEFAULT;
    policy.escalation = Some(EscalationPolicy {
        causes: FailsafeCauses::CRITICAL,
        after_periods: 2,
        action: EscalationAction::PowerDown,
    });
    let mut z = reference_zone(policy);
    let mut q = EventQueue::<16>::new();
    let hot = [Sample::Fresh(96_000), Sample::Fresh(40_000)];
    let out = z.step(&hot, &TURNING, SEC, &mut q);
    assert_eq!(out.causes, FailsafeCauses::CRITICAL);
    let seen: Vec<Event> = core::iter::from_fn(|| q.pop()).collect();
    let threshold = |level| Event::Threshold {
        zone: ZoneId(1),
        sensor: CPU,
        level,
        asserted: true,
        value: 96_000,
    };
    assert_eq!(
        seen,
        [
            threshold(ThresholdLevel::UpperNonCritical),
            threshold(ThresholdLevel::UpperCritical),
            Event::FailsafeEntered {
                zone: ZoneId(1),
                causes: FailsafeCauses::CRITICAL
            },
        ]
    );
    z.step(
        &[Sample::Fresh(96_500), Sample::Fresh(40_000)],
        &TURNING,
        SEC,
        &mut q,
    );
    assert_eq!(
        q.pop(),
        Some(Event::EscalationRequested {
            zone: ZoneId(1),
            causes: FailsafeCauses::CRITICAL,
            action: EscalationAction::PowerDown
        })
    );
}

#[test]
fn profiles_add_up_and_ceilings_cap() {
    let sensors = [sensor(SensorLimits::TCTL, Thresholds::default())];
    let linear = |pts: &[(i32, i32)]| {
        let pts: Vec<CurvePoint> = pts.iter().map(|&(x, y)| CurvePoint::new(x, y)).collect();
        Controller::Linear(PiecewiseLinear::new(&pts).unwrap())
    };
    let ceiling_rows = [CurvePoint::new(0, 500), CurvePoint::new(90_000, 1000)];
    let inputs = [
        ZoneInput::new(&[CPU], Combine::Hottest, linear(&[(60_000, 300)]))
            .unwrap()
            .in_profile(1),
        ZoneInput::new(
            &[CPU],
            Combine::Hottest,
            linear(&[(60_000, 150), (95_000, 250)]),
        )
        .unwrap()
        .in_profile(1),
        ZoneInput::new(&[CPU], Combine::Hottest, linear(&[(60_000, 400)]))
            .unwrap()
            .in_profile(2),
        ZoneInput::new(&[CPU], Combine::Hottest, linear(&[(60_000, 420)])).unwrap(),
        ZoneInput::new(
            &[CPU],
            Combine::Hottest,
            Controller::Stepwise(
                Stepwise::new(&ceiling_rows, 0, 0, StepwiseMode::Ceiling).unwrap(),
            ),
        )
        .unwrap(),
    ];
    let fans = [ZoneFan::new(FanDrive::Duty, stall())];
    let mut z: Zone<1, 5, 1> =
        Zone::new(config(FailsafePolicy::DEFAULT), &sensors, &inputs, &fans).unwrap();
    let mut q = EventQueue::<4>::new();
    let tach = [Some(Rpm(5000))];
    // Profile 1: 300 + 150 = 450 beats profile 2's 400 and the lone input's 420.
    assert_eq!(
        z.step(&[Sample::Fresh(60_000)], &tach, SEC, &mut q)
            .demand
            .per_mille(),
        450
    );
    // At 88 °C profile 1 gives 300 + 230 = 530, but the ceiling table still says 500.
    assert_eq!(
        z.step(&[Sample::Fresh(88_000)], &tach, SEC, &mut q)
            .demand
            .per_mille(),
        500
    );
    // From 90 °C the ceiling is 100 %: 300 + 250.
    assert_eq!(
        z.step(&[Sample::Fresh(96_000)], &tach, SEC, &mut q)
            .demand
            .per_mille(),
        550
    );
}

#[test]
fn margin_and_sum_inputs() {
    assert_eq!(
        combine(
            Combine::MarginTo { limit: 95_000 },
            [Some(80_000), Some(85_000)].into_iter()
        ),
        Some(10_000)
    );
    assert_eq!(
        combine(
            Combine::Sum,
            [Some(30_000), Some(8_000), Some(2_000)].into_iter()
        ),
        Some(40_000)
    );
    assert_eq!(combine(Combine::Hottest, [Some(1), None].into_iter()), None);
    assert_eq!(
        combine(Combine::Sum, [Some(i32::MAX), Some(i32::MAX)].into_iter()),
        Some(i32::MAX)
    );
}

#[test]
fn disturbance_feed_forward_pre_spins_the_fans_on_a_load_step() {
    const POWER: SensorId = SensorId(1);
    let power_limits = SensorLimits {
        min: 0,
        max: 1_000_000,
        max_slew_per_s: 1_000_000,
        timeout: MilliSeconds(3_000),
        retries: 2,
        stuck_after: 0,
        worst: super::super::health::WorstCase::High,
    };
    let sensors = [
        sensor(SensorLimits::TCTL, Thresholds::default()),
        sensor(power_limits, Thresholds::default()),
    ];
    let mut pid = PidConfig::reference_fan_loop();
    pid.kff_disturbance = Gain::from_whole(1); // 1 ‰ per W
    let input = ZoneInput::new(
        &[CPU],
        Combine::Hottest,
        Controller::Pid(Pid::new(pid).unwrap()),
    )
    .unwrap()
    .with_disturbance(POWER);
    let fans = [ZoneFan::new(FanDrive::Duty, stall())];
    let mut z: Zone<2, 1, 1> =
        Zone::new(config(FailsafePolicy::DEFAULT), &sensors, &[input], &fans).unwrap();
    let mut q = EventQueue::<4>::new();
    let idle = z.step(
        &[Sample::Fresh(60_000), Sample::Fresh(80_000)],
        &[None],
        SEC,
        &mut q,
    );
    assert_eq!(idle.demand.per_mille(), 200);
    // 360 W before the die has warmed at all: FF = 360 ‰ (P = −800, so the sum is at
    // the floor; at 78 °C P = −80 and the load step shows).
    let mut z = z.clone();
    let step = z.step(
        &[Sample::Fresh(78_000), Sample::Fresh(360_000)],
        &[None],
        SEC,
        &mut q,
    );
    assert_eq!(step.demand.per_mille(), 280);
}

#[test]
fn manual_override_rpm_targets_and_cascade() {
    let sensors = [sensor(SensorLimits::TCTL, Thresholds::default())];
    let table = [CurvePoint::new(0, 500)];
    let input = ZoneInput::new(
        &[CPU],
        Combine::Hottest,
        Controller::Linear(PiecewiseLinear::new(&table).unwrap()),
    )
    .unwrap();
    let mut speed = PidConfig::new(Direction::Direct, 0, 0, 1000);
    // Phosphor-style fan loop: mostly feed-forward of the target (1000 ‰ at 10 000 RPM)
    // plus a small correction on the speed error.
    speed.kff_setpoint = Gain::from_ratio(1, 10).unwrap();
    speed.kp = Gain::from_ratio(1, 100).unwrap();
    let fans = [
        ZoneFan::new(FanDrive::Duty, stall()),
        ZoneFan::new(
            FanDrive::RpmTarget {
                max_rpm: Rpm(10_000),
            },
            stall(),
        ),
        ZoneFan::new(
            FanDrive::Cascade {
                max_rpm: Rpm(10_000),
                speed_loop: Pid::new(speed).unwrap(),
            },
            stall(),
        ),
    ];
    let mut z: Zone<1, 1, 3> =
        Zone::new(config(FailsafePolicy::DEFAULT), &sensors, &[input], &fans).unwrap();
    let mut q = EventQueue::<4>::new();
    assert!(z.set_manual(FanId(0), Some(Duty::from_percent(35))));
    assert!(!z.set_manual(FanId(7), None));
    let out = z.step(
        &[Sample::Fresh(60_000)],
        &[Some(Rpm(3000)), Some(Rpm(5000)), Some(Rpm(4000))],
        SEC,
        &mut q,
    );
    // Cascade: FF 5000 RPM × 0.1 = 500 ‰, P = 0.01 × 1000 RPM error = 10 ‰.
    assert_eq!(
        out.commands.as_slice(),
        [
            FanCommand::Duty(Duty::from_percent(35)),
            FanCommand::Rpm(Rpm(5000)),
            FanCommand::Duty(Duty::from_per_mille_clamped(510))
        ]
    );
}

#[test]
fn constructors_reject_bad_zones() {
    let sensors = [sensor(SensorLimits::TCTL, Thresholds::default())];
    let input = ZoneInput::new(&[CPU], Combine::Hottest, dimm_table()).unwrap();
    let fan = ZoneFan::new(FanDrive::Duty, stall());
    let cfg = config(FailsafePolicy::DEFAULT);
    type Z = Zone<2, 2, 2>;
    let (fans1, inputs1) = ([fan.clone()], [input.clone()]);
    assert_eq!(
        Z::new(cfg, &sensors, &[], &fans1).err(),
        Some(ControlError::EmptyZone)
    );
    assert_eq!(
        Z::new(cfg, &sensors, &inputs1, &[]).err(),
        Some(ControlError::EmptyZone)
    );
    let bad = ZoneInput::new(&[SensorId(3)], Combine::Hottest, dimm_table()).unwrap();
    assert_eq!(
        Z::new(cfg, &sensors, &[bad], &fans1).err(),
        Some(ControlError::UnknownSensor)
    );
    let bad = input.clone().with_disturbance(SensorId(9));
    assert_eq!(
        Z::new(cfg, &sensors, &[bad], &fans1).err(),
        Some(ControlError::UnknownSensor)
    );
    assert_eq!(
        ZoneInput::new(&[], Combine::Sum, dimm_table()).err(),
        Some(ControlError::UnknownSensor)
    );
    let inverted = ZoneConfig {
        min_duty: Duty::FULL,
        max_duty: Duty::ZERO,
        ..cfg
    };
    assert_eq!(
        Z::new(inverted, &sensors, &inputs1, &fans1).err(),
        Some(ControlError::InvertedRange)
    );
    let three = [fan.clone(), fan.clone(), fan.clone()];
    assert_eq!(
        Z::new(cfg, &sensors, &inputs1, &three).err(),
        Some(ControlError::TooManyPoints)
    );
    let zero_exit = ZoneConfig {
        failsafe: FailsafePolicy::uniform(Duty::FULL, 0),
        ..cfg
    };
    assert_eq!(
        Z::new(zero_exit, &sensors, &[input], &[fan]).err(),
        Some(ControlError::ZeroExitPeriods)
    );
}

fn any_sample() -> impl Strategy<Value = Sample> {
    prop_oneof![
        any::<i32>().prop_map(Sample::Fresh),
        Just(Sample::NotPolled),
        Just(Sample::ReadFailed)
    ]
}

proptest! {
    /// No sequence of readings and tachs panics; the fans never get less than the zone
    /// minimum, and in failsafe never less than the failsafe duty.
    #[test]
    fn any_readings_keep_the_fans_within_bounds(
        steps in proptest::collection::vec(
            (proptest::collection::vec(any_sample(), 0..4), proptest::collection::vec(proptest::option::of(any::<u32>().prop_map(Rpm)), 0..3), 1..=u32::MAX),
            1..40,
        ),
    ) {
        let policy = FailsafePolicy::uniform(Duty::from_percent(90), 2);
        let mut z = reference_zone(policy);
        let mut q = EventQueue::<8>::new();
        for (samples, tachs, dt) in steps {
            let out = z.step(&samples, &tachs, Period::new(MilliSeconds(dt)).unwrap(), &mut q);
            prop_assert_eq!(out.commands.len(), 2);
            for d in duties(&out) {
                prop_assert!((200..=1000).contains(&d));
                if out.failsafe {
                    prop_assert!(d >= 900);
                }
            }
        }
    }
}

/// A zone with one cascade fan whose speed loop rises at most 5 %/s.
fn cascade_zone() -> Zone<1, 1, 1> {
    let sensors = [sensor(SensorLimits::TCTL, Thresholds::default())];
    let input = ZoneInput::new(
        &[CPU],
        Combine::Hottest,
        Controller::Linear(PiecewiseLinear::new(&[CurvePoint::new(0, 500)]).unwrap()),
    )
    .unwrap();
    let mut speed = PidConfig::new(Direction::Direct, 0, 0, 1000);
    speed.kff_setpoint = Gain::from_ratio(1, 10).unwrap();
    speed.kp = Gain::from_ratio(1, 100).unwrap();
    speed.slew_up_per_s = Some(50);
    let fan = ZoneFan::new(
        FanDrive::Cascade {
            max_rpm: Rpm(10_000),
            speed_loop: Pid::new(speed).unwrap(),
        },
        stall(),
    );
    let policy = FailsafePolicy::uniform(Duty::FULL, 2);
    Zone::new(config(policy), &sensors, &[input], &[fan]).unwrap()
}

#[test]
fn failsafe_duty_reaches_cascade_fans_at_once() {
    let mut z = cascade_zone();
    let mut q = EventQueue::<8>::new();
    let tach = [Some(Rpm(5_000))];
    let out = z.step(&[Sample::Fresh(60_000)], &tach, SEC, &mut q);
    assert_eq!(
        out.commands[0],
        FanCommand::Duty(Duty::from_per_mille_clamped(500))
    );
    // A CPU reading of 200 °C: failsafe at 100 %. The speed loop's 5 %/s rise limit
    // must not make the fan wait; nor may a tach reading above target lower the duty.
    let out = z.step(&[Sample::Fresh(200_000)], &tach, SEC, &mut q);
    assert!(out.failsafe);
    assert_eq!(out.commands[0], FanCommand::Duty(Duty::FULL));
    let out = z.step(&[Sample::Fresh(60_000)], &[Some(Rpm(12_000))], SEC, &mut q);
    assert!(out.failsafe);
    assert_eq!(out.commands[0], FanCommand::Duty(Duty::FULL));
    // After failsafe the speed loop takes over again from a clean start (no stale
    // slew reference, no derivative of the failsafe period).
    let out = z.step(&[Sample::Fresh(60_000)], &tach, SEC, &mut q);
    assert!(!out.failsafe);
    assert_eq!(
        out.commands[0],
        FanCommand::Duty(Duty::from_per_mille_clamped(500))
    );
}

#[test]
fn zone_stays_in_failsafe_while_a_fan_is_stalled() {
    let mut z = reference_zone(FailsafePolicy::uniform(Duty::FULL, 1));
    let mut q = EventQueue::<16>::new();
    let good = [Sample::Fresh(50_000), Sample::Fresh(72_000)];
    z.step(&good, &TURNING, SEC, &mut q);
    let stalled = [Some(Rpm(6000)), Some(Rpm(0))];
    for _ in 0..2 {
        z.step(&good, &stalled, SEC, &mut q);
    }
    assert!(z.fans()[1].is_stalled());
    // Sensors all good for far longer than exit_after = 1; the fan still does not
    // turn, or its tach can no longer be read: the zone stays in failsafe.
    for tachs in [stalled, [Some(Rpm(6000)), None]] {
        for _ in 0..20 {
            let out = z.step(&good, &tachs, SEC, &mut q);
            assert!(out.failsafe);
            assert!(out.causes.contains(FailsafeCauses::FAN_STALL));
            assert_eq!(duties(&out), [1000, 1000]);
        }
    }
}

#[test]
fn a_sensor_that_never_reports_keeps_the_zone_in_failsafe() {
    let mut policy = FailsafePolicy::uniform(Duty::from_percent(90), 3);
    policy.escalation = None;
    for never in [
        Sample::NotPolled,
        Sample::ReadFailed,
        Sample::Fresh(-273_000),
    ] {
        let mut z = reference_zone(policy);
        let mut q = EventQueue::<16>::new();
        for _ in 0..1000 {
            let out = z.step(&[never, Sample::Fresh(40_000)], &TURNING, SEC, &mut q);
            assert!(out.failsafe, "{never:?}");
            assert!(out.causes.contains(FailsafeCauses::NO_READING_YET));
            assert_eq!(duties(&out), [900, 900]);
        }
        let entered = core::iter::from_fn(|| q.pop())
            .filter(|e| matches!(e, Event::FailsafeEntered { .. }))
            .count();
        assert_eq!(entered, 1, "{never:?}: entered once, never left");
    }
}

#[test]
fn failsafe_duty_overrides_a_lower_manual_duty_and_zone_maximum() {
    let mut cfg = config(FailsafePolicy::uniform(Duty::from_percent(90), 2));
    cfg.max_duty = Duty::from_percent(60);
    let sensors = [sensor(SensorLimits::TCTL, Thresholds::default())];
    let input = ZoneInput::new(&[CPU], Combine::Hottest, dimm_table()).unwrap();
    let rpm = FanDrive::RpmTarget {
        max_rpm: Rpm(10_000),
    };
    let fans = [
        ZoneFan::new(FanDrive::Duty, stall()),
        ZoneFan::new(rpm, stall()),
    ];
    let mut z: Zone<1, 1, 2> = Zone::new(cfg, &sensors, &[input], &fans).unwrap();
    z.set_manual(FanId(0), Some(Duty::from_percent(10)));
    z.set_manual(FanId(1), Some(Duty::from_percent(10)));
    let mut q = EventQueue::<8>::new();
    // 85 °C: the table asks 100 %, the zone maximum caps it at 60 %, manual says 10 %.
    let out = z.step(&[Sample::Fresh(85_000)], &TURNING, SEC, &mut q);
    assert_eq!(out.demand, Duty::from_percent(60));
    assert_eq!(
        out.commands.as_slice(),
        [
            FanCommand::Duty(Duty::from_percent(10)),
            FanCommand::Rpm(Rpm(1_000))
        ]
    );
    let out = z.step(&[Sample::ReadFailed], &TURNING, SEC, &mut q);
    assert!(!out.failsafe, "within the retries");
    for _ in 0..2 {
        z.step(&[Sample::ReadFailed], &TURNING, SEC, &mut q);
    }
    let out = z.step(&[Sample::ReadFailed], &TURNING, SEC, &mut q);
    assert!(out.failsafe);
    assert_eq!(out.demand, Duty::from_percent(90));
    assert_eq!(
        out.commands.as_slice(),
        [
            FanCommand::Duty(Duty::from_percent(90)),
            FanCommand::Rpm(Rpm(9_000))
        ]
    );
}

/// Every input kind and fan drive, with sensor limits as wide as `i32` allows.
fn everything_zone() -> Zone<3, 4, 3> {
    let wide = SensorLimits {
        min: i32::MIN,
        max: i32::MAX,
        max_slew_per_s: u32::MAX,
        timeout: MilliSeconds(1),
        retries: 0,
        stuck_after: 1,
        worst: super::super::health::WorstCase::High,
    };
    let sensors = [
        sensor(SensorLimits::TCTL, Thresholds::upper(90_000, 95_000, 2_000)),
        sensor(wide, Thresholds::upper(i32::MIN, i32::MAX, u32::MAX)),
        sensor(wide, Thresholds::default()),
    ];
    let mut cpu = PidConfig::reference_fan_loop();
    cpu.kff_disturbance = Gain::from_raw(i32::MAX).unwrap();
    cpu.kd = Gain::from_raw(i32::MIN + 1).unwrap();
    let mut margin = PidConfig::new(Direction::Direct, 10_000, 0, 1000);
    margin.kp = Gain::from_raw(i32::MAX).unwrap();
    let rows = [
        CurvePoint::new(i32::MIN, 0),
        CurvePoint::new(i32::MAX, 1000),
    ];
    let inputs = [
        ZoneInput::new(
            &[CPU],
            Combine::Hottest,
            Controller::Pid(Pid::new(cpu).unwrap()),
        )
        .unwrap()
        .with_disturbance(SensorId(1)),
        ZoneInput::new(
            &[CPU, SensorId(2)],
            Combine::MarginTo { limit: i32::MIN },
            Controller::Pid(Pid::new(margin).unwrap()),
        )
        .unwrap()
        .in_profile(0),
        ZoneInput::new(
            &[SensorId(1), SensorId(2)],
            Combine::Sum,
            Controller::Linear(PiecewiseLinear::new(&rows).unwrap()),
        )
        .unwrap()
        .in_profile(0),
        ZoneInput::new(
            &[SensorId(2)],
            Combine::Hottest,
            Controller::Stepwise(Stepwise::new(&rows, u32::MAX, 0, StepwiseMode::Ceiling).unwrap()),
        )
        .unwrap(),
    ];
    let mut speed = PidConfig::new(Direction::Direct, 0, 0, 1000);
    speed.kff_setpoint = Gain::from_raw(i32::MAX).unwrap();
    speed.ki = Gain::from_raw(i32::MAX).unwrap();
    let fans = [
        ZoneFan::new(FanDrive::Duty, stall()),
        ZoneFan::new(
            FanDrive::RpmTarget {
                max_rpm: Rpm(u32::MAX),
            },
            stall(),
        ),
        ZoneFan::new(
            FanDrive::Cascade {
                max_rpm: Rpm(u32::MAX),
                speed_loop: Pid::new(speed).unwrap(),
            },
            stall(),
        ),
    ];
    let policy = FailsafePolicy::uniform(Duty::from_percent(90), 1);
    Zone::new(config(policy), &sensors, &inputs, &fans).unwrap()
}

fn extreme_sample() -> impl Strategy<Value = Sample> {
    prop_oneof![
        Just(Sample::Fresh(i32::MIN)),
        Just(Sample::Fresh(i32::MAX)),
        Just(Sample::Fresh(0)),
        any_sample(),
    ]
}

fn extreme_rpm() -> impl Strategy<Value = Option<Rpm>> {
    prop_oneof![
        Just(None),
        Just(Some(Rpm(0))),
        Just(Some(Rpm(u32::MAX))),
        any::<u32>().prop_map(|r| Some(Rpm(r))),
    ]
}

proptest! {
    /// Extreme readings, tachs, periods (1 ms, 49 days) and manual duties through every
    /// input kind and fan drive: no panic, duty fans never below the failsafe duty in
    /// failsafe.
    #[test]
    fn extreme_inputs_through_every_input_kind_and_fan_drive(
        steps in proptest::collection::vec(
            (
                proptest::collection::vec(extreme_sample(), 0..4),
                proptest::collection::vec(extreme_rpm(), 0..4),
                prop_oneof![Just(1u32), Just(u32::MAX), 1..=u32::MAX],
                proptest::option::of(0u32..=1000),
            ),
            1..40,
        ),
    ) {
        let mut z = everything_zone();
        let mut q = EventQueue::<4>::new();
        for (samples, tachs, dt, manual) in steps {
            z.set_manual(FanId(0), manual.map(Duty::from_per_mille_clamped));
            let out = z.step(&samples, &tachs, Period::new(MilliSeconds(dt)).unwrap(), &mut q);
            prop_assert_eq!(out.commands.len(), 3);
            if out.failsafe {
                for c in [out.commands[0], out.commands[2]] {
                    let FanCommand::Duty(d) = c else { unreachable!() };
                    prop_assert!(d >= Duty::from_percent(90));
                }
            }
        }
    }
}

fn drain(q: &mut EventQueue<16>) -> Vec<Event> {
    core::iter::from_fn(|| q.pop()).collect()
}

#[test]
fn a_fan_tach_that_cannot_be_read_is_a_failsafe_cause_reported_once() {
    let mut policy = FailsafePolicy::uniform(Duty::from_percent(70), 2);
    policy.duty[8] = Duty::FULL; // FAN_UNREADABLE: the fan may not even apply its duty
    let mut z = reference_zone(policy);
    let mut q = EventQueue::<16>::new();
    let good = [Sample::Fresh(50_000), Sample::Fresh(40_000)];
    // Fan 1's controller never answers, from the first period on.
    let dead = [Some(Rpm(6000)), None];
    for _ in 0..2 {
        let out = z.step(&good, &dead, SEC, &mut q);
        assert!(!out.failsafe, "within the tach retries");
    }
    let out = z.step(&good, &dead, SEC, &mut q);
    assert!(out.failsafe);
    assert_eq!(out.causes, FailsafeCauses::FAN_UNREADABLE);
    assert_eq!(duties(&out), [1000, 1000]);
    assert!(z.fans()[1].is_unreadable());
    assert!(!z.fans()[1].is_stalled(), "unknown speed is not a stall");
    assert_eq!(
        drain(&mut q),
        [
            Event::FanUnreadable {
                zone: ZoneId(1),
                fan: FanId(1),
                failed_reads: 3
            },
            Event::FailsafeEntered {
                zone: ZoneId(1),
                causes: FailsafeCauses::FAN_UNREADABLE
            },
        ]
    );
    for _ in 0..50 {
        assert_eq!(duties(&z.step(&good, &dead, SEC, &mut q)), [1000, 1000]);
    }
    assert!(q.is_empty(), "reported once, not every period");
    // The controller answers again: reported, and failsafe is left after the same
    // exit_after = 2 good periods as any other cause.
    let out = z.step(&good, &TURNING, SEC, &mut q);
    assert!(out.failsafe);
    assert_eq!(
        q.pop(),
        Some(Event::FanReadable {
            zone: ZoneId(1),
            fan: FanId(1),
            rpm: Rpm(6000)
        })
    );
    let out = z.step(&good, &TURNING, SEC, &mut q);
    assert!(!out.failsafe);
    assert!(matches!(q.pop(), Some(Event::FailsafeLeft { .. })));
}

#[test]
fn tach_retries_are_configurable_per_fan() {
    let sensors = [sensor(SensorLimits::TCTL, Thresholds::default())];
    let input = ZoneInput::new(&[CPU], Combine::Hottest, dimm_table()).unwrap();
    let fans = [
        ZoneFan::new(FanDrive::Duty, stall()).with_tach_retries(0),
        ZoneFan::new(FanDrive::Duty, stall()).with_tach_retries(5),
    ];
    let mut z: Zone<1, 1, 2> =
        Zone::new(config(FailsafePolicy::DEFAULT), &sensors, &[input], &fans).unwrap();
    let mut q = EventQueue::<16>::new();
    let out = z.step(
        &[Sample::Fresh(60_000)],
        &[None, Some(Rpm(6000))],
        SEC,
        &mut q,
    );
    assert_eq!(out.causes, FailsafeCauses::FAN_UNREADABLE, "no retries");
    let mut z2: Zone<1, 1, 2> = Zone::new(
        config(FailsafePolicy::DEFAULT),
        &sensors,
        &[input_clone()],
        &fans,
    )
    .unwrap();
    for _ in 0..5 {
        let out = z2.step(
            &[Sample::Fresh(60_000)],
            &[Some(Rpm(6000)), None],
            SEC,
            &mut q,
        );
        assert!(out.causes.is_empty(), "five retries");
    }
    let out = z2.step(
        &[Sample::Fresh(60_000)],
        &[Some(Rpm(6000)), None],
        SEC,
        &mut q,
    );
    assert_eq!(out.causes, FailsafeCauses::FAN_UNREADABLE);
}

fn input_clone() -> ZoneInput {
    ZoneInput::new(&[CPU], Combine::Hottest, dimm_table()).unwrap()
}

/// Steps `z` with `samples` and returns the duty written to fan 0.
fn fan0(z: &mut Zone<4, 4, 2>, samples: &[Sample], dt: Period, q: &mut EventQueue<16>) -> u16 {
    duties(&z.step(samples, &TURNING, dt, q))[0]
}

#[test]
fn leaving_failsafe_ramps_the_fans_down_at_the_pid_slew_rate() {
    let mut z = reference_zone(FailsafePolicy::uniform(Duty::FULL, 2));
    let mut q = EventQueue::<16>::new();
    let cool = [Sample::Fresh(50_000), Sample::Fresh(40_000)];
    for _ in 0..3 {
        assert_eq!(fan0(&mut z, &cool, SEC, &mut q), 300);
    }
    // The CPU sensor fails past its retries: full fans while the PID runs on (on the
    // worst case, then without input) at its own, far lower, output.
    let lost = [Sample::ReadFailed, Sample::Fresh(40_000)];
    for _ in 0..5 {
        fan0(&mut z, &lost, SEC, &mut q);
    }
    assert!(z.failsafe().is_active());
    let mut written = Vec::new();
    for i in 0..60 {
        // Tctl dithers by its 0.125 °C step (a constant value would count as stuck).
        let dither = [Sample::Fresh(50_000 + 125 * (i % 2)), cool[1]];
        written.push(fan0(&mut z, &dither, SEC, &mut q));
    }
    assert!(!z.failsafe().is_active());
    // One good period at full; with the second, failsafe is left and the fans fall
    // by the reference loop's 20 ‰/s, never more (not straight to the loop's 30 %).
    assert_eq!(written[..4], [1000, 980, 960, 940]);
    for pair in written.windows(2) {
        assert!(pair[0] - pair[1] <= 20, "{written:?}");
    }
    assert_eq!(
        written.last(),
        Some(&300),
        "the loop's demand once caught up"
    );
    assert_eq!(z.exit_slew_down_per_s(), Some(20));
}

#[test]
fn exit_ramp_follows_the_policy_rate_per_second_and_yields_to_new_failsafe() {
    let mut policy = FailsafePolicy::uniform(Duty::FULL, 1);
    policy.exit_slew_down_per_s = Some(50);
    let mut z = reference_zone(policy);
    let mut q = EventQueue::<16>::new();
    let quarter = Period::new(MilliSeconds(250)).unwrap();
    let cool = [Sample::Fresh(50_000), Sample::Fresh(40_000)];
    fan0(&mut z, &cool, quarter, &mut q);
    fan0(&mut z, &[Sample::Fresh(-100_000), cool[1]], quarter, &mut q);
    assert!(z.failsafe().is_active());
    // 50 ‰/s in 250 ms periods: 12.5 ‰ per period, rounded up (never faster).
    let written: Vec<u16> = (0..8)
        .map(|_| fan0(&mut z, &cool, quarter, &mut q))
        .collect();
    assert_eq!(written, [988, 975, 963, 950, 938, 925, 913, 900]);
    assert!(z.is_ramping_down());
    // A new cause during the ramp: straight back to the failsafe duty.
    assert_eq!(
        fan0(&mut z, &[Sample::Fresh(-100_000), cool[1]], quarter, &mut q),
        1000
    );
    assert!(!z.is_ramping_down());
}

#[test]
fn exit_ramp_is_also_the_floor_of_manual_and_rpm_fans() {
    let mut policy = FailsafePolicy::uniform(Duty::FULL, 1);
    policy.exit_slew_down_per_s = Some(100);
    let sensors = [sensor(SensorLimits::TCTL, Thresholds::default())];
    let input = ZoneInput::new(&[CPU], Combine::Hottest, dimm_table()).unwrap();
    let fans = [
        ZoneFan::new(FanDrive::Duty, stall()),
        ZoneFan::new(
            FanDrive::RpmTarget {
                max_rpm: Rpm(10_000),
            },
            stall(),
        ),
    ];
    let mut z: Zone<1, 1, 2> = Zone::new(config(policy), &sensors, &[input], &fans).unwrap();
    z.set_manual(FanId(0), Some(Duty::from_percent(25)));
    let mut q = EventQueue::<16>::new();
    z.step(&[Sample::ReadFailed], &TURNING, SEC, &mut q);
    z.step(&[Sample::NotPolled], &TURNING, SEC, &mut q);
    assert!(z.failsafe().is_active(), "no reading yet");
    let out = z.step(&[Sample::Fresh(40_000)], &TURNING, SEC, &mut q);
    assert!(!out.failsafe);
    assert_eq!(
        out.commands.as_slice(),
        [
            FanCommand::Duty(Duty::from_percent(90)),
            FanCommand::Rpm(Rpm(9_000))
        ]
    );
}

#[test]
fn a_cpu_bouncing_through_the_critical_hysteresis_band_escalates() {
    let mut policy = FailsafePolicy::DEFAULT;
    policy.escalation = Some(EscalationPolicy {
        causes: FailsafeCauses::CRITICAL,
        after_periods: 6,
        action: EscalationAction::PowerDown,
    });
    let mut z = reference_zone(policy);
    let mut q = EventQueue::<16>::new();
    // Critical at 95 °C, cleared below 93 °C: the CPU alternates 96 / 92 °C each period,
    // faster than the 6-period escalation delay, and never cools for exit_after = 5.
    let mut requested = Vec::new();
    for i in 0..8 {
        let cpu = if i % 2 == 0 { 96_000 } else { 92_000 };
        z.step(
            &[Sample::Fresh(cpu), Sample::Fresh(40_000)],
            &TURNING,
            SEC,
            &mut q,
        );
        if drain(&mut q)
            .iter()
            .any(|e| matches!(e, Event::EscalationRequested { .. }))
        {
            requested.push(i);
        }
    }
    // Period 7 (index 6) is the first with the cause active after 6 periods.
    assert_eq!(requested, [6]);
}
