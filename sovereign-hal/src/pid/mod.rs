//! Fixed-point PID controller: integer state, saturating arithmetic, explicit period.
//!
//! It runs unchanged on a microcontroller without an FPU and gives the same output, bit
//! for bit, on every target. Formats and units are in [`fixed`]: input in milli-units
//! (`i32`), gains in Q16.16 ([`Gain`]), state in Q47.16, output in a caller-chosen unit
//! (per-mille duty for a thermal loop).
//!
//! # One step
//!
//! ```text
//! x      = measurement, first-order low-pass filtered if `measurement_filter` > 0
//!          (x += (measurement − x)·dt/(τ + dt), started at the first measurement)
//! m      = x, held while it moves less than `input_deadband`
//! e      = m − setpoint (Direction::Reverse, cooling: hotter ⇒ more output, positive gains)
//!          setpoint − m (Direction::Direct)
//!          and zero while m is inside the setpoint band [sp − below, sp + above]
//! P      = Kp·e
//! I     += Ki·e·dt   (clamped to the integral limits; cut to what brings the output to a
//!                     limit, held while it is there — conditional integration)
//! D      = Kd·d(±m)/dt, first-order filtered (derivative on measurement: no setpoint kick;
//!          zero on the first sample: no first-sample kick)
//! FF     = Kff_sp·setpoint + Kff_dist·disturbance + bias
//! output = clamp(slew(P + I + D + FF))
//! output = the previous output while it differs from it by ≤ `output_deadband`, unless
//!          the new output is at `output_min` or `output_max` (never held off a limit)
//!          or was slew-limited
//! ```
//!
//! The measurement filter feeds every term (P, I and D alike): on a loop whose sensor is
//! quantised (Tctl in 0.125 °C steps) and noisy it turns the steps into a smooth signal,
//! so a high Kp no longer moves the fans by Kp × 0.125 °C at every flicker of the last
//! bit. The derivative keeps its own, additional filter (`derivative_filter`). The
//! output deadband is the other half of the same remedy: a fan cannot resolve a change
//! of a few per-mille (an EMC230x duty register has 8 bits, ≈ 4 ‰), so such changes are
//! not passed on at all; the integral keeps integrating while the output is held, so the
//! held error is worked off instead of left standing. Both are off by default.
//!
//! What it deliberately does differently from OpenBMC phosphor-pid-control (STYLE.md):
//! the integral never absorbs D or FF (no back-calculation on every slew-limited step),
//! the derivative is taken of the measurement, not the error, and `dt` is an argument of
//! every step. Compared with the `pid` crate: a time base, asymmetric output and integral
//! limits, anti-windup that acts only while the output is saturated, a direction setting,
//! feed-forward, slew limits, hysteresis and bumpless manual mode.
//!
//! Every term of the last step is returned as [`PidTerms`], for logs and metrics.
//!
//! # Example: the reference CPU fan loop
//!
//! ```
//! use sovereign_hal::pid::{output_to_duty, Period, Pid};
//! use sovereign_hal::units::MilliCelsius;
//!
//! let mut pid = Pid::reference_fan_loop();
//! let terms = pid.step(MilliCelsius::from_celsius(85).0, Period::ONE_SECOND);
//! // 5 °C above the 80 °C setpoint: P = 5 °C × 40 ‰/°C = 200 ‰, I = 5 ‰ after one second.
//! assert_eq!(terms.p, 200);
//! assert_eq!(terms.i, 5);
//! assert_eq!(output_to_duty(terms.output).per_mille(), 205);
//! ```

pub mod fixed;

use core::fmt;

pub use fixed::{Gain, Period};
use fixed::{ONE, from_output, to_output};

use crate::units::{Duty, MilliCelsius, MilliSeconds};

/// Why a controller configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PidError {
    /// A control period of zero milliseconds.
    ZeroPeriod,
    /// A gain that does not fit Q16.16 (magnitude ≥ 32768, or a zero denominator).
    GainOutOfRange,
    /// `output_min` is above `output_max`.
    InvertedOutputLimits,
    /// `integral_min` is above `integral_max`.
    InvertedIntegralLimits,
    /// A slew limit of zero would freeze the output forever; use `None` for "no limit".
    ZeroSlewRate,
}

impl PidError {
    /// What went wrong and how to fix it, the same text as `Display`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ZeroPeriod => {
                "control period is zero: give the time since the last step in milliseconds (> 0)"
            }
            Self::GainOutOfRange => {
                "gain does not fit Q16.16 fixed point: keep |gain| below 32768 output units per input unit and the denominator non-zero"
            }
            Self::InvertedOutputLimits => "output_min is above output_max: swap them",
            Self::InvertedIntegralLimits => "integral_min is above integral_max: swap them",
            Self::ZeroSlewRate => {
                "a slew limit of 0 would freeze the output: use None for no limit"
            }
        }
    }
}

impl fmt::Display for PidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for PidError {}

/// Which way the output moves when the measurement rises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// Error = measurement − setpoint: a rising measurement raises the output with
    /// positive gains. Cooling loops (hotter ⇒ more fan).
    Reverse,
    /// Error = setpoint − measurement (the textbook and `pid`-crate convention): a rising
    /// measurement lowers the output with positive gains. Heating loops, margin loops
    /// (a shrinking margin ⇒ more fan).
    Direct,
}

/// How the integral is kept from winding up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AntiWindup {
    /// Conditional integration: the integral is clamped to its limits, and an increment
    /// that would push the output past a limit (output or slew) is cut to the part that
    /// brings the output to that limit, nothing once it is there. D and FF never enter
    /// the integral: it only ever moves by a part of Ki·e·dt.
    Conditional,
    /// Only clamp the integral to its limits (what the `pid` crate does). Kept for
    /// comparison; it winds up to the integral limit while the output is saturated.
    ClampOnly,
}

/// A band around the setpoint inside which the error is zero (measurement units).
///
/// Outside the band the error is measured from the band's edge, so the error is
/// continuous: it does not jump when the measurement leaves the band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SetpointBand {
    /// Milli-units below the setpoint that still count as "on target".
    pub below: u32,
    /// Milli-units above the setpoint that still count as "on target".
    pub above: u32,
}

/// Everything that defines a controller; validated by [`Pid::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PidConfig {
    /// Sign convention of the error.
    pub direction: Direction,
    /// Setpoint in input milli-units (m°C for a temperature loop).
    pub setpoint: i32,
    /// Proportional gain: output units per input unit.
    pub kp: Gain,
    /// Integral gain: output units per input unit and second.
    pub ki: Gain,
    /// Derivative gain: output units per (input unit per second).
    pub kd: Gain,
    /// Time constant of the first-order filter on D; zero disables the filter.
    pub derivative_filter: MilliSeconds,
    /// Feed-forward from the setpoint: output units per input unit of setpoint.
    pub kff_setpoint: Gain,
    /// Feed-forward from a measured disturbance (e.g. package power, so fans pre-spin on
    /// a load step): output units per disturbance unit (W for mW input).
    pub kff_disturbance: Gain,
    /// Constant added to the output (Hubris calls it "zero"), in output units.
    pub bias: i32,
    /// Lowest output, in output units.
    pub output_min: i32,
    /// Highest output, in output units.
    pub output_max: i32,
    /// Lowest value of the I term, in output units.
    pub integral_min: i32,
    /// Highest value of the I term, in output units.
    pub integral_max: i32,
    /// Largest rise of the output per second, in output units; `None`: unlimited. The
    /// first step after construction or [`Pid::reset`] has no previous output and is
    /// not slew-limited.
    pub slew_up_per_s: Option<u32>,
    /// Largest fall of the output per second, in output units; `None`: unlimited.
    pub slew_down_per_s: Option<u32>,
    /// Band around the setpoint with zero error.
    pub setpoint_band: SetpointBand,
    /// The measurement is held until it moves more than this many milli-units from the
    /// value in use (input hysteresis against sensor noise and quantisation).
    pub input_deadband: u32,
    /// Anti-windup strategy.
    pub anti_windup: AntiWindup,
    /// Time constant τ of a first-order low-pass filter on the measurement, applied
    /// before everything else (so to P, I and D); zero disables it. Discretised with
    /// backward Euler, `x += (measurement − x)·dt/(τ + dt)`, started at the first
    /// measurement; its step response after `k` steps is `1 − (τ/(τ + dt))^k`, close
    /// to the continuous `1 − e^(−t/τ)` for `dt ≪ τ`.
    pub measurement_filter: MilliSeconds,
    /// The output is held at its previous value while the new one differs from it by no
    /// more than this many output units (output hysteresis: a fan cannot resolve a few
    /// per-mille). Never holds an output that reached `output_min` or `output_max`, a
    /// slew-limited step, nor the first step; manual mode is not affected. Zero disables
    /// it.
    pub output_deadband: u32,
}

impl PidConfig {
    /// A plain P-only controller with the given direction, setpoint and output range; the
    /// integral range equals the output range. Set the other fields as needed.
    pub const fn new(
        direction: Direction,
        setpoint: i32,
        output_min: i32,
        output_max: i32,
    ) -> Self {
        Self {
            direction,
            setpoint,
            kp: Gain::ZERO,
            ki: Gain::ZERO,
            kd: Gain::ZERO,
            derivative_filter: MilliSeconds(0),
            kff_setpoint: Gain::ZERO,
            kff_disturbance: Gain::ZERO,
            bias: 0,
            output_min,
            output_max,
            integral_min: output_min,
            integral_max: output_max,
            slew_up_per_s: None,
            slew_down_per_s: None,
            setpoint_band: SetpointBand { below: 0, above: 0 },
            input_deadband: 0,
            anti_windup: AntiWindup::Conditional,
            measurement_filter: MilliSeconds(0),
            output_deadband: 0,
        }
    }

    /// The reference CPU fan loop: Tctl to 80 °C, one step per second, output in
    /// per-mille duty limited to 20–100 %.
    ///
    /// A documented starting point, not a tuned result (the simulator tunes real gains):
    /// - Plant (THERMAL.md §8.3): about −0.36 °C per % duty at the 80 °C operating point,
    ///   sink time constant 50–80 s, die 2 s.
    /// - Kp 40 ‰/°C (4 %/°C): loop gain ≈ 40 × 0.036 ≈ 1.4, between phosphor's DaytonaX
    ///   (0.15 %/°C) and Hubris Cosmo (5 %/°C) (THERMAL.md §7.2, §7.4).
    /// - Ki 1 ‰/(°C·s): integral time Kp/Ki = 40 s, below the sink time constant.
    /// - No D: Tctl is quantised to 0.125 °C and noisy; a 125 m°C input deadband keeps a
    ///   single quantisation step from moving the fans. (On the simulated reference plant
    ///   a 2 s [`PidConfig::measurement_filter`] with a 4 ‰
    ///   [`PidConfig::output_deadband`] moves the fans about five times less, at lower
    ///   cost — `cargo run --release --example fan-tune -- --seeds`. It is not the default
    ///   here because the filter also delays the zone's worst-case estimate after a missed
    ///   reading by its time constant; a board that takes that trade sets both fields.)
    /// - Integral range 0–1000 ‰ so the integral alone can hold any duty; fall slew
    ///   limited to 2 %/s (phosphor DaytonaX uses 1 %/s) so the fans do not hunt; rise
    ///   unlimited, because heat must never wait.
    pub const fn reference_fan_loop() -> Self {
        let mut c = Self::new(
            Direction::Reverse,
            MilliCelsius::from_celsius(80).0,
            200,
            1000,
        );
        c.kp = Gain::from_whole(40);
        c.ki = Gain::from_whole(1);
        c.integral_min = 0;
        c.integral_max = 1000;
        c.slew_down_per_s = Some(20);
        c.input_deadband = 125;
        c
    }

    fn validate(&self) -> Result<(), PidError> {
        if self.output_min > self.output_max {
            return Err(PidError::InvertedOutputLimits);
        }
        if self.integral_min > self.integral_max {
            return Err(PidError::InvertedIntegralLimits);
        }
        if self.slew_up_per_s == Some(0) || self.slew_down_per_s == Some(0) {
            return Err(PidError::ZeroSlewRate);
        }
        for g in [
            self.kp,
            self.ki,
            self.kd,
            self.kff_setpoint,
            self.kff_disturbance,
        ] {
            Gain::from_raw(g.raw())?;
        }
        Ok(())
    }
}

bitflags::bitflags! {
    /// Which limits shaped the output of one step.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct LimitsHit: u8 {
        /// The output was clamped to `output_max`.
        const OUTPUT_MAX = 1 << 0;
        /// The output was clamped to `output_min`.
        const OUTPUT_MIN = 1 << 1;
        /// The rise was limited by `slew_up_per_s`.
        const SLEW_UP = 1 << 2;
        /// The fall was limited by `slew_down_per_s`.
        const SLEW_DOWN = 1 << 3;
        /// The integral was clamped to `integral_max`.
        const INTEGRAL_MAX = 1 << 4;
        /// The integral was clamped to `integral_min`.
        const INTEGRAL_MIN = 1 << 5;
        /// The integral increment was cut or dropped because the output reached a
        /// limit (conditional integration).
        const INTEGRATION_HELD = 1 << 6;
        /// The output was held at its previous value by `output_deadband`.
        const OUTPUT_HELD = 1 << 7;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for LimitsHit {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "LimitsHit({=u8:#x})", self.bits());
    }
}

/// Every term of one step, in output units (rounded to nearest from Q47.16, halves up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PidTerms {
    /// The error used, in input milli-units, after the setpoint band (saturated to `i32`).
    pub error: i32,
    /// Proportional term.
    pub p: i32,
    /// Integral term (the integral state itself: it is kept in output units).
    pub i: i32,
    /// Derivative term (after its filter).
    pub d: i32,
    /// Feed-forward term, bias included.
    pub ff: i32,
    /// P + I + D + FF before the slew and output limits.
    pub unsaturated: i32,
    /// The output to apply.
    pub output: i32,
    /// Which limits were hit.
    pub limits: LimitsHit,
    /// The output is the manual value ([`Pid::set_manual`]), not the controller's.
    pub manual: bool,
}

/// A fixed-point PID controller. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pid {
    config: PidConfig,
    /// Integral term, Q47.16 output units.
    integral: i64,
    /// Filtered derivative term, Q47.16 output units.
    derivative: i64,
    /// The measurement used by the previous step (after the input deadband).
    held_measurement: Option<i32>,
    /// The low-pass filtered measurement, Q47.16 input milli-units (`None` before the
    /// first step or with the filter off).
    filtered_measurement: Option<i64>,
    /// The previous output, Q47.16 output units.
    last_output: Option<i64>,
    /// Output to apply in manual mode.
    manual: Option<i32>,
    /// Set when leaving manual mode: the next step initialises the integral.
    bumpless_pending: bool,
}

impl Pid {
    /// A controller with cleared state.
    ///
    /// # Errors
    /// [`PidError`] for inverted limits, a zero slew rate or an unrepresentable gain.
    pub fn new(config: PidConfig) -> Result<Self, PidError> {
        config.validate()?;
        Ok(Self::new_unchecked(config))
    }

    const fn new_unchecked(config: PidConfig) -> Self {
        Self {
            // The integral starts at zero, or at the nearest limit if zero is outside.
            integral: clamp_i64(
                0,
                from_output(config.integral_min),
                from_output(config.integral_max),
            ),
            config,
            derivative: 0,
            held_measurement: None,
            filtered_measurement: None,
            last_output: None,
            manual: None,
            bumpless_pending: false,
        }
    }

    /// [`PidConfig::reference_fan_loop`] as a controller, ready to step once per second
    /// with Tctl in m°C; the output is per-mille duty ([`output_to_duty`]).
    pub const fn reference_fan_loop() -> Self {
        // The reference configuration is valid by construction (a test checks it).
        Self::new_unchecked(PidConfig::reference_fan_loop())
    }

    /// The configuration in use.
    pub const fn config(&self) -> &PidConfig {
        &self.config
    }

    /// Replaces the configuration and keeps the state. The integral is stored in output
    /// units, so changing Ki does not bump the output.
    ///
    /// # Errors
    /// As [`Pid::new`]; on error the old configuration stays.
    pub fn set_config(&mut self, config: PidConfig) -> Result<(), PidError> {
        config.validate()?;
        self.config = config;
        self.integral = clamp_i64(
            self.integral,
            from_output(config.integral_min),
            from_output(config.integral_max),
        );
        Ok(())
    }

    /// Moves the setpoint. The output does not kick: D acts on the measurement only.
    pub fn set_setpoint(&mut self, setpoint: i32) {
        self.config.setpoint = setpoint;
    }

    /// `Some(output)`: manual mode, the steps return this output (within the output
    /// limits) while still tracking the measurement. `None`: back to automatic; the next
    /// step starts from the last output (bumpless transfer) if Ki is not zero, else it
    /// moves from it within the slew limits.
    pub fn set_manual(&mut self, output: Option<i32>) {
        if self.manual.is_some() && output.is_none() {
            self.bumpless_pending = true;
        }
        self.manual = output;
    }

    /// Whether the controller is in manual mode.
    pub const fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Clears the integral, the derivative history and the last output.
    pub fn reset(&mut self) {
        let (config, manual) = (self.config, self.manual);
        *self = Self::new_unchecked(config);
        self.manual = manual;
    }

    /// The integral term in output units.
    pub const fn integral(&self) -> i32 {
        to_output(self.integral)
    }

    /// One control step without a disturbance input. `measurement` is in input
    /// milli-units, `dt` the time since the previous step.
    pub fn step(&mut self, measurement: i32, dt: Period) -> PidTerms {
        self.step_with_disturbance(measurement, 0, dt)
    }

    /// One control step with the measured disturbance (milli-units of its own quantity,
    /// e.g. mW of package power) fed forward through `kff_disturbance`.
    pub fn step_with_disturbance(
        &mut self,
        measurement: i32,
        disturbance: i32,
        dt: Period,
    ) -> PidTerms {
        let c = self.config;
        let dt_ms = i64::from(dt.millis());
        let measurement = self.filter_measurement(measurement, dt_ms);

        // Input hysteresis: small moves around the value in use are ignored.
        let m = match self.held_measurement {
            Some(held)
                if (i64::from(measurement) - i64::from(held)).unsigned_abs()
                    <= u64::from(c.input_deadband) =>
            {
                held
            }
            _ => measurement,
        };

        // Error from the nearest edge of the setpoint band, zero inside it.
        let lo = i64::from(c.setpoint) - i64::from(c.setpoint_band.below);
        let hi = i64::from(c.setpoint) + i64::from(c.setpoint_band.above);
        let m64 = i64::from(m);
        let target = clamp_i64(m64, lo, hi);
        let error = match c.direction {
            Direction::Reverse => m64 - target,
            Direction::Direct => target - m64,
        };

        // Q16 gain × milli-units / 1000 = Q16 output units.
        let p = i64::from(c.kp.raw()).saturating_mul(error) / 1000;

        // Derivative of the error with the setpoint held, i.e. of ±measurement.
        let d_raw = match self.held_measurement {
            None => 0,
            Some(prev) => {
                let dm = m64 - i64::from(prev);
                let de = match c.direction {
                    Direction::Reverse => dm,
                    Direction::Direct => -dm,
                };
                // Kd·(de/1000)/(dt/1000): the two thousands cancel.
                i64::from(c.kd.raw()).saturating_mul(de) / dt_ms
            }
        };
        let tau = i64::from(c.derivative_filter.0);
        self.derivative = if tau == 0 || self.held_measurement.is_none() {
            d_raw
        } else {
            // First-order low-pass, backward Euler: y += (x − y)·dt/(τ + dt).
            let step = d_raw.saturating_sub(self.derivative).saturating_mul(dt_ms) / (tau + dt_ms);
            self.derivative.saturating_add(step)
        };
        let d = self.derivative;
        self.held_measurement = Some(m);

        let ff = (i64::from(c.kff_setpoint.raw()).saturating_mul(i64::from(c.setpoint)) / 1000)
            .saturating_add(
                i64::from(c.kff_disturbance.raw()).saturating_mul(i64::from(disturbance)) / 1000,
            )
            .saturating_add(from_output(c.bias));
        let p_d_ff = p.saturating_add(d).saturating_add(ff);

        let i_min = from_output(c.integral_min);
        let i_max = from_output(c.integral_max);
        let mut limits = LimitsHit::empty();

        if let Some(manual) = self.manual {
            let out = clamp_i64(
                from_output(manual),
                from_output(c.output_min),
                from_output(c.output_max),
            );
            self.last_output = Some(out);
            return PidTerms {
                error: sat_i32(error),
                p: to_output(p),
                i: to_output(self.integral),
                d: to_output(d),
                ff: to_output(ff),
                unsaturated: manual,
                output: to_output(out),
                limits,
                manual: true,
            };
        }

        // Without an integral term (Ki = 0) nothing would ever remove a seeded offset:
        // the return from manual mode is then shaped by the slew limits alone.
        let bumpless = core::mem::take(&mut self.bumpless_pending) && c.ki != Gain::ZERO;
        let integral = if bumpless {
            // Start where manual mode left the output: I = u_prev − (P + D + FF).
            let prev = self.last_output.unwrap_or(0);
            clamp_i64(prev.saturating_sub(p_d_ff), i_min, i_max)
        } else {
            // Ki·(e/1000)·(dt/1000), split so that the product cannot overflow i64.
            let rate = i64::from(c.ki.raw()).saturating_mul(error) / 1000;
            let increment = rate.saturating_mul(dt_ms) / 1000;
            let candidate = self.integral.saturating_add(increment);
            if candidate > i_max {
                limits |= LimitsHit::INTEGRAL_MAX;
            } else if candidate < i_min {
                limits |= LimitsHit::INTEGRAL_MIN;
            }
            let candidate = clamp_i64(candidate, i_min, i_max);
            if c.anti_windup == AntiWindup::Conditional {
                let (out, hit) = self.limit(p_d_ff.saturating_add(candidate), dt_ms);
                let unsat = p_d_ff.saturating_add(candidate);
                let pushes_up = candidate > self.integral && out < unsat;
                let pushes_down = candidate < self.integral && out > unsat;
                if pushes_up || pushes_down {
                    // The limits that stopped the increment shaped this step's output.
                    limits |= LimitsHit::INTEGRATION_HELD | hit;
                    // Take only the part of the increment that brings the output to the
                    // limit (never more than Ki·e·dt, never against it): dropping all of
                    // it would hold an unsaturated output short of its limit for good.
                    let fits = out.saturating_sub(p_d_ff);
                    if pushes_up {
                        fits.max(self.integral)
                    } else {
                        fits.min(self.integral)
                    }
                } else {
                    candidate
                }
            } else {
                candidate
            }
        };
        self.integral = integral;

        let unsaturated = p_d_ff.saturating_add(integral);
        let (mut out, hit) = self.limit(unsaturated, dt_ms);
        limits |= hit;
        // Output hysteresis, after the limits so that a limit is always reached exactly.
        // The integral above kept integrating: a held output is not a saturated one. A
        // slew-limited step is never held: it is a deliberate move at the allowed rate,
        // and with a rate × period below the deadband it would otherwise never move.
        let at_limit = out == from_output(c.output_min) || out == from_output(c.output_max);
        let slewing = hit.intersects(LimitsHit::SLEW_UP | LimitsHit::SLEW_DOWN);
        if let Some(prev) = self.last_output
            && !at_limit
            && !slewing
            && c.output_deadband > 0
            && out.abs_diff(prev) <= from_output_u32(c.output_deadband).unsigned_abs()
        {
            out = prev;
            limits |= LimitsHit::OUTPUT_HELD;
        }
        self.last_output = Some(out);
        PidTerms {
            error: sat_i32(error),
            p: to_output(p),
            i: to_output(integral),
            d: to_output(d),
            ff: to_output(ff),
            unsaturated: to_output(unsaturated),
            output: to_output(out),
            limits,
            manual: false,
        }
    }

    /// The measurement after the optional first-order low-pass filter, rounded to the
    /// nearest milli-unit (halves upwards).
    fn filter_measurement(&mut self, measurement: i32, dt_ms: i64) -> i32 {
        let tau = i64::from(self.config.measurement_filter.0);
        let x = i64::from(measurement).saturating_mul(ONE);
        let y = match self.filtered_measurement {
            _ if tau == 0 => {
                self.filtered_measurement = None;
                return measurement;
            }
            None => x,
            // Backward Euler: y += (x − y)·dt/(τ + dt). The division truncates toward
            // zero and a saturated product is smaller than the true one, so y never
            // passes x (the product only saturates for periods of days).
            Some(y) => y.saturating_add(x.saturating_sub(y).saturating_mul(dt_ms) / (tau + dt_ms)),
        };
        self.filtered_measurement = Some(y);
        to_output(y)
    }

    /// Slew limits relative to the last output, then the output limits (which always win).
    fn limit(&self, unsaturated: i64, dt_ms: i64) -> (i64, LimitsHit) {
        let c = &self.config;
        let mut hit = LimitsHit::empty();
        let mut out = unsaturated;
        if let Some(prev) = self.last_output {
            if let Some(up) = c.slew_up_per_s {
                let max_rise = from_output_u32(up).saturating_mul(dt_ms) / 1000;
                if out > prev.saturating_add(max_rise) {
                    out = prev.saturating_add(max_rise);
                    hit |= LimitsHit::SLEW_UP;
                }
            }
            if let Some(down) = c.slew_down_per_s {
                let max_fall = from_output_u32(down).saturating_mul(dt_ms) / 1000;
                if out < prev.saturating_sub(max_fall) {
                    out = prev.saturating_sub(max_fall);
                    hit |= LimitsHit::SLEW_DOWN;
                }
            }
        }
        let (lo, hi) = (from_output(c.output_min), from_output(c.output_max));
        if out > hi {
            out = hi;
            hit |= LimitsHit::OUTPUT_MAX;
        } else if out < lo {
            out = lo;
            hit |= LimitsHit::OUTPUT_MIN;
        }
        (out, hit)
    }
}

/// `Ord::clamp` without its panic path (and usable in const fns); `lo <= hi` is
/// checked by `validate`, and with `lo > hi` this returns `hi` instead of panicking.
pub(crate) const fn clamp_i64(v: i64, lo: i64, hi: i64) -> i64 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

fn from_output_u32(v: u32) -> i64 {
    i64::from(v).saturating_mul(ONE)
}

fn sat_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// A per-mille output as a fan [`Duty`], clamped to 0–1000 ‰.
pub fn output_to_duty(per_mille: i32) -> Duty {
    Duty::from_per_mille_clamped(u32::try_from(per_mille).unwrap_or(0))
}

#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;
