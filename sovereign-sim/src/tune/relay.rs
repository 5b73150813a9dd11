//! Relay-feedback experiment (Åström & Hägglund, 1984) on the plant.
//!
//! Around the operating point (the plant at full load, Tctl near the setpoint) the fans
//! are switched between `bias + d` and `bias − d` whenever the Tctl reading leaves the
//! band `setpoint ± ε`. The loop settles into a limit cycle whose period is (close to)
//! the ultimate period `Pu` and whose amplitude `a` gives the ultimate gain from the
//! relay's describing function with hysteresis:
//!
//! ```text
//! Ku = 4·d / (π·√(a² − ε²))
//! ```
//!
//! The hysteresis `ε` keeps sensor noise and the 0.125 °C quantisation from chattering
//! the relay; it must be larger than both.
//!
//! The bias is not known in advance (it is the duty that holds the setpoint at this
//! load), so for the first cycles it is corrected from the asymmetry of the limit cycle:
//! a relay that spends longer cooling than heating has too little bias. Then it is frozen
//! and `Pu` and `a` are averaged over the next cycles.

use sovereign_hal::units::Duty;

use crate::plant::{PlantParams, Workload};
use crate::scenario::{Controller, CostWeights, Observation, Pace, Scenario};

use super::TuneError;

/// How to run the relay experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayConfig {
    /// The plant to tune on.
    pub params: PlantParams,
    /// Noise seed.
    pub seed: u64,
    /// Tctl setpoint, °C.
    pub setpoint_c: f64,
    /// CPU load during the experiment, W.
    pub load_w: f64,
    /// Relay amplitude `d`, percent duty.
    pub amplitude_pct: f64,
    /// Relay hysteresis `ε`, °C.
    pub hysteresis_c: f64,
    /// Starting bias, percent duty.
    pub initial_bias_pct: f64,
    /// Cycles used to correct the bias before measuring.
    pub adapt_cycles: usize,
    /// Cycles averaged for `Pu` and `a`.
    pub measure_cycles: usize,
    /// Longest experiment, s (an error if not enough cycles by then).
    pub max_duration_s: u32,
}

impl RelayConfig {
    /// The reference experiment: the reference plant at 360 W around 80 °C, relay
    /// ±30 % duty around a bias starting at 60 %, hysteresis 0.25 °C (two quantisation
    /// steps of Tctl, above the ≈ ±0.1 °C the power jitter makes).
    ///
    /// The amplitude is large on purpose: the limit cycle must span several 0.125 °C
    /// quantisation steps and dwarf the hysteresis, or the describing-function estimate
    /// is off. With ±20 % the cycle is ≈ ±0.5 °C = 4 steps and `Ku` comes out ≈ 35 % low;
    /// with ±30 % it agrees with the plant's linearised ultimate gain (≈ 90 %/°C from
    /// the THERMAL.md §8.3 gain and time constants).
    pub fn reference() -> Self {
        let params = PlantParams::reference();
        Self {
            setpoint_c: 80.0,
            load_w: params.cpu_full_w,
            params,
            seed: 2026,
            amplitude_pct: 30.0,
            hysteresis_c: 0.25,
            initial_bias_pct: 60.0,
            adapt_cycles: 8,
            measure_cycles: 6,
            max_duration_s: 1500,
        }
    }
}

/// What the relay experiment measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayResult {
    /// Ultimate period `Pu`, s.
    pub ultimate_period_s: f64,
    /// Half the peak-to-peak Tctl oscillation `a`, °C.
    pub amplitude_c: f64,
    /// Ultimate gain `Ku`, percent duty per °C.
    pub ultimate_gain_pct_per_c: f64,
    /// The bias the relay settled on: the duty that holds the setpoint at this load, %.
    pub bias_pct: f64,
    /// Cycles averaged.
    pub cycles: usize,
}

/// The relay as a [`Controller`], recording its switching times and extremes.
#[derive(Debug, Clone)]
struct Relay {
    setpoint_c: f64,
    d: f64,
    eps: f64,
    bias: f64,
    adapt_cycles: usize,
    cooling: bool,
    /// Time of the last switch to cooling, and of the last switch to heating, s.
    last_up_s: Option<f64>,
    last_down_s: Option<f64>,
    /// Extremes since the last switch to cooling.
    hi: f64,
    lo: f64,
    /// Completed cycles: (period, peak-to-peak, bias used).
    cycles: Vec<(f64, f64)>,
    lost_input: bool,
}

impl Controller for Relay {
    fn name(&self) -> &str {
        "relay"
    }

    fn step(&mut self, obs: &Observation, _dt_ms: u32) -> Duty {
        let Some(t) = obs.tctl else {
            self.lost_input = true;
            return Duty::FULL;
        };
        let t = f64::from(t.get()) / 1000.0;
        let now = obs.time_ms as f64 / 1000.0;
        self.hi = self.hi.max(t);
        self.lo = self.lo.min(t);
        if !self.cooling && t > self.setpoint_c + self.eps {
            self.cooling = true;
            if let (Some(up), Some(down)) = (self.last_up_s, self.last_down_s) {
                // One full cycle: up → down → up.
                let period = now - up;
                let cooling_s = down - up;
                let heating_s = now - down;
                self.cycles.push((period, self.hi - self.lo));
                if self.cycles.len() <= self.adapt_cycles && period > 0.0 {
                    // Too little bias ⇒ cooling takes longer than heating: raise it.
                    let asym = (cooling_s - heating_s) / period;
                    self.bias = (self.bias + 0.5 * self.d * asym).clamp(self.d, 100.0 - self.d);
                }
            }
            self.last_up_s = Some(now);
            self.hi = t;
            self.lo = t;
        } else if self.cooling && t < self.setpoint_c - self.eps {
            self.cooling = false;
            self.last_down_s = Some(now);
        }
        let pct = if self.cooling {
            self.bias + self.d
        } else {
            self.bias - self.d
        };
        Duty::from_per_mille_clamped((pct * 10.0).round().max(0.0) as u32)
    }
}

/// Runs the relay experiment.
pub fn relay_experiment(cfg: &RelayConfig) -> Result<RelayResult, TuneError> {
    if !(cfg.amplitude_pct > 0.0 && cfg.amplitude_pct < 50.0) {
        return Err(TuneError::BadConfig(
            "amplitude_pct must be in (0, 50) % duty",
        ));
    }
    if !(cfg.hysteresis_c > 0.0 && cfg.hysteresis_c.is_finite()) {
        return Err(TuneError::BadConfig(
            "hysteresis_c must be positive: larger than the sensor's quantisation and noise",
        ));
    }
    if cfg.measure_cycles == 0 {
        return Err(TuneError::BadConfig("measure_cycles must be at least 1"));
    }
    let scenario = Scenario {
        name: "relay".into(),
        params: cfg.params.clone(),
        seed: cfg.seed,
        workload: Workload::Steady { cpu_w: cfg.load_w },
        duration_s: cfg.max_duration_s,
        control_period_ms: 1000,
        setpoint_c: cfg.setpoint_c,
        eval_from_s: 0.0,
        steady_window_s: f64::from(cfg.max_duration_s),
        faults: Vec::new(),
        pace: Pace::AsFastAsPossible,
        weights: CostWeights::default(),
    };
    let mut relay = Relay {
        setpoint_c: cfg.setpoint_c,
        d: cfg.amplitude_pct,
        eps: cfg.hysteresis_c,
        bias: cfg
            .initial_bias_pct
            .clamp(cfg.amplitude_pct, 100.0 - cfg.amplitude_pct),
        adapt_cycles: cfg.adapt_cycles,
        cooling: false,
        last_up_s: None,
        last_down_s: None,
        hi: f64::NEG_INFINITY,
        lo: f64::INFINITY,
        cycles: Vec::new(),
        lost_input: false,
    };
    scenario.run(&mut relay).map_err(TuneError::Scenario)?;
    if relay.lost_input {
        return Err(TuneError::NoOscillation(
            "the Tctl reading dropped out during the experiment",
        ));
    }
    let measured: Vec<(f64, f64)> = relay
        .cycles
        .iter()
        .skip(cfg.adapt_cycles)
        .take(cfg.measure_cycles)
        .copied()
        .collect();
    if measured.len() < cfg.measure_cycles {
        return Err(TuneError::NoOscillation(
            "not enough relay cycles: raise max_duration_s or the relay amplitude, or check that \
             bias ± amplitude can move Tctl across the setpoint at this load",
        ));
    }
    let n = measured.len() as f64;
    let pu = measured.iter().map(|c| c.0).sum::<f64>() / n;
    let a = measured.iter().map(|c| c.1).sum::<f64>() / n / 2.0;
    if a <= cfg.hysteresis_c {
        return Err(TuneError::NoOscillation(
            "the oscillation is not larger than the hysteresis: raise the relay amplitude",
        ));
    }
    let ku = 4.0 * cfg.amplitude_pct
        / (core::f64::consts::PI * (a * a - cfg.hysteresis_c.powi(2)).sqrt());
    Ok(RelayResult {
        ultimate_period_s: pu,
        amplitude_c: a,
        ultimate_gain_pct_per_c: ku,
        bias_pct: relay.bias,
        cycles: measured.len(),
    })
}
