//! Plant tests: steady states against the THERMAL.md §8.3 arithmetic, time constants,
//! fans, throttling, determinism.
//!
//! Test-only: the parent module declares this file under `#[cfg(test)]`.

use super::*;

fn duty_pct(p: u8) -> Duty {
    Duty::from_percent(p)
}

fn plant_at(cpu_w: f64, duty: Duty, params: PlantParams) -> Plant {
    let mut plant = Plant::new(params, 1).unwrap();
    plant.set_cpu_power_w(cpu_w);
    plant.set_dimm_power_w(dimm_power_for(cpu_w, plant.params()));
    for f in 0..FAN_COUNT {
        plant.set_fan_duty(f, duty);
    }
    plant
}

/// Runs long enough (≥ 12 sink/DIMM time constants) to reach the steady state.
fn settle(plant: &mut Plant) -> PlantSnapshot {
    plant.step(1500.0);
    plant.snapshot()
}

// Tolerance for steady states against §8.3: the RK4 steady state is exact; what is left
// is the decay of the slowest pole after 1500 s (< 1e-6 K) and §8.3's rounding to 0.1.
const STEADY_TOL_K: f64 = 0.1;

#[test]
fn tctl_is_70_at_tdp_with_fans_at_100() {
    let s = settle(&mut plant_at(
        360.0,
        Duty::FULL,
        PlantParams::reference_noiseless(),
    ));
    // §8.3: 25 + 2 + 360 × (0.05 + 0.07) = 70.2 °C.
    assert!((s.tctl_c - 70.2).abs() < STEADY_TOL_K, "Tctl {}", s.tctl_c);
    assert!(!s.throttling);
}

#[test]
fn tctl_is_85_at_tdp_with_fans_at_50() {
    let s = settle(&mut plant_at(
        360.0,
        duty_pct(50),
        PlantParams::reference_noiseless(),
    ));
    // §8.3: u = 0.6, R_sa = 0.1109, Tctl = 84.9 °C.
    assert!((s.tctl_c - 84.9).abs() < STEADY_TOL_K, "Tctl {}", s.tctl_c);
}

#[test]
fn holding_80_needs_about_62_percent_duty() {
    let s = settle(&mut plant_at(
        360.0,
        duty_pct(62),
        PlantParams::reference_noiseless(),
    ));
    // §8.3: 80 °C needs u = 0.694 ⇒ duty ≈ 62 %; at 62 % u = 0.696 ⇒ 79.9 °C.
    assert!((s.tctl_c - 80.0).abs() < 0.3, "Tctl {}", s.tctl_c);
    // And the §8.3 plant gain: ≈ −0.36 °C per % duty around that point.
    let s2 = settle(&mut plant_at(
        360.0,
        duty_pct(63),
        PlantParams::reference_noiseless(),
    ));
    let gain = s2.tctl_c - s.tctl_c;
    assert!((-0.42..=-0.30).contains(&gain), "gain {gain} °C/%");
}

#[test]
fn idle_at_minimum_duty_is_45() {
    let s = settle(&mut plant_at(
        80.0,
        duty_pct(20),
        PlantParams::reference_noiseless(),
    ));
    // §8.3: u = 0.36, Tctl = 27 + 80 × 0.226 = 45 °C.
    assert!((s.tctl_c - 45.0).abs() < 0.2, "Tctl {}", s.tctl_c);
}

#[test]
fn dimms_vrms_and_exhaust_match_section_8_3() {
    let s = settle(&mut plant_at(
        360.0,
        Duty::FULL,
        PlantParams::reference_noiseless(),
    ));
    for t in s.dimm_c {
        assert!((t - 57.0).abs() < STEADY_TOL_K, "DIMM {t}");
    }
    assert!(
        (s.vrm_c[0] - 57.0).abs() < STEADY_TOL_K,
        "VDDCR_CPU {}",
        s.vrm_c[0]
    );
    // Losses 30 / 8 / 2 W at 360 W (§8.2).
    let losses: Vec<f64> = (0..3).map(|r| s.vrm_pin_w[r] - s.vrm_pout_w[r]).collect();
    assert!(
        (losses[0] - 30.0).abs() < 0.01
            && (losses[1] - 8.0).abs() < 0.01
            && (losses[2] - 2.0).abs() < 0.01
    );
    // §8.3: ≈ 650 W through ≈ 275 CFM ⇒ ≈ 4.2 K inlet to exhaust.
    assert!(
        (s.outlet_c - s.inlet_c - 4.2).abs() < 0.2,
        "ΔT {}",
        s.outlet_c - s.inlet_c
    );

    let s = settle(&mut plant_at(
        360.0,
        duty_pct(50),
        PlantParams::reference_noiseless(),
    ));
    // §8.3: 27 + 10 × 3.0 × 0.6^−0.8 = 72 °C, and the same for VDDCR_CPU.
    assert!((s.dimm_c[0] - 72.0).abs() < 0.2, "DIMM {}", s.dimm_c[0]);
    assert!((s.vrm_c[0] - 72.0).abs() < 0.2, "VRM {}", s.vrm_c[0]);
    // §8.3 says ≈ 7 K at 50 % keeping the 100 % fan power (72 W); at 50 % the fans draw
    // 5 × (0.5 + 13.9 × 0.6³) = 17.5 W, so ≈ 595 W through 0.6 × 275 CFM: 6.45 K.
    assert!(
        (s.outlet_c - s.inlet_c - 6.45).abs() < 0.2,
        "ΔT {}",
        s.outlet_c - s.inlet_c
    );
}

#[test]
fn tctl_is_the_hottest_die_and_the_ccds_differ() {
    let s = settle(&mut plant_at(
        360.0,
        Duty::FULL,
        PlantParams::reference_noiseless(),
    ));
    let hottest = s.tccd_c.iter().copied().fold(s.iod_c, f64::max);
    assert_eq!(s.tctl_c, hottest);
    assert!(s.iod_c < s.tctl_c);
    let coolest = s.tccd_c.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        s.tctl_c - coolest > 0.5,
        "CCD spread {}",
        s.tctl_c - coolest
    );
    assert!((s.cpu_core_w - 270.0).abs() < 1e-9);
}

/// Time for `f(snapshot)` to cover 63.2 % of its way from its value at the start to its
/// value after `horizon_s`, sampled every 0.05 s.
fn time_to_63_percent(plant: &mut Plant, horizon_s: f64, f: impl Fn(&PlantSnapshot) -> f64) -> f64 {
    let mut probe = plant.clone();
    probe.step(horizon_s);
    let end = f(&probe.snapshot());
    let start = f(&plant.snapshot());
    let t0 = plant.time_s();
    let target = start + 0.632 * (end - start);
    let dt = 0.05;
    loop {
        plant.step(dt);
        let s = plant.snapshot();
        if (f(&s) - target) * (end - start) >= 0.0 || s.time_s - t0 > horizon_s {
            return s.time_s - t0;
        }
    }
}

#[test]
fn die_time_constant_is_about_two_seconds() {
    // From idle equilibrium at 100 % fans, a step to TDP: the die-to-sink rise
    // (Tctl − T_sink) follows the die pole alone.
    let mut plant = Plant::new(PlantParams::reference_noiseless(), 1).unwrap();
    plant.set_cpu_power_w(360.0);
    let t = time_to_63_percent(&mut plant, 30.0, |s| s.tctl_c - s.sink_c);
    // §8.3: τ_die ≈ C_die · R_ds = 2 s.
    assert!((1.6..=2.4).contains(&t), "τ_die ≈ {t} s");
}

#[test]
fn heatsink_time_constant_is_50_to_80_seconds() {
    let mut plant = plant_at(80.0, Duty::FULL, PlantParams::reference_noiseless());
    plant.step(1500.0);
    plant.set_cpu_power_w(360.0);
    let t100 = time_to_63_percent(&mut plant, 1500.0, |s| s.sink_c);
    // §8.3: τ_sink ≈ C_sink · R_sa = 49 s at 100 % (the die lumps add ≈ 40 J/K).
    assert!((45.0..=60.0).contains(&t100), "τ_sink(100 %) ≈ {t100} s");

    let mut plant = plant_at(80.0, duty_pct(50), PlantParams::reference_noiseless());
    plant.step(1500.0);
    plant.set_cpu_power_w(360.0);
    let t50 = time_to_63_percent(&mut plant, 1500.0, |s| s.sink_c);
    // §8.3: ≈ 78 s at 50 %.
    assert!((70.0..=92.0).contains(&t50), "τ_sink(50 %) ≈ {t50} s");
}

#[test]
fn fan_speed_lags_duty_by_one_second() {
    let mut plant = Plant::new(PlantParams::reference_noiseless(), 1).unwrap();
    plant.set_fan_duty(0, duty_pct(50));
    // 10 500 → 6 300 RPM with τ = 1 s.
    let t = time_to_63_percent(&mut plant, 10.0, |s| s.fan_rpm[0]);
    assert!((0.9..=1.1).contains(&t), "τ_fan ≈ {t} s");
    plant.step(10.0);
    assert!((plant.snapshot().fan_rpm[0] - 6300.0).abs() < 1.0);
}

#[test]
fn a_stopped_fan_needs_the_minimum_duty_to_start() {
    let mut plant = Plant::new(PlantParams::reference_noiseless(), 1).unwrap();
    plant.set_fan_duty(2, Duty::ZERO);
    plant.step(20.0);
    assert!(plant.snapshot().fan_rpm[2] < 1.0, "type-B fan stops at 0 %");
    plant.set_fan_duty(2, duty_pct(10));
    plant.step(20.0);
    assert!(
        plant.snapshot().fan_rpm[2] < 1.0,
        "below d_min a stopped fan stays stopped"
    );
    plant.set_fan_duty(2, duty_pct(25));
    plant.step(20.0);
    // 10 500 × (0.2 + 0.8 × 0.25) = 4 200 RPM.
    assert!((plant.snapshot().fan_rpm[2] - 4200.0).abs() < 1.0);
    // A running fan below d_min holds its minimum speed (§8.1).
    plant.set_fan_duty(2, duty_pct(10));
    plant.step(20.0);
    assert!((plant.snapshot().fan_rpm[2] - 2100.0).abs() < 1.0);
}

#[test]
fn a_type_a_fan_starts_and_holds_its_minimum_speed_at_zero_duty() {
    let mut params = PlantParams::reference_noiseless();
    params.fan_stops_at_zero = false;
    let mut plant = Plant::new(params, 1).unwrap();
    plant.set_fan_stalled(1, true);
    plant.step(20.0);
    assert!(plant.snapshot().fan_rpm[1] < 1.0, "stalled rotor stopped");
    plant.set_fan_stalled(1, false);
    plant.set_fan_duty(1, Duty::ZERO);
    plant.step(20.0);
    // 10 500 × r0 (0.2) = 2 100 RPM, from standstill, at 0 % duty.
    assert!((plant.snapshot().fan_rpm[1] - 2100.0).abs() < 1.0);
}

#[test]
fn a_stalled_fan_stops_and_the_cpu_heats() {
    let mut plant = plant_at(360.0, duty_pct(62), PlantParams::reference_noiseless());
    plant.step(1500.0);
    let before = plant.snapshot();
    plant.set_fan_stalled(4, true);
    plant.set_fan_stalled(99, true); // out of range: ignored
    plant.step(600.0);
    let after = plant.snapshot();
    assert!(after.fan_rpm[4] < 1.0);
    assert!(after.fan_stalled[4]);
    assert!(
        after.tctl_c > before.tctl_c + 2.0,
        "{} → {}",
        before.tctl_c,
        after.tctl_c
    );
}

#[test]
fn throttling_holds_tctl_at_the_throttle_point() {
    let mut plant = plant_at(360.0, Duty::FULL, PlantParams::reference_noiseless());
    for f in 0..FAN_COUNT {
        plant.set_fan_stalled(f, true);
    }
    let mut peak: f64 = 0.0;
    for _ in 0..1200 {
        plant.step(1.0);
        peak = peak.max(plant.snapshot().tctl_c);
    }
    let s = plant.snapshot();
    assert!(s.throttling);
    assert!(!s.thermtrip);
    assert!(s.cpu_package_w < 200.0, "package {} W", s.cpu_package_w);
    assert!(peak < 95.5, "peak {peak}");
    assert!(s.tctl_c > 94.0, "Tctl {}", s.tctl_c);
}

#[test]
fn thermtrip_latches_and_cuts_cpu_power() {
    // A throttle point above the trip point is rejected.
    let params = PlantParams {
        t_throttle_c: 150.0,
        ..PlantParams::reference_noiseless()
    };
    assert_eq!(params.validate().unwrap_err().field, "t_trip_c");
    // With HTC disabled and every fan stalled, only THERMTRIP is left.
    let params = PlantParams {
        throttle_enabled: false,
        ..PlantParams::reference_noiseless()
    };
    let mut plant = plant_at(360.0, Duty::FULL, params);
    for f in 0..FAN_COUNT {
        plant.set_fan_stalled(f, true);
    }
    let mut peak: f64 = 0.0;
    for _ in 0..1200 {
        plant.step(1.0);
        peak = peak.max(plant.snapshot().tctl_c);
    }
    let s = plant.snapshot();
    assert!(s.thermtrip);
    assert_eq!(s.cpu_package_w, 0.0);
    // Sampled once a second, the peak can sit just under the trip point it crossed.
    assert!((103.0..106.0).contains(&peak), "peak {peak}");
    assert!(
        s.tctl_c < 100.0,
        "cooling down after the trip: {}",
        s.tctl_c
    );
}

#[test]
fn same_seed_same_trajectory_other_seed_differs() {
    let run = |seed: u64| {
        let mut plant = Plant::new(PlantParams::reference(), seed).unwrap();
        plant.apply_workload(&Workload::Steady { cpu_w: 300.0 });
        let mut out = Vec::new();
        for _ in 0..200 {
            plant.step(0.5);
            out.push(format!("{:?}", plant.snapshot()));
        }
        out
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn splitting_a_step_does_not_change_the_result() {
    let mut a = Plant::new(PlantParams::reference(), 3).unwrap();
    let mut b = a.clone();
    a.set_cpu_power_w(360.0);
    b.set_cpu_power_w(360.0);
    a.step(10.0);
    for _ in 0..100 {
        b.step(0.1);
    }
    assert_eq!(format!("{:?}", a.snapshot()), format!("{:?}", b.snapshot()));
}

#[test]
fn nonsense_inputs_do_not_panic_or_poison_the_state() {
    let mut plant = Plant::new(PlantParams::reference(), 1).unwrap();
    plant.step(f64::NAN);
    plant.step(-1.0);
    plant.step(f64::INFINITY);
    plant.set_cpu_power_w(f64::NAN);
    plant.set_inlet_c(f64::INFINITY);
    plant.set_fan_duty(17, Duty::ZERO);
    plant.step(1.0);
    let s = plant.snapshot();
    assert!(s.tctl_c.is_finite() && s.outlet_c.is_finite());
    assert_eq!(s.inlet_c, 25.0);
}

#[test]
fn rapl_energy_integrates_package_power() {
    let mut plant = plant_at(300.0, Duty::FULL, PlantParams::reference_noiseless());
    plant.step(10.0);
    let s = plant.snapshot();
    assert!(
        (s.cpu_package_j - 3000.0).abs() < 1e-6,
        "{}",
        s.cpu_package_j
    );
    assert!((s.cpu_core_j - 2250.0).abs() < 1e-6);
}
