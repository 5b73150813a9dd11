//! Sovereign's own fixed-point PID ([`sovereign_hal::pid`]) as a scenario [`Controller`].
//!
//! The adapter is thin on purpose: the controller under test is the very code that runs
//! on the server or the BMC-class microcontroller. It feeds the quantised Tctl reading in
//! m°C, the package power in mW (the PID's measured disturbance, used when its
//! `kff_disturbance` is set) and the real period to [`Pid::step_with_disturbance`], and
//! gives the per-mille output to every fan. A missing Tctl reading sends the fans to
//! 100 % (failsafe) until the reading returns; a missing power reading keeps the last
//! one, so a dropout cannot pull the feed-forward share of the duty away.

use sovereign_hal::pid::{Gain, Period, Pid, PidConfig, PidError, output_to_duty};
use sovereign_hal::units::{Duty, MilliSeconds};

use super::{Controller, Observation};
use crate::tune::PidGains;

/// [`Pid`] driven by the scenario runner.
#[derive(Debug, Clone)]
pub struct SovereignPid {
    name: String,
    pid: Pid,
    failsafe: bool,
    last_power_mw: i32,
}

/// A gain in thousandths as [`Gain`]. A non-finite gain is refused like one too large for
/// Q16.16 (the saturating cast of a huge value gives `i32::MAX`, which `Gain` refuses).
fn gain(v: f64) -> Result<Gain, PidError> {
    if !v.is_finite() {
        return Err(PidError::GainOutOfRange);
    }
    Gain::from_milli((v * 1000.0).round() as i32)
}

impl SovereignPid {
    /// A controller with `config`, named `name` in tables.
    pub fn new(name: impl Into<String>, config: PidConfig) -> Result<Self, PidError> {
        Ok(Self {
            name: name.into(),
            pid: Pid::new(config)?,
            failsafe: false,
            last_power_mw: 0,
        })
    }

    /// [`PidConfig::reference_fan_loop`] (output 20–100 %, integral 0–100 %, fall slew
    /// 2 %/s, 0.125 °C input deadband, conditional anti-windup) with `gains` and the
    /// setpoint `setpoint_c`. With a feed-forward gain the integral may also go down to
    /// −100 %, so it can take back what the feed-forward gives too much.
    pub fn from_gains(gains: &PidGains, setpoint_c: f64) -> Result<Self, PidError> {
        let mut c = PidConfig::reference_fan_loop();
        // Saturating cast; a setpoint beyond ±2 000 000 °C is not a setpoint anyone means.
        c.setpoint = (setpoint_c * 1000.0).round() as i32;
        c.kp = gain(gains.kp_permille_per_c)?;
        c.ki = gain(gains.ki_permille_per_c_s)?;
        c.kd = gain(gains.kd_permille_s_per_c)?;
        c.kff_disturbance = gain(gains.kff_permille_per_w)?;
        if c.kff_disturbance != Gain::ZERO {
            c.integral_min = -c.output_max;
        }
        Self::new("sovereign-pid", c)
    }

    /// The configuration in use.
    pub fn config(&self) -> &PidConfig {
        self.pid.config()
    }
}

impl Controller for SovereignPid {
    fn name(&self) -> &str {
        &self.name
    }

    fn step(&mut self, obs: &Observation, dt_ms: u32) -> Duty {
        let Some(tctl) = obs.tctl else {
            self.failsafe = true;
            return Duty::FULL;
        };
        self.failsafe = false;
        if let Some(p) = obs.package_power {
            self.last_power_mw = p.get();
        }
        let dt = Period::new(MilliSeconds(dt_ms)).unwrap_or(Period::ONE_SECOND);
        let terms = self
            .pid
            .step_with_disturbance(tctl.get(), self.last_power_mw, dt);
        output_to_duty(terms.output)
    }

    fn in_failsafe(&self) -> bool {
        self.failsafe
    }
}
