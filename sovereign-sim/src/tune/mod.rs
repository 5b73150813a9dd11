//! Tuning: relay-feedback autotuning on the plant, then a bounded search on the scenario
//! cost.
//!
//! 1. [`relay_experiment`] measures the ultimate gain `Ku` and period `Pu` around the
//!    operating point (Åström–Hägglund relay with hysteresis; see [`relay`]).
//! 2. A [`Rule`] turns `(Ku, Pu)` into PI/PID gains. The default, [`Rule::TyreusLuybenPi`]
//!    (Kp = Ku/3.2, Ti = 2.2·Pu), is the conservative rule meant for lag-dominated process
//!    loops: Ziegler–Nichols' quarter-decay tuning overshoots by design, and on this plant
//!    every 0.125 °C quantisation step would move the fans several percent.
//! 3. [`refine`] (optional) searches around those gains, within stated bounds, for the
//!    lowest composite cost on a scenario, subject to overshoot ≤ 2 °C and settling
//!    within ±1 °C.
//!
//! Whether the search converges depends on the controller as much as on the search. With
//! Tctl quantised to 0.125 °C, a loop that acts on every quantisation step is close to
//! chaotic: the same gains hunt on one noise seed and sit still on the next, so one
//! run's cost is a noisy sample and the search follows the noise. Sovereign's reference
//! loop filters the measurement and holds sub-resolution output changes
//! ([`Smoothing::REFERENCE`](crate::scenario::sovereign_pid::Smoothing::REFERENCE)); with
//! that, searches on four different sets of tuning seeds ended at gains whose mean cost
//! on the reference scenario (seeds 1–5 and 2026) lay within 4.968–4.974, against
//! 5.10–5.23 without it. The search scenarios average over two seeds and keep the
//! reference run's idle lead-in, so hunting shows up in them ([`tuning_scenarios`]).
//!
//! Gains are in the units `sovereign_hal::pid` takes for a fan loop whose output is
//! per-mille duty: Kp in ‰/°C, Ki in ‰/(°C·s), Kd in ‰/(°C/s). The search never sees how
//! a controller is built: callers pass a factory from [`PidGains`] to a
//! [`Controller`], so the same search tunes Sovereign's PID or a baseline.

pub mod relay;

use core::fmt;

pub use relay::{RelayConfig, RelayResult, relay_experiment};

use crate::scenario::{Controller, Outcome, Scenario, ScenarioError};

/// PID gains in per-mille duty units (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PidGains {
    /// Proportional gain, ‰ duty per °C above the setpoint.
    pub kp_permille_per_c: f64,
    /// Integral gain, ‰ duty per °C·s.
    pub ki_permille_per_c_s: f64,
    /// Derivative gain, ‰ duty per °C/s.
    pub kd_permille_s_per_c: f64,
    /// Feed-forward from package power, ‰ duty per W (0: none). Fans move with a load
    /// step at once instead of waiting for Tctl to rise.
    pub kff_permille_per_w: f64,
}

impl PidGains {
    /// Integral time Ti = Kp/Ki, s (infinite without integral action).
    pub fn integral_time_s(&self) -> f64 {
        if self.ki_permille_per_c_s > 0.0 {
            self.kp_permille_per_c / self.ki_permille_per_c_s
        } else {
            f64::INFINITY
        }
    }
}

impl fmt::Display for PidGains {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Kp {:.1} ‰/°C, Ki {:.3} ‰/(°C·s), Kd {:.1} ‰·s/°C (Ti {:.1} s), FF {:.3} ‰/W",
            self.kp_permille_per_c,
            self.ki_permille_per_c_s,
            self.kd_permille_s_per_c,
            self.integral_time_s(),
            self.kff_permille_per_w
        )
    }
}

/// A rule from the relay's `(Ku, Pu)` to gains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Ziegler–Nichols PI: Kp = 0.45·Ku, Ti = Pu/1.2.
    ZieglerNicholsPi,
    /// Ziegler–Nichols PID: Kp = 0.6·Ku, Ti = Pu/2, Td = Pu/8.
    ZieglerNicholsPid,
    /// Tyreus–Luyben PI: Kp = Ku/3.2, Ti = 2.2·Pu.
    TyreusLuybenPi,
    /// Tyreus–Luyben PID: Kp = Ku/2.2, Ti = 2.2·Pu, Td = Pu/6.3.
    TyreusLuybenPid,
}

impl Rule {
    /// Gains for a measured `(Ku, Pu)`; `Ku` in % duty per °C.
    pub fn gains(self, r: &RelayResult) -> PidGains {
        let ku = r.ultimate_gain_pct_per_c * 10.0; // % → ‰
        let pu = r.ultimate_period_s;
        let (kp, ti, td) = match self {
            Self::ZieglerNicholsPi => (0.45 * ku, pu / 1.2, 0.0),
            Self::ZieglerNicholsPid => (0.6 * ku, pu / 2.0, pu / 8.0),
            Self::TyreusLuybenPi => (ku / 3.2, 2.2 * pu, 0.0),
            Self::TyreusLuybenPid => (ku / 2.2, 2.2 * pu, pu / 6.3),
        };
        PidGains {
            kp_permille_per_c: kp,
            ki_permille_per_c_s: if ti > 0.0 { kp / ti } else { 0.0 },
            kd_permille_s_per_c: kp * td,
            kff_permille_per_w: 0.0,
        }
    }
}

/// Bounds and budget of [`refine`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchConfig {
    /// Kp may move within `[start/kp_span, start·kp_span]`.
    pub kp_span: f64,
    /// Ki may move within `[start/ki_span, start·ki_span]`.
    pub ki_span: f64,
    /// Most scenario runs the search may spend.
    pub max_evaluations: usize,
    /// Largest acceptable overshoot, °C.
    pub overshoot_limit_c: f64,
}

impl Default for SearchConfig {
    /// Gains within a factor 4 of the rule's, 25 runs, overshoot ≤ 2 °C (the issue's
    /// done-when target).
    fn default() -> Self {
        Self {
            kp_span: 4.0,
            ki_span: 4.0,
            max_evaluations: 25,
            overshoot_limit_c: 2.0,
        }
    }
}

/// The result of [`refine`].
#[derive(Debug, Clone)]
pub struct Refined {
    /// The best gains found.
    pub gains: PidGains,
    /// Their outcome on the first search scenario.
    pub outcome: Outcome,
    /// Their mean penalised cost over the search scenarios.
    pub mean_cost: f64,
    /// Scenario runs spent.
    pub evaluations: usize,
}

/// Cost with the constraints folded in: overshoot beyond the limit and failing to settle
/// within ±1 °C are priced far above any feasible difference in cost.
pub fn penalised_cost(o: &Outcome, overshoot_limit_c: f64) -> f64 {
    let over = (o.overshoot_c - overshoot_limit_c).max(0.0);
    let unsettled = if o.settling_time_s.is_some() {
        0.0
    } else {
        1.0
    };
    o.cost + 100.0 * over + 100.0 * unsettled + if o.thermtrip { 1.0e4 } else { 0.0 }
}

/// Bounded pattern search (compass search in log₂ of Kp and Ki) for the gains with the
/// lowest mean [`penalised_cost`] over `scenarios`, starting from `start`. Kd, if any,
/// scales with Kp (Td is kept); the feed-forward gain is kept as it is. `make` builds
/// the controller under test from gains. Several scenarios (e.g. the same load step
/// with other noise seeds) keep the search from fitting one noise sequence: with a
/// quantised Tctl the fans' fine behaviour is close to chaotic, and one run's cost is
/// a noisy sample.
///
/// Each round tries Kp and Ki multiplied and divided by `2^step` (skipping gains already
/// tried); it moves to the best improvement, or halves the step when none improves, and
/// stops at a step of 1/8 (≈ 9 %) or when the budget is spent.
pub fn refine(
    scenarios: &[Scenario],
    start: PidGains,
    cfg: &SearchConfig,
    make: &mut dyn FnMut(&PidGains) -> Box<dyn Controller>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Refined, TuneError> {
    if scenarios.is_empty() {
        return Err(TuneError::BadConfig(
            "the search needs at least one scenario",
        ));
    }
    if !(cfg.kp_span >= 1.0 && cfg.ki_span >= 1.0 && cfg.max_evaluations > 0) {
        return Err(TuneError::BadConfig(
            "search spans must be ≥ 1 and the budget > 0",
        ));
    }
    if !(start.kp_permille_per_c > 0.0 && start.ki_permille_per_c_s > 0.0) {
        return Err(TuneError::BadConfig(
            "the search needs a positive Kp and Ki to start from",
        ));
    }
    let td = start.kd_permille_s_per_c / start.kp_permille_per_c;
    let gains_at = |lkp: f64, lki: f64| {
        let kp = start.kp_permille_per_c * lkp.exp2();
        PidGains {
            kp_permille_per_c: kp,
            ki_permille_per_c_s: start.ki_permille_per_c_s * lki.exp2(),
            kd_permille_s_per_c: kp * td,
            kff_permille_per_w: start.kff_permille_per_w,
        }
    };
    let (kp_lim, ki_lim) = (cfg.kp_span.log2(), cfg.ki_span.log2());
    let evaluations = core::cell::Cell::new(0_usize);
    let mut evaluate = |g: &PidGains| -> Result<(f64, Outcome), TuneError> {
        evaluations.set(evaluations.get() + 1);
        progress(evaluations.get(), cfg.max_evaluations);
        let mut total = 0.0;
        let mut first = None;
        for scenario in scenarios {
            let mut c = make(g);
            let run = scenario.run(c.as_mut()).map_err(TuneError::Scenario)?;
            total += penalised_cost(&run.outcome, cfg.overshoot_limit_c);
            first.get_or_insert(run.outcome);
        }
        let outcome = first.ok_or(TuneError::BadConfig(
            "the search needs at least one scenario",
        ))?;
        Ok((total / scenarios.len() as f64, outcome))
    };
    let mut at = (0.0_f64, 0.0_f64);
    let (mut best_cost, mut best_outcome) = evaluate(&gains_at(0.0, 0.0))?;
    // Points lie on a 1/8 grid in log₂ space. One already evaluated cannot beat the best
    // (the best is the minimum of all evaluated), so it is not run again.
    let key = |p: (f64, f64)| ((p.0 * 8.0).round() as i32, (p.1 * 8.0).round() as i32);
    let mut visited = vec![key(at)];
    let mut step = 1.0_f64;
    'search: while step >= 0.125 {
        let mut moved = None;
        for (dkp, dki) in [(step, 0.0), (-step, 0.0), (0.0, step), (0.0, -step)] {
            let cand = (at.0 + dkp, at.1 + dki);
            if cand.0.abs() > kp_lim + 1e-9
                || cand.1.abs() > ki_lim + 1e-9
                || visited.contains(&key(cand))
            {
                continue;
            }
            visited.push(key(cand));
            if evaluations.get() >= cfg.max_evaluations {
                break 'search;
            }
            let (c, o) = evaluate(&gains_at(cand.0, cand.1))?;
            if c < best_cost {
                best_cost = c;
                best_outcome = o;
                moved = Some(cand);
            }
        }
        match moved {
            Some(cand) => at = cand,
            None => step /= 2.0,
        }
    }
    Ok(Refined {
        gains: gains_at(at.0, at.1),
        outcome: best_outcome,
        mean_cost: best_cost,
        evaluations: evaluations.get(),
    })
}

/// Everything the autotuner found, step by step.
#[derive(Debug, Clone)]
pub struct Autotuned {
    /// The relay experiment's measurement.
    pub relay: RelayResult,
    /// The rule applied to it.
    pub rule: Rule,
    /// The rule's gains.
    pub rule_gains: PidGains,
    /// The search's result, if a search was asked for.
    pub refined: Option<Refined>,
}

impl Autotuned {
    /// The gains to use: the refined ones if there are any, else the rule's.
    pub fn gains(&self) -> PidGains {
        self.refined.as_ref().map_or(self.rule_gains, |r| r.gains)
    }
}

/// Whether and how much the tuned controller feeds package power forward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedForward {
    /// Feedback only.
    None,
    /// `fraction` × the relay's measured operating point per watt:
    /// `Kff = fraction · bias‰ / load_W`. With 1.0 the feed-forward alone gives the duty
    /// that held the setpoint during the relay experiment, scaled with package power;
    /// the integral only trims what the load or inlet changes on top of that.
    FromRelay {
        /// Share of the operating point to feed forward, 0–1.
        fraction: f64,
    },
}

/// The whole pipeline: relay experiment, `rule` (plus the feed-forward gain), then (if
/// `search` is given) [`refine`] on the search scenarios.
pub fn autotune(
    relay_cfg: &RelayConfig,
    rule: Rule,
    feed_forward: FeedForward,
    search: Option<(&[Scenario], &SearchConfig)>,
    make: &mut dyn FnMut(&PidGains) -> Box<dyn Controller>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Autotuned, TuneError> {
    let relay = relay_experiment(relay_cfg)?;
    let mut rule_gains = rule.gains(&relay);
    if let FeedForward::FromRelay { fraction } = feed_forward {
        if !(0.0..=1.0).contains(&fraction) || relay_cfg.load_w <= 0.0 {
            return Err(TuneError::BadConfig(
                "feed-forward fraction must be in [0, 1] and the relay load positive",
            ));
        }
        rule_gains.kff_permille_per_w = fraction * relay.bias_pct * 10.0 / relay_cfg.load_w;
    }
    let refined = match search {
        Some((scenarios, cfg)) => Some(refine(scenarios, rule_gains, cfg, make, progress)?),
        None => None,
    };
    Ok(Autotuned {
        relay,
        rule,
        rule_gains,
        refined,
    })
}

/// The scenarios the search tunes on: the reference plant, idle and load step (300 s of
/// idle, as in the reference run), but only 10 minutes after the step (the step
/// response and the settled tail are what the gains change), with two noise seeds other
/// than the reference run's, so the gains are fitted neither to one noise sequence nor
/// to the run they are judged on.
///
/// The idle lead-in is not shortened on purpose: the plant starts with the fans at full
/// speed, and after only 60 s of idle the heatsink and board are still so cool at the
/// step that a loop which hunts in the reference run settles calmly here — the search
/// then cannot see the hunting it is meant to price (measured: with 60 s of idle a PI at
/// Kp 268 ‰/°C without smoothing moved the fans 60–80 % on seeds 1–8; with 300 s it
/// hunted on four of them, ≈ 290 %).
pub fn tuning_scenarios() -> Vec<Scenario> {
    [7, 8]
        .into_iter()
        .map(|seed| {
            let mut s = Scenario::reference_inference();
            s.name = format!("tuning-{seed}");
            s.seed = seed;
            s.duration_s = 900;
            s.steady_window_s = 240.0;
            s
        })
        .collect()
}

/// Why tuning failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TuneError {
    /// A tuning setting is out of range.
    BadConfig(&'static str),
    /// The relay did not produce a usable limit cycle.
    NoOscillation(&'static str),
    /// The scenario could not run.
    Scenario(ScenarioError),
}

impl fmt::Display for TuneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadConfig(why) => write!(f, "tuning configuration: {why}"),
            Self::NoOscillation(why) => write!(f, "relay autotuning failed: {why}"),
            Self::Scenario(e) => write!(f, "tuning scenario: {e}"),
        }
    }
}

impl std::error::Error for TuneError {}

#[cfg(test)]
mod tests;
