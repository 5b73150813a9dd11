//! Zone behaviour a user would notice: which duty the fans get, and when.

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
        sensor(
            SensorLimits {
                timeout: MilliSeconds(30_000),
                ..SensorLimits::TCTL
            },
            Thresholds::default(),
        ),
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
    // The DIMM table's first row (30 %) applies below 50 °C.
    assert_eq!(out.demand, Duty::from_percent(30));
    assert!(matches!(q.pop(), Some(Event::FailsafeLeft { .. })));
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
    let out = z.step(
        &[Sample::Fresh(60_000), Sample::Fresh(140_000)],
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
