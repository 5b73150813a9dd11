//! Workload power profiles: what the CPU and the DIMMs ask for over time.
//!
//! A [`Workload`] is a pure function of simulated time. The plant may deliver less CPU
//! power than asked when it throttles; DIMM power follows the CPU's demand linearly
//! between the idle and full points of THERMAL.md §8.2 (80 W ↔ 3 W per DIMM,
//! 360 W ↔ 10 W), because inference load drives memory traffic and compute together.

use super::params::PlantParams;

/// Power demand at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerDemand {
    /// CPU package power demand, W.
    pub cpu_w: f64,
    /// Power of each DIMM, W.
    pub dimm_w: f64,
}

/// A workload: CPU package power demand as a function of simulated time.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// Idle at the plant's `cpu_idle_w`.
    Idle,
    /// Constant demand, W (e.g. steady inference at TDP: `Steady { cpu_w: 360.0 }`).
    Steady {
        /// Package power demand, W.
        cpu_w: f64,
    },
    /// One step change: `before_w` until `at_s`, `after_w` from then on.
    Step {
        /// Demand before the step, W.
        before_w: f64,
        /// Demand after the step, W.
        after_w: f64,
        /// Time of the step, s.
        at_s: f64,
    },
    /// Square-wave bursts: `burst_w` for `burst_s` at the start of every `period_s`,
    /// `base_w` for the rest, starting at `start_s` (batch inference arriving in waves).
    Bursts {
        /// Demand between bursts, W.
        base_w: f64,
        /// Demand during a burst, W.
        burst_w: f64,
        /// Burst repetition period, s.
        period_s: f64,
        /// Burst length, s.
        burst_s: f64,
        /// Time of the first burst, s.
        start_s: f64,
    },
    /// Piecewise-constant demand: `(from_s, cpu_w)` pairs sorted by time; before the first
    /// entry the demand is the plant's idle power.
    Schedule(Vec<(f64, f64)>),
}

impl Workload {
    /// Steady inference at the plant's TDP.
    pub fn steady_inference(params: &PlantParams) -> Self {
        Self::Steady {
            cpu_w: params.cpu_full_w,
        }
    }

    /// The reference inference scenario's load: idle, then a step to TDP at `at_s`.
    pub fn idle_to_tdp(params: &PlantParams, at_s: f64) -> Self {
        Self::Step {
            before_w: params.cpu_idle_w,
            after_w: params.cpu_full_w,
            at_s,
        }
    }

    /// CPU package power demand at `t_s`, W. Never negative, never NaN.
    pub fn cpu_demand_w(&self, t_s: f64, params: &PlantParams) -> f64 {
        let w = match self {
            Self::Idle => params.cpu_idle_w,
            Self::Steady { cpu_w } => *cpu_w,
            Self::Step {
                before_w,
                after_w,
                at_s,
            } => {
                if t_s < *at_s {
                    *before_w
                } else {
                    *after_w
                }
            }
            Self::Bursts {
                base_w,
                burst_w,
                period_s,
                burst_s,
                start_s,
            } => {
                if t_s < *start_s || period_s.is_nan() || *period_s <= 0.0 {
                    *base_w
                } else {
                    let phase = (t_s - start_s) % period_s;
                    if phase < *burst_s { *burst_w } else { *base_w }
                }
            }
            Self::Schedule(points) => points
                .iter()
                .take_while(|(from, _)| *from <= t_s)
                .last()
                .map_or(params.cpu_idle_w, |(_, w)| *w),
        };
        if w.is_finite() { w.max(0.0) } else { 0.0 }
    }

    /// CPU and per-DIMM power demand at `t_s`.
    pub fn demand(&self, t_s: f64, params: &PlantParams) -> PowerDemand {
        let cpu_w = self.cpu_demand_w(t_s, params);
        PowerDemand {
            cpu_w,
            dimm_w: dimm_power_for(cpu_w, params),
        }
    }
}

/// Per-DIMM power for a CPU demand: linear between (idle CPU, idle DIMM) and (full CPU,
/// full DIMM), clamped to [idle DIMM, full DIMM] (THERMAL.md §8.2 rows).
pub fn dimm_power_for(cpu_w: f64, p: &PlantParams) -> f64 {
    let span = p.cpu_full_w - p.cpu_idle_w;
    let x = if span > 0.0 {
        ((cpu_w - p.cpu_idle_w) / span).clamp(0.0, 1.0)
    } else {
        1.0
    };
    p.dimm_idle_w + x * (p.dimm_full_w - p.dimm_idle_w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_changes_at_the_given_time() {
        let p = PlantParams::reference();
        let w = Workload::idle_to_tdp(&p, 100.0);
        assert_eq!(w.cpu_demand_w(99.9, &p), 80.0);
        assert_eq!(w.cpu_demand_w(100.0, &p), 360.0);
        assert_eq!(w.demand(0.0, &p).dimm_w, 3.0);
        assert_eq!(w.demand(200.0, &p).dimm_w, 10.0);
    }

    #[test]
    fn bursts_repeat() {
        let p = PlantParams::reference();
        let w = Workload::Bursts {
            base_w: 100.0,
            burst_w: 360.0,
            period_s: 60.0,
            burst_s: 20.0,
            start_s: 10.0,
        };
        assert_eq!(w.cpu_demand_w(5.0, &p), 100.0);
        assert_eq!(w.cpu_demand_w(15.0, &p), 360.0);
        assert_eq!(w.cpu_demand_w(35.0, &p), 100.0);
        assert_eq!(w.cpu_demand_w(75.0, &p), 360.0);
    }

    #[test]
    fn schedule_and_nonsense_values() {
        let p = PlantParams::reference();
        let w = Workload::Schedule(vec![(10.0, 200.0), (20.0, f64::NAN), (30.0, -5.0)]);
        assert_eq!(w.cpu_demand_w(0.0, &p), 80.0);
        assert_eq!(w.cpu_demand_w(12.0, &p), 200.0);
        assert_eq!(w.cpu_demand_w(25.0, &p), 0.0);
        assert_eq!(w.cpu_demand_w(35.0, &p), 0.0);
    }
}
