//! Baseline controllers for side-by-side comparison in the same runner.
//!
//! Each is restated from its documented behaviour (THERMAL.md §7, STYLE.md), not copied
//! from its code:
//! - [`PhosphorPid`]: OpenBMC phosphor-pid-control's thermal PID feeding a zone whose fan
//!   loops are pure feed-forward (so the zone setpoint is the duty, as on AMD's DaytonaX).
//! - [`Fancontrol`]: lm-sensors `fancontrol`'s linear temperature → PWM curve.
//! - [`FixedDuty`]: fans fixed at 100 %, the state a server is left in when its BMC exits
//!   the thermal loop.
//!
//! They compute in `f64`: they are reference models in the simulator, not firmware.

use sovereign_hal::units::{Duty, MilliCelsius};

use super::{Controller, Observation};
use crate::tune::PidGains;

fn celsius(t: MilliCelsius) -> f64 {
    f64::from(t.get()) / 1000.0
}

fn duty_from_pct(pct: f64) -> Duty {
    // Saturating conversion; NaN → 0 ‰, clamped to full.
    Duty::from_per_mille_clamped((pct * 10.0).round().max(0.0) as u32)
}

/// Configuration of a phosphor-pid-control thermal PID and its zone, in the tool's own
/// units: temperatures in °C, outputs in percent duty, gains negative for temperature
/// loops (THERMAL.md §7: `e = setpoint − input`, hotter ⇒ more output).
#[derive(Debug, Clone, PartialEq)]
pub struct PhosphorPidConfig {
    /// Thermal setpoint, °C.
    pub setpoint_c: f64,
    /// The loop's assumed sample period, s (phosphor assumes a fixed period: 1 s for
    /// thermal loops, THERMAL.md §7; it does not measure the real interval).
    pub ts_s: f64,
    /// `proportionalCoeff`, %/°C.
    pub kp: f64,
    /// `integralCoeff`, multiplies `e·Ts`: %/(°C·s).
    pub ki: f64,
    /// `derivativeCoeff`, multiplies `Δe/Ts`: %·s/°C.
    pub kd: f64,
    /// `feedFwdOffsetCoeff`.
    pub ff_offset: f64,
    /// `feedFwdGainCoeff`.
    pub ff_gain: f64,
    /// `integralLimit_min`, %.
    pub integral_min: f64,
    /// `integralLimit_max`, %.
    pub integral_max: f64,
    /// `outLim_min`, %.
    pub out_min: f64,
    /// `outLim_max`, %.
    pub out_max: f64,
    /// `slewNeg`, %/s (≤ 0; 0 = off).
    pub slew_neg: f64,
    /// `slewPos`, %/s (≥ 0; 0 = off).
    pub slew_pos: f64,
    /// `positiveHysteresis`, °C.
    pub pos_hysteresis: f64,
    /// `negativeHysteresis`, °C.
    pub neg_hysteresis: f64,
    /// Zone `FailSafePercent`, % (a missing input drives the zone here).
    pub failsafe_pct: f64,
    /// Zone `MinThermalOutput`, % (the zone never asks for less).
    pub min_thermal_output_pct: f64,
}

impl PhosphorPidConfig {
    /// AMD's SP5 reference board (DaytonaX, THERMAL.md §7.2) CPU loop: Kp −0.15 %/°C,
    /// Ki −1.0 %/(°C·s), output 30–100 %, integral 20–100 %, slewNeg −1 %/s,
    /// negativeHysteresis 5 °C, zone failsafe 100 %, MinThermalOutput 10 %; with the
    /// setpoint moved from its 55 °C to `setpoint_c` so it regulates the same target.
    pub fn daytonax(setpoint_c: f64) -> Self {
        Self {
            setpoint_c,
            ts_s: 1.0,
            kp: -0.15,
            ki: -1.0,
            kd: 0.0,
            ff_offset: 0.0,
            ff_gain: 0.0,
            integral_min: 20.0,
            integral_max: 100.0,
            out_min: 30.0,
            out_max: 100.0,
            slew_neg: -1.0,
            slew_pos: 0.0,
            pos_hysteresis: 0.0,
            neg_hysteresis: 5.0,
            failsafe_pct: 100.0,
            min_thermal_output_pct: 10.0,
        }
    }

    /// phosphor's algorithm with PI gains tuned for this plant (`gains`, in ‰, become
    /// phosphor's %-per-°C gains with the temperature-loop sign): the DaytonaX loop with
    /// the output floor and integral range of Sovereign's reference loop (20–100 %,
    /// integral from 0 %), and without `slewNeg` and `negativeHysteresis`.
    ///
    /// Dropping those two is in phosphor's favour, not against it: with a slew limit its
    /// integral is back-calculated on every step (STYLE.md). Measured on the reference
    /// scenario (mean of seeds 1–5 and 2026) at two autotuned gain sets: `slewNeg`
    /// −1 %/s took the cost from 5.15/5.19 to 5.36/5.33, −2 %/s to 5.52/5.16; a 0.25 or
    /// 0.5 °C hysteresis to 5.4–6.0; 0.125 °C changed it by ≤ 0.02.
    /// It has no measured-disturbance feed-forward (only `feedFwd*` on the setpoint), so
    /// `kff_permille_per_w` is not used.
    pub fn tuned(setpoint_c: f64, gains: &PidGains) -> Self {
        Self {
            kp: -gains.kp_permille_per_c / 10.0,
            ki: -gains.ki_permille_per_c_s / 10.0,
            kd: -gains.kd_permille_s_per_c / 10.0,
            out_min: 20.0,
            integral_min: 0.0,
            slew_neg: 0.0,
            neg_hysteresis: 0.0,
            ..Self::daytonax(setpoint_c)
        }
    }
}

/// phosphor-pid-control's thermal PID, restated from its documented update:
///
/// ```text
/// input  ← last accepted input unless it moved more than the hysteresis band
///          (positiveHysteresis above it, negativeHysteresis below it)
/// e      = setpoint − input
/// I      = clamp(I + ki·e·Ts, integral limits)   (I term is 0 while ki = 0)
/// out    = kp·e + I + kd·(e − e_prev)/Ts + (setpoint + ff_offset)·ff_gain
///          (e_prev starts at 0)
/// out    = clamp(out, out_min, out_max)
/// out    = slew-limited against the previous output (slewNeg/slewPos per s, not on
///          the first step); with any slew limit configured the integral is then
///          back-calculated as out − P on every step, so D and FF leak into it
///          (STYLE.md: a known flaw)
/// I      = clamp(I, integral limits)
/// zone   = max(out, MinThermalOutput); failsafe % when the input is missing
/// ```
///
/// The derivative is taken on the error (setpoint kick) and `Ts` is the configured
/// period, whatever the real interval — both documented properties kept on purpose.
#[derive(Debug, Clone)]
pub struct PhosphorPid {
    name: String,
    cfg: PhosphorPidConfig,
    integral: f64,
    last_error: f64,
    last_output: Option<f64>,
    last_input: Option<f64>,
    failsafe: bool,
}

impl PhosphorPid {
    /// A controller with `cfg`, named `name` in tables.
    pub fn new(name: impl Into<String>, cfg: PhosphorPidConfig) -> Self {
        Self {
            name: name.into(),
            cfg,
            integral: 0.0,
            last_error: 0.0,
            last_output: None,
            last_input: None,
            failsafe: false,
        }
    }
}

impl Controller for PhosphorPid {
    fn name(&self) -> &str {
        &self.name
    }

    fn step(&mut self, obs: &Observation, _dt_ms: u32) -> Duty {
        let c = &self.cfg;
        let Some(raw) = obs.tctl.map(celsius) else {
            self.failsafe = true;
            return duty_from_pct(c.failsafe_pct);
        };
        self.failsafe = false;
        let input = if c.pos_hysteresis == 0.0 && c.neg_hysteresis == 0.0 {
            raw
        } else {
            let accepted = match self.last_input {
                None => raw,
                Some(last) if raw - last > c.pos_hysteresis || last - raw > c.neg_hysteresis => raw,
                Some(last) => last,
            };
            self.last_input = Some(accepted);
            accepted
        };
        let e = c.setpoint_c - input;
        let p = c.kp * e;
        let mut i = if c.ki == 0.0 {
            0.0
        } else {
            (self.integral + c.ki * e * c.ts_s).clamp(c.integral_min, c.integral_max)
        };
        let d = c.kd * (e - self.last_error) / c.ts_s;
        let ff = (c.setpoint_c + c.ff_offset) * c.ff_gain;
        let mut out = (p + i + d + ff).clamp(c.out_min, c.out_max);
        if let Some(prev) = self.last_output {
            if c.slew_neg != 0.0 {
                out = out.max(prev + c.slew_neg * c.ts_s);
            }
            if c.slew_pos != 0.0 {
                out = out.min(prev + c.slew_pos * c.ts_s);
            }
            if c.slew_neg != 0.0 || c.slew_pos != 0.0 {
                i = out - p;
            }
        }
        self.integral = i.clamp(c.integral_min, c.integral_max);
        self.last_error = e;
        self.last_output = Some(out);
        duty_from_pct(out.max(c.min_thermal_output_pct))
    }

    fn in_failsafe(&self) -> bool {
        self.failsafe
    }
}

/// Configuration of lm-sensors `fancontrol` for one fan, in its own units (whole °C,
/// PWM 0–255, seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FancontrolConfig {
    /// `INTERVAL`: seconds between updates (fancontrol's default is 10).
    pub interval_s: u32,
    /// `MINTEMP`, °C: at or below it the fan runs at `MINPWM`.
    pub min_temp_c: i32,
    /// `MAXTEMP`, °C: at or above it the fan runs at `MAXPWM`.
    pub max_temp_c: i32,
    /// `MINSTART`: the PWM written for 1 s to start a fan whose PWM was 0 before the
    /// curve's value is written.
    pub min_start: u8,
    /// `MINSTOP`: the PWM the curve starts from just above `MINTEMP`.
    pub min_stop: u8,
    /// `MINPWM`: the PWM at or below `MINTEMP`.
    pub min_pwm: u8,
    /// `MAXPWM`.
    pub max_pwm: u8,
}

impl Default for FancontrolConfig {
    /// What an administrator aiming at ≈ 80 °C would write for this board: 50 °C → 20 %
    /// (the fans' minimum duty, THERMAL.md §8.2) rising linearly to 100 % at 90 °C
    /// (5 °C below the throttle point), every 10 s.
    fn default() -> Self {
        Self {
            interval_s: 10,
            min_temp_c: 50,
            max_temp_c: 90,
            // What pwmconfig would find for the reference fans (start at d_min = 20 %,
            // THERMAL.md §8.2) plus a margin; unused while MINPWM keeps the fans turning.
            min_start: 64,
            min_stop: 51,
            min_pwm: 51,
            max_pwm: 255,
        }
    }
}

/// lm-sensors `fancontrol`'s linear curve, restated: every `INTERVAL` seconds read the
/// temperature as the raw sysfs value in millidegrees (the script scales MINTEMP and
/// MAXTEMP by 1000 rather than rounding the reading to whole degrees), then
///
/// ```text
/// T ≤ MINTEMP·1000       → MINPWM
/// T ≥ MAXTEMP·1000       → MAXPWM
/// otherwise              → (T − MINTEMP·1000)·(MAXPWM − MINSTOP) / ((MAXTEMP − MINTEMP)·1000) + MINSTOP
/// ```
///
/// in integer arithmetic (truncating division). On the curve branch, a fan whose PWM was
/// 0 is first kicked at `MINSTART` for 1 s before the new value is written. A failed read
/// ends fancontrol, which hands the fans back to full speed: modelled as failsafe at 100 %.
#[derive(Debug, Clone)]
pub struct Fancontrol {
    cfg: FancontrolConfig,
    pwm: u8,
    since_update_ms: u64,
    kicking: bool,
    failsafe: bool,
}

impl Fancontrol {
    /// A controller with `cfg`; before its first update the fan runs at full speed.
    pub fn new(cfg: FancontrolConfig) -> Self {
        Self {
            cfg,
            pwm: 255,
            since_update_ms: u64::MAX,
            kicking: false,
            failsafe: false,
        }
    }

    /// The curve alone: PWM byte for a whole-degree temperature.
    pub fn curve(cfg: &FancontrolConfig, temp_c: i32) -> u8 {
        Self::curve_millicelsius(cfg, MilliCelsius(temp_c.saturating_mul(1000))).0
    }

    /// The curve on a reading in millidegrees, as the script computes it: the PWM byte
    /// and whether it came from the linear branch (where a stopped fan gets `MINSTART`).
    fn curve_millicelsius(cfg: &FancontrolConfig, t: MilliCelsius) -> (u8, bool) {
        let t = i64::from(t.get());
        let min_t = i64::from(cfg.min_temp_c) * 1000;
        let max_t = i64::from(cfg.max_temp_c) * 1000;
        if t <= min_t {
            (cfg.min_pwm, false)
        } else if t >= max_t {
            (cfg.max_pwm, false)
        } else {
            let span_pwm = i64::from(cfg.max_pwm) - i64::from(cfg.min_stop);
            // Rust's `/` truncates toward zero like bash's `$(( ))`.
            let v = (t - min_t) * span_pwm / (max_t - min_t).max(1) + i64::from(cfg.min_stop);
            (u8::try_from(v.clamp(0, 255)).unwrap_or(u8::MAX), true)
        }
    }
}

impl Controller for Fancontrol {
    fn name(&self) -> &str {
        "fancontrol (linear)"
    }

    fn step(&mut self, obs: &Observation, dt_ms: u32) -> Duty {
        if self.failsafe {
            return Duty::FULL;
        }
        let Some(t) = obs.tctl else {
            self.failsafe = true;
            return Duty::FULL;
        };
        self.since_update_ms = self.since_update_ms.saturating_add(u64::from(dt_ms));
        if self.since_update_ms >= u64::from(self.cfg.interval_s) * 1000 {
            self.since_update_ms = 0;
            let (pwm, on_curve) = Self::curve_millicelsius(&self.cfg, t);
            // The script kicks a fan whose PWM reads 0 at MINSTART, sleeps 1 s, then
            // writes the curve's value.
            self.kicking = on_curve && self.pwm == 0;
            self.pwm = pwm;
        }
        if self.kicking && self.since_update_ms < 1000 {
            return Duty::from_pwm_u8(self.cfg.min_start);
        }
        self.kicking = false;
        Duty::from_pwm_u8(self.pwm)
    }

    fn in_failsafe(&self) -> bool {
        self.failsafe
    }
}

/// Fans fixed at one duty (100 % by default: the "BMC exits the thermal loop" state).
#[derive(Debug, Clone)]
pub struct FixedDuty {
    name: String,
    duty: Duty,
}

impl FixedDuty {
    /// Fans at 100 %.
    pub fn full() -> Self {
        Self {
            name: "fixed 100 %".into(),
            duty: Duty::FULL,
        }
    }

    /// Fans at `duty`.
    pub fn new(duty: Duty) -> Self {
        Self {
            name: format!("fixed {duty}"),
            duty,
        }
    }
}

impl Controller for FixedDuty {
    fn name(&self) -> &str {
        &self.name
    }

    fn step(&mut self, _obs: &Observation, _dt_ms: u32) -> Duty {
        self.duty
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plant::{CCD_COUNT, DIMM_COUNT, FAN_COUNT, VRM_COUNT};

    fn obs(tctl_c: Option<f64>) -> Observation {
        Observation {
            time_ms: 0,
            tctl: tctl_c.map(|t| MilliCelsius((t * 1000.0) as i32)),
            tccd: [None; CCD_COUNT],
            package_power: None,
            fan_rpm: [None; FAN_COUNT],
            dimm: [None; DIMM_COUNT],
            vrm: [None; VRM_COUNT],
            inlet: None,
        }
    }

    #[test]
    fn fancontrol_curve_is_linear_between_its_points() {
        let c = FancontrolConfig::default();
        assert_eq!(Fancontrol::curve(&c, 40), 51);
        assert_eq!(Fancontrol::curve(&c, 50), 51);
        // 20 × 204 / 40 + 51 = 153.
        assert_eq!(Fancontrol::curve(&c, 70), 153);
        assert_eq!(Fancontrol::curve(&c, 90), 255);
        assert_eq!(Fancontrol::curve(&c, 120), 255);
    }

    #[test]
    fn fancontrol_updates_only_every_interval_and_fails_safe() {
        let mut f = Fancontrol::new(FancontrolConfig::default());
        assert_eq!(f.step(&obs(Some(70.0)), 1000), Duty::from_pwm_u8(153));
        // 9 s later a hotter reading is not acted on yet…
        for _ in 0..9 {
            assert_eq!(f.step(&obs(Some(89.0)), 1000), Duty::from_pwm_u8(153));
        }
        // …at 10 s it is.
        // 39 × 204 / 40 = 198 (integer), + 51.
        assert_eq!(f.step(&obs(Some(89.0)), 1000), Duty::from_pwm_u8(249));
        assert_eq!(f.step(&obs(None), 1000), Duty::FULL);
        assert!(f.in_failsafe());
    }

    #[test]
    fn fancontrol_works_in_millidegrees_like_the_script() {
        // lm-sensors fancontrol scales MINTEMP/MAXTEMP by 1000 and feeds the raw sysfs
        // millidegrees into its integer formula; it does not round the reading to whole
        // degrees. 70.9 °C: (70900 − 50000)·204 / 40000 = 106 (truncated), + 51 = 157.
        let mut f = Fancontrol::new(FancontrolConfig::default());
        assert_eq!(f.step(&obs(Some(70.9)), 1000), Duty::from_pwm_u8(157));
        // Half a degree above MINTEMP is already on the curve: 500·204/40000 = 2, + 51.
        let mut f = Fancontrol::new(FancontrolConfig::default());
        assert_eq!(f.step(&obs(Some(50.5)), 1000), Duty::from_pwm_u8(53));
        // Exactly MINTEMP is still "at or below": MINPWM.
        let mut f = Fancontrol::new(FancontrolConfig::default());
        assert_eq!(f.step(&obs(Some(50.0)), 1000), Duty::from_pwm_u8(51));
    }

    #[test]
    fn fancontrol_kicks_a_stopped_fan_at_minstart_for_one_second() {
        let cfg = FancontrolConfig {
            min_pwm: 0,
            min_start: 100,
            ..FancontrolConfig::default()
        };
        let mut f = Fancontrol::new(cfg);
        // Cold: MINPWM = 0 stops the fan.
        assert_eq!(f.step(&obs(Some(40.0)), 1000), Duty::from_pwm_u8(0));
        for _ in 0..9 {
            f.step(&obs(Some(70.0)), 1000);
        }
        // Warm, on the curve, fan at 0: MINSTART for 1 s, then the curve's 153.
        assert_eq!(f.step(&obs(Some(70.0)), 1000), Duty::from_pwm_u8(100));
        assert_eq!(f.step(&obs(Some(70.0)), 1000), Duty::from_pwm_u8(153));
        // A running fan is not kicked again.
        for _ in 0..8 {
            f.step(&obs(Some(72.0)), 1000);
        }
        assert_eq!(f.step(&obs(Some(72.0)), 1000), Duty::from_pwm_u8(163));
    }

    #[test]
    fn phosphor_integral_grows_with_error_times_period() {
        let mut cfg = PhosphorPidConfig::daytonax(80.0);
        cfg.slew_neg = 0.0;
        cfg.neg_hysteresis = 0.0;
        cfg.out_min = 0.0;
        cfg.integral_min = 0.0;
        cfg.min_thermal_output_pct = 0.0;
        let mut pid = PhosphorPid::new("p", cfg);
        // 2 °C too hot: e = −2; P = −0.15 × −2 = 0.3 %; I += −1.0 × −2 × 1 s = 2 % per step.
        assert_eq!(
            pid.step(&obs(Some(82.0)), 1000),
            Duty::from_per_mille_clamped(23)
        );
        assert_eq!(
            pid.step(&obs(Some(82.0)), 1000),
            Duty::from_per_mille_clamped(43)
        );
        // The fixed Ts: a 5 s gap between calls integrates like 1 s.
        assert_eq!(
            pid.step(&obs(Some(82.0)), 5000),
            Duty::from_per_mille_clamped(63)
        );
    }

    #[test]
    fn phosphor_slew_limits_falls_and_hysteresis_holds_the_input() {
        let mut pid = PhosphorPid::new("p", PhosphorPidConfig::daytonax(80.0));
        let hot = pid.step(&obs(Some(95.0)), 1000);
        // Cooling down by 3 °C is inside the 5 °C negative hysteresis: input held at 95.
        let held = pid.step(&obs(Some(92.0)), 1000);
        assert!(held >= hot, "{hot} → {held}");
        // A big drop is taken, but the output falls at most 1 %/s.
        let fell = pid.step(&obs(Some(60.0)), 1000);
        assert_eq!(fell.per_mille() + 10, held.per_mille());
        assert_eq!(pid.step(&obs(None), 1000), Duty::FULL);
        assert!(pid.in_failsafe());
    }

    #[test]
    fn fixed_is_fixed() {
        let mut f = FixedDuty::full();
        assert_eq!(f.step(&obs(None), 1000), Duty::FULL);
        assert!(!f.in_failsafe());
    }
}
