//! Runner tests: determinism, validation, faults, outcomes, baselines.
//!
//! Test-only: the parent module declares this file under `#[cfg(test)]`.

use super::baselines::{Fancontrol, FancontrolConfig, FixedDuty, PhosphorPid, PhosphorPidConfig};
use super::*;

/// A shorter reference scenario (10 min, step at 60 s) to keep debug tests fast.
fn short() -> Scenario {
    let mut s = Scenario::reference_inference();
    s.duration_s = 600;
    s.eval_from_s = 60.0;
    s.workload = Workload::idle_to_tdp(&s.params, 60.0);
    s.steady_window_s = 120.0;
    s
}

#[test]
fn same_seed_gives_a_byte_identical_csv() {
    let s = short();
    let a = s
        .run(&mut Fancontrol::new(FancontrolConfig::default()))
        .unwrap();
    let b = s
        .run(&mut Fancontrol::new(FancontrolConfig::default()))
        .unwrap();
    let (a, b) = (a.trace.to_csv(), b.trace.to_csv());
    assert_eq!(a.as_bytes(), b.as_bytes());
    assert_eq!(a.lines().count(), 601);
    let mut other = s.clone();
    other.seed += 1;
    let c = other
        .run(&mut Fancontrol::new(FancontrolConfig::default()))
        .unwrap();
    assert_ne!(a, c.trace.to_csv(), "the seed must reach the trace");
}

#[test]
fn csv_has_a_header_and_fixed_columns() {
    let run = short().run(&mut FixedDuty::full()).unwrap();
    let csv = run.trace.to_csv();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("time_s,tctl_c,tctl_read_c"));
    let cols = header.split(',').count();
    for l in lines {
        assert_eq!(l.split(',').count(), cols, "{l}");
    }
    assert!(csv.contains("\n0.000,"));
    assert!(csv.contains(",100.0,"), "duty column in percent");
}

#[test]
fn windows_that_hold_no_control_period_are_rejected() {
    // Rows fall at 0, 4 and 8 s: an evaluation window from 9 s holds none of them, and
    // the outcome would claim "settled, cost 0" for any controller.
    let mut s = short();
    s.duration_s = 10;
    s.control_period_ms = 4000;
    s.eval_from_s = 9.0;
    s.steady_window_s = 8.0;
    assert_eq!(
        s.validate(),
        Err(ScenarioError::BadWindow {
            what: "eval_from_s"
        })
    );
    // A steady window shorter than a period holds no row: the steady error reads 0.
    let mut s = short();
    s.steady_window_s = 0.5;
    assert_eq!(
        s.validate(),
        Err(ScenarioError::BadWindow {
            what: "steady_window_s"
        })
    );
}

#[test]
fn faults_outside_the_run_and_bad_fans_are_rejected() {
    let mut s = short();
    s.faults.push(PlantFault::FanStall {
        fan: 0,
        from_s: 500.0,
        to_s: 700.0,
    });
    let e = s.run(&mut FixedDuty::full()).unwrap_err();
    assert!(
        matches!(e, ScenarioError::FaultOutsideRun { index: 0, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("not inside the run"));

    let mut s = short();
    s.faults.push(PlantFault::SensorDropout {
        sensor: Sensor::Inlet,
        from_s: 20.0,
        to_s: 10.0,
    });
    assert!(matches!(
        s.validate(),
        Err(ScenarioError::FaultOutsideRun { .. })
    ));

    let mut s = short();
    s.faults.push(PlantFault::FanStall {
        fan: 5,
        from_s: 1.0,
        to_s: 2.0,
    });
    assert_eq!(
        s.validate(),
        Err(ScenarioError::NoSuchFan { index: 0, fan: 5 })
    );

    let mut s = short();
    s.control_period_ms = 0;
    assert_eq!(s.validate(), Err(ScenarioError::ZeroControlPeriod));

    let mut s = short();
    s.params.c_die_j_per_k = -1.0;
    assert!(matches!(s.validate(), Err(ScenarioError::Plant(e)) if e.field == "c_die_j_per_k"));
}

#[test]
fn a_fan_stall_is_seen_on_the_tach_and_heats_the_cpu() {
    let mut s = short();
    s.faults.push(PlantFault::FanStall {
        fan: 2,
        from_s: 300.0,
        to_s: 600.0,
    });
    let mut seen_zero = false;
    struct Watch<'a>(&'a mut bool);
    impl Controller for Watch<'_> {
        fn name(&self) -> &str {
            "watch"
        }
        fn step(&mut self, obs: &Observation, _dt_ms: u32) -> Duty {
            if obs.time_ms >= 310_000 && obs.fan_rpm[2] == Some(Rpm(0)) {
                *self.0 = true;
            }
            Duty::from_percent(62)
        }
    }
    let run = s.run(&mut Watch(&mut seen_zero)).unwrap();
    assert!(seen_zero);
    let at = |t: f64| {
        run.trace
            .rows
            .iter()
            .find(|r| r.time_s >= t)
            .map(|r| r.tctl_c)
            .unwrap()
    };
    assert!(at(599.0) > at(299.0) + 2.0, "{} → {}", at(299.0), at(599.0));
}

#[test]
fn a_sensor_dropout_puts_the_baselines_in_failsafe_for_its_length() {
    let mut s = short();
    s.faults.push(PlantFault::SensorDropout {
        sensor: Sensor::CpuTemperature,
        from_s: 200.0,
        to_s: 230.0,
    });
    let run = s
        .run(&mut PhosphorPid::new(
            "phosphor",
            PhosphorPidConfig::daytonax(80.0),
        ))
        .unwrap();
    assert_eq!(run.outcome.time_in_failsafe_s, 30.0);
    let row = run.trace.rows.iter().find(|r| r.time_s >= 210.0).unwrap();
    assert_eq!(row.tctl_read_c, None);
    assert_eq!(row.duty, Duty::FULL);
    // fancontrol exits on a failed read: failsafe until the end.
    let run = s
        .run(&mut Fancontrol::new(FancontrolConfig::default()))
        .unwrap();
    assert_eq!(run.outcome.time_in_failsafe_s, 400.0);
}

#[test]
fn observations_are_quantised_like_the_real_sensors() {
    struct Check;
    impl Controller for Check {
        fn name(&self) -> &str {
            "check"
        }
        fn step(&mut self, obs: &Observation, _dt_ms: u32) -> Duty {
            let t = obs.tctl.unwrap().get();
            assert_eq!(t % 125, 0, "Tctl in 0.125 °C steps");
            for d in obs.dimm {
                assert_eq!(d.unwrap().get() % 250, 0);
            }
            Duty::from_percent(50)
        }
    }
    short().run(&mut Check).unwrap();
    assert_eq!(quantise_c(80.1249, 125), MilliCelsius(80_000));
    assert_eq!(quantise_c(80.125, 125), MilliCelsius(80_125));
    assert_eq!(quantise_c(-0.1, 125), MilliCelsius(-125));
    // Inlet TMP75 at 12 bits, as the kernel's lm75 driver reports it (HARDWARE.md §4):
    // one step is 62.5 m°C, and (steps × 1000) >> 4 floors, −0.0625 °C → −63.
    assert_eq!(tmp75_12bit(25.0), MilliCelsius(25_000));
    assert_eq!(tmp75_12bit(25.07), MilliCelsius(25_062));
    assert_eq!(tmp75_12bit(-0.0625), MilliCelsius(-63));
}

#[test]
fn fixed_full_fans_settle_at_the_section_8_3_temperature() {
    let run = short().run(&mut FixedDuty::full()).unwrap();
    // §8.3: 70.2 °C at 360 W and 100 % fans ⇒ ≈ −9.8 K below an 80 °C setpoint.
    assert!(
        (run.outcome.steady_state_error_c + 9.8).abs() < 0.3,
        "{:?}",
        run.outcome
    );
    assert_eq!(run.outcome.overshoot_c, 0.0);
    assert_eq!(run.outcome.settling_time_s, None);
    assert_eq!(run.outcome.duty_total_variation_pct, 0.0);
    // 5 × 14.4 W.
    assert!((run.outcome.mean_fan_w - 72.0).abs() < 0.5);
}

#[test]
fn outcome_measures_overshoot_and_settling_on_a_known_trace() {
    let s = short();
    let row = |t: f64, tctl: f64, duty: u8| TraceRow {
        time_s: t,
        tctl_c: tctl,
        tctl_read_c: Some(tctl),
        setpoint_c: 80.0,
        duty: Duty::from_percent(duty),
        fan_rpm_mean: 0.0,
        fan_w: 10.0,
        fan_energy_j: 10.0,
        package_w: 360.0,
        dimm_max_c: 50.0,
        vrm_max_c: 50.0,
        inlet_c: 25.0,
        outlet_c: 30.0,
        throttling: false,
        thermtrip: false,
        failsafe: false,
    };
    let mut rows = Vec::new();
    for k in 0..600 {
        let t = f64::from(k);
        let tctl = match k {
            0..60 => 45.0,
            60..100 => 70.0,
            100..110 => 82.5, // overshoot 2.5
            110..120 => 78.5, // undershoot, still outside ±1
            _ => 80.5,
        };
        rows.push(row(t, tctl, if k % 2 == 0 { 60 } else { 62 }));
    }
    let o = Outcome::from_trace(
        &Trace {
            controller: "x".into(),
            rows,
        },
        &s,
    );
    assert!((o.overshoot_c - 2.5).abs() < 1e-12);
    assert_eq!(o.settling_time_s, Some(60.0)); // settled from t = 120, window from 60
    assert_eq!(o.max_error_after_settling_c, Some(0.5));
    assert!((o.steady_state_error_c - 0.5).abs() < 1e-12);
    assert_eq!(o.duty_total_variation_pct, 2.0 * 539.0);
    assert!((o.mean_fan_w - 10.0).abs() < 1e-12);

    // Below the setpoint at minimum duty costs nothing; above the minimum it does.
    let cold = |duty: u8| {
        let rows = (0..600).map(|k| row(f64::from(k), 70.0, duty)).collect();
        Outcome::from_trace(
            &Trace {
                controller: "cold".into(),
                rows,
            },
            &s,
        )
    };
    let (at_min, above_min) = (cold(20), cold(21));
    assert!(
        (at_min.cost - 0.2 * 10.0).abs() < 1e-9,
        "only fan power: {}",
        at_min.cost
    );
    assert!(
        (above_min.cost - (100.0 + 0.2 * 10.0)).abs() < 1e-9,
        "{}",
        above_min.cost
    );
    assert_eq!(at_min.rms_error_c, 10.0);
}

#[test]
fn the_svg_plot_is_drawn_by_plotters() {
    let s = short();
    let a = s.run(&mut FixedDuty::full()).unwrap();
    let b = s
        .run(&mut Fancontrol::new(FancontrolConfig::default()))
        .unwrap();
    let svg = svg_string("test", &[&a.trace, &b.trace], 80.0).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("fixed 100"));
    assert!(svg.contains("fancontrol"));
    assert!(
        svg.matches("<polyline").count() >= 4,
        "two Tctl and two duty lines"
    );
}

#[test]
fn the_comparison_table_lists_every_run() {
    let s = short();
    let a = s.run(&mut FixedDuty::full()).unwrap();
    let t = comparison_table(&[a.outcome]);
    assert!(
        t.lines().count() == 2 && t.contains("fixed 100 %") && t.contains("never"),
        "{t}"
    );
}

#[test]
fn sovereign_pid_fails_safe_on_a_dropout_and_refuses_unrepresentable_gains() {
    use crate::tune::PidGains;
    use sovereign_pid::SovereignPid;
    let g = PidGains {
        kp_permille_per_c: 300.0,
        ki_permille_per_c_s: 10.0,
        kd_permille_s_per_c: 0.0,
        kff_permille_per_w: 0.0,
    };
    let mut pid = SovereignPid::from_gains(&g, 80.0).unwrap();
    assert_eq!(pid.config().setpoint, 80_000);
    assert_eq!(pid.config().kp.to_milli(), 300_000);
    let mut s = short();
    s.faults.push(PlantFault::SensorDropout {
        sensor: Sensor::CpuTemperature,
        from_s: 300.0,
        to_s: 312.0,
    });
    let run = s.run(&mut pid).unwrap();
    assert_eq!(run.outcome.time_in_failsafe_s, 12.0);
    assert!(
        run.trace
            .rows
            .iter()
            .filter(|r| r.failsafe)
            .all(|r| r.duty == Duty::FULL)
    );
    // Holding 80 °C at 360 W needs ≈ 62 % duty (THERMAL.md §8.3); the PID finds it.
    let before = run.trace.rows.iter().find(|r| r.time_s == 299.0).unwrap();
    assert!((before.tctl_c - 80.0).abs() < 1.0, "{before:?}");
    assert!((550..=700).contains(&before.duty.per_mille()), "{before:?}");

    let huge = PidGains {
        kp_permille_per_c: 1.0e9,
        ..g
    };
    assert!(SovereignPid::from_gains(&huge, 80.0).is_err());
    let nan = PidGains {
        ki_permille_per_c_s: f64::NAN,
        ..g
    };
    assert!(SovereignPid::from_gains(&nan, 80.0).is_err());
}

#[test]
fn a_plot_with_a_non_finite_setpoint_is_an_error_not_a_panic() {
    for sp in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
        let e = super::svg_string("x", &[], sp).unwrap_err();
        assert!(e.to_string().contains("setpoint"), "{e}");
    }
}
