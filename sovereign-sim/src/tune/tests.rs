//! Tuning tests: the relay finds the operating point and the stability boundary, the
//! rules are the published ones, the search improves and respects its bounds.
//!
//! Test-only: the parent module declares this file under `#[cfg(test)]`.

use super::*;
use crate::plant::Workload;
use crate::scenario::baselines::{PhosphorPid, PhosphorPidConfig};

/// A plain PI(D) in phosphor's form without its slew/hysteresis quirks, in % units.
fn plain(g: &PidGains) -> Box<dyn Controller> {
    let mut c = PhosphorPidConfig::daytonax(80.0);
    c.kp = -g.kp_permille_per_c / 10.0;
    c.ki = -g.ki_permille_per_c_s / 10.0;
    c.kd = -g.kd_permille_s_per_c / 10.0;
    c.slew_neg = 0.0;
    c.neg_hysteresis = 0.0;
    c.out_min = 20.0;
    c.integral_min = 0.0;
    Box::new(PhosphorPid::new("plain", c))
}

/// Peak-to-peak fan duty (%) over the last 100 s of 600 s under a P-only controller
/// with gain `kp_pct_per_c` around a fixed `bias_pct`.
fn p_only_duty_swing(kp_pct_per_c: f64, bias_pct: f64) -> f64 {
    let mut s = crate::scenario::Scenario::reference_inference();
    s.duration_s = 600;
    s.eval_from_s = 0.0;
    s.steady_window_s = 100.0;
    // A load drop at 400 s kicks the loop: a stable one settles again, an unstable one
    // grows into saturation.
    s.workload = Workload::Step {
        before_w: 360.0,
        after_w: 300.0,
        at_s: 400.0,
    };
    let mut c = PhosphorPidConfig::daytonax(80.0);
    c.kp = -kp_pct_per_c;
    c.ki = 0.0;
    // The bias through phosphor's feed-forward: (setpoint + 0) × gain.
    c.ff_gain = bias_pct / 80.0;
    c.slew_neg = 0.0;
    c.neg_hysteresis = 0.0;
    c.out_min = 0.0;
    let run = s.run(&mut PhosphorPid::new("p", c)).unwrap();
    let tail: Vec<f64> = run
        .trace
        .rows
        .iter()
        .filter(|r| r.time_s >= 500.0)
        .map(|r| f64::from(r.duty.per_mille()) / 10.0)
        .collect();
    let hi = tail.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lo = tail.iter().copied().fold(f64::INFINITY, f64::min);
    hi - lo
}

#[test]
fn relay_finds_the_operating_point_and_the_stability_boundary() {
    let r = relay_experiment(&RelayConfig::reference()).unwrap();
    // THERMAL.md §8.3: holding 80 °C at 360 W and 25 °C inlet needs ≈ 62 % duty.
    assert!((r.bias_pct - 62.0).abs() < 2.0, "{r:?}");
    // The loop's slow pole is the heatsink (τ 50–80 s); with the die, fan and a 1 s
    // sample the −180° crossing lies at tens of seconds.
    assert!((10.0..=60.0).contains(&r.ultimate_period_s), "{r:?}");
    let ku = r.ultimate_gain_pct_per_c;
    // Below Ku a P controller settles: its duty only dithers by a quantisation step or
    // two of Tctl (0.125 °C × 0.4 Ku ≈ 4 %)…
    // (The bias is offset by 5 % so the equilibrium lies outside one 0.125 °C
    // quantisation step, where a loop could otherwise rest with zero error.)
    let calm = p_only_duty_swing(0.4 * ku, r.bias_pct - 5.0);
    // …above it the loop hunts on its own, across most of the duty range.
    let wild = p_only_duty_swing(2.0 * ku, r.bias_pct - 5.0);
    assert!(calm < 10.0, "P at 0.4 Ku swings the duty by {calm} %");
    assert!(
        wild > 40.0,
        "P at 2 Ku swings the duty by only {wild} % (0.4 Ku: {calm} %)"
    );
}

#[test]
fn rules_are_the_published_ones() {
    let r = RelayResult {
        ultimate_period_s: 20.0,
        amplitude_c: 0.5,
        ultimate_gain_pct_per_c: 50.0,
        bias_pct: 60.0,
        cycles: 5,
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // Ku = 500 ‰/°C.
    let zn = Rule::ZieglerNicholsPi.gains(&r);
    assert!(close(zn.kp_permille_per_c, 225.0) && close(zn.integral_time_s(), 20.0 / 1.2));
    let znd = Rule::ZieglerNicholsPid.gains(&r);
    assert!(close(znd.kp_permille_per_c, 300.0) && close(znd.integral_time_s(), 10.0));
    assert!(close(znd.kd_permille_s_per_c, 300.0 * 2.5));
    let tl = Rule::TyreusLuybenPi.gains(&r);
    assert!(close(tl.kp_permille_per_c, 156.25) && close(tl.integral_time_s(), 44.0));
    assert_eq!(tl.kd_permille_s_per_c, 0.0);
    let tld = Rule::TyreusLuybenPid.gains(&r);
    assert!(close(tld.kd_permille_s_per_c, 500.0 / 2.2 * 20.0 / 6.3));
}

#[test]
fn relay_reports_what_went_wrong() {
    let cfg = RelayConfig {
        amplitude_pct: 0.0,
        ..RelayConfig::reference()
    };
    assert!(matches!(
        relay_experiment(&cfg),
        Err(TuneError::BadConfig(_))
    ));
    let cfg = RelayConfig {
        hysteresis_c: -1.0,
        ..RelayConfig::reference()
    };
    assert!(matches!(
        relay_experiment(&cfg),
        Err(TuneError::BadConfig(_))
    ));
    // At idle Tctl never reaches 80 °C: no limit cycle, and the message says what to do.
    let cfg = RelayConfig {
        load_w: 80.0,
        max_duration_s: 300,
        ..RelayConfig::reference()
    };
    let e = relay_experiment(&cfg).unwrap_err();
    assert!(matches!(e, TuneError::NoOscillation(_)));
    assert!(e.to_string().contains("raise"), "{e}");
}

#[test]
fn the_search_improves_bad_gains_within_its_bounds() {
    let mut s = crate::scenario::Scenario::reference_inference();
    s.duration_s = 600;
    s.eval_from_s = 60.0;
    s.steady_window_s = 120.0;
    s.workload = Workload::idle_to_tdp(&s.params, 60.0);
    // A sluggish start: Kp and Ki far too small.
    let start = PidGains {
        kp_permille_per_c: 40.0,
        ki_permille_per_c_s: 0.5,
        kd_permille_s_per_c: 0.0,
        kff_permille_per_w: 0.0,
    };
    let mut runs = 0;
    let start_run = s.run(plain(&start).as_mut()).unwrap();
    let cfg = SearchConfig {
        max_evaluations: 12,
        ..SearchConfig::default()
    };
    let none: &[crate::scenario::Scenario] = &[];
    assert!(matches!(
        refine(none, start, &cfg, &mut |g| plain(g), &mut |_, _| {}),
        Err(TuneError::BadConfig(_))
    ));
    let refined = refine(
        core::slice::from_ref(&s),
        start,
        &cfg,
        &mut |g| plain(g),
        &mut |done, _| runs = done,
    )
    .unwrap();
    assert_eq!(runs, refined.evaluations);
    assert!(refined.evaluations <= 12);
    let before = penalised_cost(&start_run.outcome, 2.0);
    let after = penalised_cost(&refined.outcome, 2.0);
    assert!(after < before, "{before} → {after}");
    let g = refined.gains;
    assert!(
        g.kp_permille_per_c > 40.0 && g.kp_permille_per_c <= 160.0 + 1e-9,
        "{g}"
    );
    assert!(g.ki_permille_per_c_s <= 2.0 + 1e-9, "{g}");
}

#[test]
fn tuning_scenarios_show_the_hunting_that_smoothing_removes() {
    use crate::scenario::sovereign_pid::{Smoothing, SovereignPid};
    // The search result of the loop without smoothing (Kp 268 ‰/°C: 33 ‰ of duty per
    // 0.125 °C step of Tctl). On the tuning scenarios it hunts, so the search can price
    // that; with the reference smoothing the same gains run calmly and cost less.
    let g = PidGains {
        kp_permille_per_c: 268.2,
        ki_permille_per_c_s: 1.768,
        kd_permille_s_per_c: 0.0,
        kff_permille_per_w: 1.726,
    };
    for s in tuning_scenarios() {
        let run = |smoothing| {
            let mut pid = SovereignPid::from_gains_smoothed(&g, s.setpoint_c, smoothing).unwrap();
            s.run(&mut pid).unwrap().outcome
        };
        let (raw, smooth) = (run(Smoothing::NONE), run(Smoothing::REFERENCE));
        assert!(
            raw.duty_total_variation_pct > 200.0,
            "{}: the unsmoothed loop moved the fans only {} %",
            s.name,
            raw.duty_total_variation_pct
        );
        assert!(
            smooth.duty_total_variation_pct * 3.0 < raw.duty_total_variation_pct,
            "{}: {} % smoothed vs {} % raw",
            s.name,
            smooth.duty_total_variation_pct,
            raw.duty_total_variation_pct
        );
        assert!(smooth.cost < raw.cost, "{}: {smooth:?} vs {raw:?}", s.name);
        assert!(smooth.overshoot_c <= 2.0 && smooth.settling_time_s.is_some());
    }
}
