//! The scenario runner: a fan controller against the plant, a workload and plant-level
//! faults, for N simulated seconds.
//!
//! A [`Controller`] sees what a real one would read — an [`Observation`] of quantised,
//! integer sensor values (Tctl in 0.125 °C steps like k10temp, DIMMs in 0.25 °C like
//! SPD5118, …), any of which can drop out — and answers with one fan [`Duty`] for every
//! fan (one zone). The runner steps the plant one control period at a time, records a
//! [`Trace`] (CSV, SVG) and computes the [`Outcome`]: peak temperatures, overshoot,
//! settling time, steady-state error, duty total variation, fan energy, time in failsafe,
//! and the composite [`cost`](cost::CostWeights).
//!
//! Faults here are plant-level only (fan stall, sensor dropout); chip-level faults live
//! in [`crate::fault`].
//!
//! Baseline controllers (phosphor-pid-control's thermal PID, lm-sensors fancontrol, fans
//! fixed at 100 %) are in [`baselines`]; Sovereign's own PID runs through [`sovereign_pid`].

pub mod baselines;
pub mod cost;
pub mod sovereign_pid;
mod trace;

pub use cost::CostWeights;
pub use trace::{PlotError, Trace, TraceRow, svg_string, write_svg};

use core::fmt;
use std::time::{Duration, Instant};

use sovereign_hal::units::{Duty, MilliCelsius, MilliWatts, Rpm};

use crate::plant::{
    CCD_COUNT, DIMM_COUNT, FAN_COUNT, ParamError, Plant, PlantParams, PlantSnapshot, VRM_COUNT,
    Workload,
};

/// What a controller reads in one control period. Every value is quantised the way the
/// real sensor reports it; `None` means the read failed (sensor dropout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Simulated time of the reading, ms.
    pub time_ms: u64,
    /// Tctl, truncated to 0.125 °C (HARDWARE.md/THERMAL.md §1.2: k10temp's register unit).
    pub tctl: Option<MilliCelsius>,
    /// Per-CCD temperatures, 0.125 °C.
    pub tccd: [Option<MilliCelsius>; CCD_COUNT],
    /// Package power averaged over the last period (RAPL), mW.
    pub package_power: Option<MilliWatts>,
    /// Fan tachometer readings.
    pub fan_rpm: [Option<Rpm>; FAN_COUNT],
    /// DIMM temperatures A1..L1, truncated to 0.25 °C (SPD5118 resolution, THERMAL.md §4).
    pub dimm: [Option<MilliCelsius>; DIMM_COUNT],
    /// VRM temperatures (VDDCR_CPU, VDDCR_SOC, VDDIO_MEM), 0.5 °C.
    pub vrm: [Option<MilliCelsius>; VRM_COUNT],
    /// Inlet air (TMP75 at the 12-bit resolution the kernel's lm75 probe sets, 0.0625 °C;
    /// HARDWARE.md §4).
    pub inlet: Option<MilliCelsius>,
}

/// A fan controller driven by the runner once per control period.
pub trait Controller {
    /// A short name for tables and plots.
    fn name(&self) -> &str;
    /// One control period: read `obs` (taken `dt_ms` after the previous one) and return
    /// the duty for every fan.
    fn step(&mut self, obs: &Observation, dt_ms: u32) -> Duty;
    /// Whether the controller is in its failsafe state (counted as time in failsafe).
    fn in_failsafe(&self) -> bool {
        false
    }
}

impl<C: Controller + ?Sized> Controller for &mut C {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn step(&mut self, obs: &Observation, dt_ms: u32) -> Duty {
        (**self).step(obs, dt_ms)
    }
    fn in_failsafe(&self) -> bool {
        (**self).in_failsafe()
    }
}

/// A sensor that can drop out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensor {
    /// Tctl and the per-CCD temperatures (the CPU temperature source).
    CpuTemperature,
    /// The package power reading.
    PackagePower,
    /// One fan's tachometer.
    FanTach(usize),
    /// All DIMM sensors.
    Dimms,
    /// All VRM temperatures.
    Vrms,
    /// The inlet sensor.
    Inlet,
}

/// A plant-level fault active in the window `[from_s, to_s)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlantFault {
    /// Fan `fan`'s rotor is stuck.
    FanStall {
        /// Fan index, 0-based.
        fan: usize,
        /// Start of the window, s.
        from_s: f64,
        /// End of the window, s.
        to_s: f64,
    },
    /// `sensor` reads fail.
    SensorDropout {
        /// Which sensor.
        sensor: Sensor,
        /// Start of the window, s.
        from_s: f64,
        /// End of the window, s.
        to_s: f64,
    },
}

impl PlantFault {
    fn window(&self) -> (f64, f64) {
        match *self {
            Self::FanStall { from_s, to_s, .. } | Self::SensorDropout { from_s, to_s, .. } => {
                (from_s, to_s)
            }
        }
    }

    fn active(&self, t_s: f64) -> bool {
        let (from, to) = self.window();
        t_s >= from && t_s < to
    }
}

/// How fast to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// As fast as the CPU allows.
    #[default]
    AsFastAsPossible,
    /// One simulated second per wall-clock second (for watching a run live).
    RealTime,
}

/// Everything that defines a run except the controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name for tables and file names.
    pub name: String,
    /// The plant.
    pub params: PlantParams,
    /// Seed of the plant's noise.
    pub seed: u64,
    /// The load.
    pub workload: Workload,
    /// Length of the run, s.
    pub duration_s: u32,
    /// Control period, ms (1 s for phosphor's thermal loops and the seed example).
    pub control_period_ms: u32,
    /// The Tctl setpoint the outcomes are measured against, °C.
    pub setpoint_c: f64,
    /// Start of the evaluation window (typically the load step), s: overshoot, settling,
    /// error and cost are measured from here on. At most the start of the last control
    /// period.
    pub eval_from_s: f64,
    /// Length of the window at the end of the run over which the steady-state error is
    /// averaged, s; at least one control period.
    pub steady_window_s: f64,
    /// Plant-level faults.
    pub faults: Vec<PlantFault>,
    /// Run speed.
    pub pace: Pace,
    /// Cost weights.
    pub weights: CostWeights,
}

impl Scenario {
    /// The reference inference scenario (issue "Simulator", done-when): the reference
    /// plant, idle for 300 s, then a step to 360 W; Tctl setpoint 80 °C; 1 s control
    /// period; 30 simulated minutes; steady error over the last 5 minutes.
    pub fn reference_inference() -> Self {
        let params = PlantParams::reference();
        let step_s = 300.0;
        Self {
            name: "reference-inference".into(),
            workload: Workload::idle_to_tdp(&params, step_s),
            params,
            seed: 2026,
            duration_s: 1800,
            control_period_ms: 1000,
            setpoint_c: 80.0,
            eval_from_s: step_s,
            steady_window_s: 300.0,
            faults: Vec::new(),
            pace: Pace::AsFastAsPossible,
            weights: CostWeights::default(),
        }
    }

    /// Number of control periods in the run.
    pub fn periods(&self) -> u64 {
        u64::from(self.duration_s) * 1000 / u64::from(self.control_period_ms.max(1))
    }

    /// Checks the scenario: a control period and a duration, faults inside the run and on
    /// fans that exist, windows that make sense.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.params.validate().map_err(ScenarioError::Plant)?;
        if self.control_period_ms == 0 {
            return Err(ScenarioError::ZeroControlPeriod);
        }
        if self.duration_s == 0 || self.periods() == 0 {
            return Err(ScenarioError::EmptyRun);
        }
        let end = f64::from(self.duration_s);
        if !self.setpoint_c.is_finite() {
            return Err(ScenarioError::BadWindow { what: "setpoint_c" });
        }
        // The last control period starts here; a window must hold at least one row, or
        // the outcome measures nothing (and an empty window reads as settled, cost 0).
        let period_s = f64::from(self.control_period_ms) / 1000.0;
        let last_row_s = (self.periods() - 1) as f64 * period_s;
        if !(self.eval_from_s >= 0.0 && self.eval_from_s <= last_row_s) {
            return Err(ScenarioError::BadWindow {
                what: "eval_from_s",
            });
        }
        if !(self.steady_window_s >= period_s && self.steady_window_s <= end) {
            return Err(ScenarioError::BadWindow {
                what: "steady_window_s",
            });
        }
        for (index, f) in self.faults.iter().enumerate() {
            let (from, to) = f.window();
            if !(from.is_finite() && to.is_finite() && from >= 0.0 && from < to && to <= end) {
                return Err(ScenarioError::FaultOutsideRun {
                    index,
                    from_s: from,
                    to_s: to,
                    end_s: end,
                });
            }
            let fan = match *f {
                PlantFault::FanStall { fan, .. }
                | PlantFault::SensorDropout {
                    sensor: Sensor::FanTach(fan),
                    ..
                } => Some(fan),
                PlantFault::SensorDropout { .. } => None,
            };
            if let Some(fan) = fan
                && fan >= FAN_COUNT
            {
                return Err(ScenarioError::NoSuchFan { index, fan });
            }
        }
        Ok(())
    }

    /// Runs `controller` through the scenario.
    pub fn run(&self, controller: &mut dyn Controller) -> Result<Run, ScenarioError> {
        self.run_with_progress(controller, &mut |_, _| {})
    }

    /// Runs `controller` through the scenario, calling `progress(done, total)` (control
    /// periods) every 1 % of the run.
    pub fn run_with_progress(
        &self,
        controller: &mut dyn Controller,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Run, ScenarioError> {
        self.validate()?;
        let mut plant = Plant::new(self.params.clone(), self.seed).map_err(ScenarioError::Plant)?;
        let total = self.periods();
        let period_ms = self.control_period_ms;
        let period_s = f64::from(period_ms) / 1000.0;
        let report_every = (total / 100).max(1);
        let started = Instant::now();
        // Only a hint: a huge run grows the vector as it goes instead of reserving it all.
        let mut rows = Vec::with_capacity(usize::try_from(total.min(1 << 20)).unwrap_or(0));
        let mut last_energy_j = plant.snapshot().cpu_package_j;
        let mut last_package_w = plant.snapshot().cpu_package_w;
        for k in 0..total {
            let time_ms = k * u64::from(period_ms);
            let t_s = time_ms as f64 / 1000.0;
            for fan in 0..FAN_COUNT {
                let stalled = self.faults.iter().any(|f| {
                    matches!(f, PlantFault::FanStall { fan: x, .. } if *x == fan) && f.active(t_s)
                });
                plant.set_fan_stalled(fan, stalled);
            }
            plant.apply_workload(&self.workload);
            let snap = plant.snapshot();
            // RAPL-style power: energy over the last period (the snapshot's own power at t=0).
            let package_w = if k == 0 {
                last_package_w
            } else {
                (snap.cpu_package_j - last_energy_j) / period_s
            };
            last_energy_j = snap.cpu_package_j;
            last_package_w = package_w;
            let obs = self.observe(&snap, time_ms, package_w);
            let duty = controller.step(&obs, period_ms);
            let failsafe = controller.in_failsafe();
            for fan in 0..FAN_COUNT {
                plant.set_fan_duty(fan, duty);
            }
            let fan_w_before: f64 = snap.fan_w.iter().sum();
            plant.step(period_s);
            let fan_w_after: f64 = plant.snapshot().fan_w.iter().sum();
            // Trapezoid over the period: the fan energy spent in it.
            let fan_energy_j = 0.5 * (fan_w_before + fan_w_after) * period_s;
            rows.push(TraceRow::new(
                t_s,
                &snap,
                &obs,
                self.setpoint_c,
                duty,
                failsafe,
                fan_energy_j,
            ));
            if k % report_every == 0 || k + 1 == total {
                progress(k + 1, total);
            }
            if self.pace == Pace::RealTime {
                let due = Duration::from_millis(time_ms + u64::from(period_ms));
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        let trace = Trace {
            controller: controller.name().to_string(),
            rows,
        };
        let outcome = Outcome::from_trace(&trace, self);
        Ok(Run { trace, outcome })
    }

    fn observe(&self, s: &PlantSnapshot, time_ms: u64, package_w: f64) -> Observation {
        let t_s = time_ms as f64 / 1000.0;
        let lost = |sensor: Sensor| {
            self.faults.iter().any(|f| {
                matches!(f, PlantFault::SensorDropout { sensor: x, .. } if *x == sensor)
                    && f.active(t_s)
            })
        };
        let cpu_lost = lost(Sensor::CpuTemperature);
        let mut tccd = [None; CCD_COUNT];
        for (o, t) in tccd.iter_mut().zip(s.tccd_c) {
            *o = (!cpu_lost).then(|| quantise_c(t, 125));
        }
        let mut fan_rpm = [None; FAN_COUNT];
        for (i, (o, rpm)) in fan_rpm.iter_mut().zip(s.fan_rpm).enumerate() {
            // Saturating float → integer conversion: a NaN reads as 0 RPM.
            *o = (!lost(Sensor::FanTach(i))).then(|| Rpm(rpm.round().max(0.0) as u32));
        }
        let mut dimm = [None; DIMM_COUNT];
        for (o, t) in dimm.iter_mut().zip(s.dimm_c) {
            *o = (!lost(Sensor::Dimms)).then(|| quantise_c(t, 250));
        }
        let mut vrm = [None; VRM_COUNT];
        for (o, t) in vrm.iter_mut().zip(s.vrm_c) {
            *o = (!lost(Sensor::Vrms)).then(|| quantise_c(t, 500));
        }
        Observation {
            time_ms,
            tctl: (!cpu_lost).then(|| quantise_c(s.tctl_c, 125)),
            tccd,
            package_power: (!lost(Sensor::PackagePower))
                .then(|| MilliWatts((package_w * 1000.0).round() as i32)),
            fan_rpm,
            dimm,
            vrm,
            inlet: (!lost(Sensor::Inlet)).then(|| tmp75_12bit(s.inlet_c)),
        }
    }
}

/// Truncates `celsius` to a multiple of `step_mc` millidegrees (toward −∞, like a sensor
/// register that drops its low bits). Saturating float → integer conversion.
/// A TMP75 reading at 12 bits as the kernel reports it: the register holds
/// ⌊T / 0.0625 °C⌋ and m°C = (steps × 1000) >> 4 (HARDWARE.md §4).
fn tmp75_12bit(celsius: f64) -> MilliCelsius {
    let steps = (celsius * 16.0).floor() as i64;
    MilliCelsius(((steps * 1000) >> 4) as i32)
}

fn quantise_c(celsius: f64, step_mc: i32) -> MilliCelsius {
    let steps = (celsius * 1000.0 / f64::from(step_mc)).floor();
    MilliCelsius((steps * f64::from(step_mc)) as i32)
}

/// The result of one run: the full trace and its outcome.
#[derive(Debug, Clone)]
pub struct Run {
    /// One row per control period.
    pub trace: Trace,
    /// What the run achieved.
    pub outcome: Outcome,
}

/// What a run achieved, measured on the plant's true temperatures (not the quantised
/// readings the controller saw).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Controller name.
    pub controller: String,
    /// Highest Tctl of the run, °C.
    pub peak_tctl_c: f64,
    /// Highest DIMM temperature, °C.
    pub peak_dimm_c: f64,
    /// Highest VRM temperature, °C.
    pub peak_vrm_c: f64,
    /// How far Tctl went above the setpoint in the evaluation window, K (0 if never).
    pub overshoot_c: f64,
    /// Time from the start of the evaluation window until Tctl stays within ±1 °C of the
    /// setpoint for the rest of the run, s; `None` if it does not settle.
    pub settling_time_s: Option<f64>,
    /// Largest |Tctl − setpoint| after settling, K; `None` if it does not settle.
    pub max_error_after_settling_c: Option<f64>,
    /// Mean Tctl − setpoint over the steady window at the end of the run, K.
    pub steady_state_error_c: f64,
    /// RMS of Tctl − setpoint over the evaluation window, K (all of it; the cost counts
    /// only the avoidable part, see [`cost`]).
    pub rms_error_c: f64,
    /// Sum of |Δduty| over the evaluation window, in percent (fan wear).
    pub duty_total_variation_pct: f64,
    /// Fan electrical energy over the evaluation window, J.
    pub fan_energy_j: f64,
    /// Mean fan power over the evaluation window, W.
    pub mean_fan_w: f64,
    /// Time the controller reported failsafe, s.
    pub time_in_failsafe_s: f64,
    /// Time the CPU was throttling, s.
    pub time_throttling_s: f64,
    /// Whether THERMTRIP latched.
    pub thermtrip: bool,
    /// Composite cost ([`CostWeights`]); lower is better.
    pub cost: f64,
}

impl Outcome {
    /// Measures a trace against the scenario's setpoint and windows.
    pub fn from_trace(trace: &Trace, scenario: &Scenario) -> Self {
        let sp = scenario.setpoint_c;
        let period_s = f64::from(scenario.control_period_ms) / 1000.0;
        let rows = &trace.rows;
        let window: Vec<&TraceRow> = rows
            .iter()
            .filter(|r| r.time_s >= scenario.eval_from_s)
            .collect();
        let fold_max = |it: &mut dyn Iterator<Item = f64>| it.fold(f64::NEG_INFINITY, f64::max);
        let peak_tctl_c = fold_max(&mut rows.iter().map(|r| r.tctl_c));
        let peak_dimm_c = fold_max(&mut rows.iter().map(|r| r.dimm_max_c));
        let peak_vrm_c = fold_max(&mut rows.iter().map(|r| r.vrm_max_c));
        let overshoot_c = fold_max(&mut window.iter().map(|r| r.tctl_c - sp)).max(0.0);

        let last_out = window.iter().rposition(|r| (r.tctl_c - sp).abs() > 1.0);
        let (settling_time_s, max_error_after_settling_c) = match last_out {
            None => (
                Some(0.0),
                fold_max(&mut window.iter().map(|r| (r.tctl_c - sp).abs())).into(),
            ),
            Some(i) if i + 1 < window.len() => {
                let after = &window[i + 1..];
                let settle_at = after.first().map_or(0.0, |r| r.time_s);
                (
                    Some(settle_at - scenario.eval_from_s),
                    Some(fold_max(&mut after.iter().map(|r| (r.tctl_c - sp).abs()))),
                )
            }
            Some(_) => (None, None),
        };

        let end = rows.last().map_or(0.0, |r| r.time_s + period_s);
        let steady: Vec<f64> = rows
            .iter()
            .filter(|r| r.time_s >= end - scenario.steady_window_s)
            .map(|r| r.tctl_c - sp)
            .collect();
        let steady_state_error_c = mean(&steady);
        let sq: Vec<f64> = window.iter().map(|r| (r.tctl_c - sp).powi(2)).collect();
        let mean_sq_error = mean(&sq);
        // Cost error: below the setpoint with the fans at their minimum no controller
        // could do better, so only overheating and chosen overcooling count (cost.rs).
        let min_duty_pm = (scenario.params.fan_d_min * 1000.0).round();
        let avoidable: Vec<f64> = window
            .iter()
            .map(|r| {
                let e = r.tctl_c - sp;
                let at_min = f64::from(r.duty.per_mille()) <= min_duty_pm;
                if e < 0.0 && at_min { 0.0 } else { e * e }
            })
            .collect();
        let duty_total_variation_pct: f64 = window
            .windows(2)
            .map(|w| {
                (f64::from(w[1].duty.per_mille()) - f64::from(w[0].duty.per_mille())).abs() / 10.0
            })
            .sum();
        let fan_energy_j: f64 = window.iter().map(|r| r.fan_energy_j).sum();
        let window_s = window.len() as f64 * period_s;
        let mean_fan_w = if window_s > 0.0 {
            fan_energy_j / window_s
        } else {
            0.0
        };
        let time_in_failsafe_s = rows.iter().filter(|r| r.failsafe).count() as f64 * period_s;
        let time_throttling_s = rows.iter().filter(|r| r.throttling).count() as f64 * period_s;
        let thermtrip = rows.iter().any(|r| r.thermtrip);
        let cost = scenario.weights.cost(
            mean(&avoidable),
            mean_fan_w,
            duty_total_variation_pct,
            window_s,
        );
        Self {
            controller: trace.controller.clone(),
            peak_tctl_c,
            peak_dimm_c,
            peak_vrm_c,
            overshoot_c,
            settling_time_s,
            max_error_after_settling_c,
            steady_state_error_c,
            rms_error_c: mean_sq_error.sqrt(),
            duty_total_variation_pct,
            fan_energy_j,
            mean_fan_w,
            time_in_failsafe_s,
            time_throttling_s,
            thermtrip,
            cost,
        }
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// A comparison table of outcomes, one line per run, in fixed-width text.
pub fn comparison_table(outcomes: &[Outcome]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<26} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "controller",
        "peak °C",
        "overshoot",
        "settle s",
        "±err °C",
        "ss err",
        "fan kJ",
        "ΔDuty %",
        "failsafe",
        "cost"
    );
    for o in outcomes {
        let settle = o
            .settling_time_s
            .map_or_else(|| "never".to_string(), |t| format!("{t:.0}"));
        let err = o
            .max_error_after_settling_c
            .map_or_else(|| "-".to_string(), |e| format!("{e:.2}"));
        let _ = writeln!(
            s,
            "{:<26} {:>8.2} {:>9.2} {:>9} {:>9} {:>9.3} {:>9.1} {:>9.1} {:>8.0} {:>8.2}",
            o.controller,
            o.peak_tctl_c,
            o.overshoot_c,
            settle,
            err,
            o.steady_state_error_c,
            o.fan_energy_j / 1000.0,
            o.duty_total_variation_pct,
            o.time_in_failsafe_s,
            o.cost
        );
    }
    s
}

/// Why a scenario cannot run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The plant parameters are unphysical.
    Plant(ParamError),
    /// `control_period_ms` is 0.
    ZeroControlPeriod,
    /// The run is shorter than one control period.
    EmptyRun,
    /// A measurement window or setpoint makes no sense.
    BadWindow {
        /// The field at fault.
        what: &'static str,
    },
    /// A fault's window is empty or lies (partly) outside the run.
    FaultOutsideRun {
        /// Index in `faults`.
        index: usize,
        /// Window start, s.
        from_s: f64,
        /// Window end, s.
        to_s: f64,
        /// Length of the run, s.
        end_s: f64,
    },
    /// A fault names a fan the plant does not have.
    NoSuchFan {
        /// Index in `faults`.
        index: usize,
        /// The fan index given.
        fan: usize,
    },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plant(e) => write!(f, "{e}"),
            Self::ZeroControlPeriod => {
                f.write_str("control_period_ms is 0: give the controller a period, e.g. 1000 ms")
            }
            Self::EmptyRun => {
                f.write_str("the run is shorter than one control period: raise duration_s")
            }
            Self::BadWindow { what } => write!(
                f,
                "scenario field `{what}` is out of range: it must be finite, lie inside the run and hold at least one control period"
            ),
            Self::FaultOutsideRun {
                index,
                from_s,
                to_s,
                end_s,
            } => write!(
                f,
                "fault #{index} has window [{from_s}, {to_s}) s, which is empty or not inside the run [0, {end_s}) s: \
                 give a window with 0 ≤ from < to ≤ duration"
            ),
            Self::NoSuchFan { index, fan } => write!(
                f,
                "fault #{index} names fan {fan}, but the plant has fans 0..{}",
                FAN_COUNT - 1
            ),
        }
    }
}

impl std::error::Error for ScenarioError {}

#[cfg(test)]
mod tests;
