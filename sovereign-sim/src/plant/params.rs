//! Every parameter of the reference plant, in one documented place, in SI units.
//!
//! The nominal values are THERMAL.md §8.2 (a 2U, 1-socket EPYC 9754-class server at
//! 360 W with five 80 mm fans). Where the plant needs a number §8 does not give (the split
//! of the die into 8 CCDs + IO die, noise amplitudes, the integration step), the field
//! says so and why. [`PlantParams::validate`] rejects unphysical values with a
//! [`ParamError`] naming the field.

use core::fmt;

/// Number of CCD dies on the socket (REFERENCE-BOARD.md: EPYC 9754-class, 8 CCDs).
pub const CCD_COUNT: usize = 8;
/// Number of DIMM slots (REFERENCE-BOARD.md: 12 DDR5 RDIMMs, A1..L1).
pub const DIMM_COUNT: usize = 12;
/// Number of VRM rails: VDDCR_CPU, VDDCR_SOC, VDDIO_MEM (THERMAL.md §5).
pub const VRM_COUNT: usize = 3;
/// Number of fans (REFERENCE-BOARD.md: 5 fans on one EMC2305).
pub const FAN_COUNT: usize = 5;

/// All parameters of the thermal plant. Temperatures in °C, temperature differences in
/// K, powers in W, heat capacities in J/K, thermal resistances in K/W, times in s.
///
/// Airflow is expressed as `u` = mean fan speed / maximum fan speed (THERMAL.md §8.1).
/// Every convective resistance follows the power law `R(u) = R100 · u^(−n)`
/// (THERMAL.md §2.3: h ∝ V^n; n = 0.5 laminar … 0.8 turbulent, the measured Intel heatsink
/// curves fall like CFM^−0.94…−1.05 because the air heats up along the fins), evaluated
/// with `u` floored at [`PlantParams::airflow_floor`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlantParams {
    // ---- CPU ----
    /// Package power at full inference load (TDP), W. §8.2: 360 W.
    pub cpu_full_w: f64,
    /// Package power at idle, W. §8.2: 80 W.
    pub cpu_idle_w: f64,
    /// Tctl at which the CPU caps its own power so Tctl stops rising, °C. §8.2: 95.
    pub t_throttle_c: f64,
    /// Whether the CPU throttles at all (§8.1 marks throttling optional; off models a
    /// part whose HTC is disabled, so only THERMTRIP protects it).
    pub throttle_enabled: bool,
    /// Tctl at which THERMTRIP latches and the board removes CPU power, °C. §8.2: 105.
    pub t_trip_c: f64,
    /// Heat capacity of the die + IHS lump, J/K. §8.2: 40 J/K. Split between the CCDs
    /// and the IO die by [`Self::iod_capacity_fraction`].
    pub c_die_j_per_k: f64,
    /// Die hot spot → heatsink base resistance, K/W. §8.2: 0.05 K/W. The hottest CCD's
    /// own resistance is derived from it so that its steady rise over the sink is exactly
    /// `P_cpu · R_ds`, which keeps the §8.3 steady states with the split die.
    pub r_ds_k_per_w: f64,
    /// Relative die → sink resistance of each CCD (1.0 = the §8 `R_ds` hot spot). Not in
    /// §8: a small spread (L, like the 2–5 K Tccd spread of real parts) so the per-CCD
    /// readings differ; the hottest must be 1.0 for Tctl to match §8.3.
    pub ccd_r_scale: [f64; CCD_COUNT],
    /// IO-die → sink resistance as a multiple of `R_ds`. Not in §8 (L): 3.0 gives
    /// 0.15 K/W, so the IO die (25 % of package power) runs ≈ 4.5 K cooler than the
    /// hottest CCD at TDP and never becomes the Tctl point at nominal settings.
    pub iod_r_over_r_ds: f64,
    /// Share of `c_die_j_per_k` in the IO die. Not in §8 (L): 0.25 → 10 J/K, the CCDs
    /// share the rest (3.75 J/K each), which keeps each CCD's own time constant equal to
    /// §8.3's τ_die = C_die · R_ds = 2 s.
    pub iod_capacity_fraction: f64,
    /// Heatsink heat capacity, J/K. §8.2: 700 J/K.
    pub c_sink_j_per_k: f64,
    /// Sink → local air resistance at 100 % airflow, K/W. §8.2: 0.07 K/W.
    pub r_sa100_k_per_w: f64,
    /// Airflow exponent of the sink resistance. §8.2: 0.9.
    pub n_sink: f64,
    /// Air preheat from inlet to the CPU/DIMMs/VRMs, K. §8.2: 2 K.
    pub preheat_k: f64,

    // ---- Fans ----
    /// Fan speed at 100 % duty, RPM. §8.2: 10 500 (San Ace 80).
    pub fan_rpm_max: f64,
    /// Fan speed at 0 % duty as a fraction of the maximum (the law's offset). §8.2: 0.2.
    pub fan_r0: f64,
    /// Minimum duty, as a fraction: a stopped fan does not start below it, a running fan
    /// below it holds `r0 · RPM_max` (§8.1). §8.2: 0.20.
    pub fan_d_min: f64,
    /// First-order lag of fan speed behind its command, s. §8.2: 1.0 s.
    pub fan_tau_s: f64,
    /// Whether the fan stops at exactly 0 % duty (Intel type B/C) rather than holding its
    /// minimum speed (type A). §8.1; the reference fans stop (true).
    pub fan_stops_at_zero: bool,
    /// Fan electrical power floor (electronics), W. §8.2: `P_fan(u) = 0.5 + 13.9·u³`.
    pub fan_floor_w: f64,
    /// Fan electrical power cubic coefficient, W. §8.2: 13.9 W.
    pub fan_cubic_w: f64,
    /// In-system airflow through the chassis with all fans at full speed, CFM. §8.3:
    /// ≈ 275 CFM (5 × 100 CFM free air × ≈ 55 % in-system).
    pub system_cfm_full: f64,
    /// Lowest airflow fraction used in the resistance law and the exhaust equation. Not in
    /// §8 (L): 0.05 stands for natural convection through a chassis with stopped fans; it
    /// keeps `u^(−n)` finite.
    pub airflow_floor: f64,

    // ---- DIMMs ----
    /// Per-DIMM power at full load, W. §8.2: 10 W.
    pub dimm_full_w: f64,
    /// Per-DIMM power at idle, W. §8.2: 3 W.
    pub dimm_idle_w: f64,
    /// DIMM heat capacity, J/K. §8.2: 25 J/K.
    pub c_dimm_j_per_k: f64,
    /// DIMM → local air resistance at 100 % airflow, K/W. §8.2: 3.0 K/W.
    pub r_dimm100_k_per_w: f64,
    /// Airflow exponent of DIMM (and VRM) resistances. §8.2: n_m = 0.8.
    pub n_dimm: f64,
    /// Extra preheat per slot A1..L1, K (slots downstream of others see warmer air). Not
    /// in §8: zero by default so the §8.3 DIMM arithmetic holds for every slot.
    pub dimm_extra_preheat_k: [f64; DIMM_COUNT],

    // ---- VRMs (VDDCR_CPU, VDDCR_SOC, VDDIO_MEM) ----
    /// Share of package power delivered by each rail. §8.2: 75 / 20 / 5 %. The first
    /// share is also the cores' share of package power (what RAPL's core counter sees);
    /// the rest heats the IO die.
    pub vrm_share: [f64; VRM_COUNT],
    /// Converter efficiency at full load. §8.2: 0.90.
    pub vrm_eff_full: f64,
    /// Converter efficiency extrapolated to zero load; efficiency is linear in the load
    /// fraction between this and `vrm_eff_full`. THERMAL.md §5: "~0.80 at light load".
    pub vrm_eff_light: f64,
    /// VRM heat capacities, J/K. §8.2: 50 / 30 / 20.
    pub c_vrm_j_per_k: [f64; VRM_COUNT],
    /// VRM → local air resistances at 100 % airflow, K/W. §8.2: 1.0 / 2.5 / 5.
    pub r_vrm100_k_per_w: [f64; VRM_COUNT],
    /// VRM input voltage, V (12 V board rail).
    pub vrm_vin_v: f64,
    /// VRM output voltages, V. Not in §8 (L, inside the windows of THERMAL.md §5:
    /// VDDCR_CPU 0.345–1.375 V, SOC 0.6–1.2 V, VDDIO 1.14–1.28 V).
    pub vrm_vout_v: [f64; VRM_COUNT],

    // ---- Environment ----
    /// Inlet air temperature at start, °C. §8.2: 25 °C.
    pub inlet_c: f64,
    /// Power of everything else in the chassis that heats the exhaust air (NICs, drives,
    /// board), W. §8.3: "~60 (rest)".
    pub other_w: f64,
    /// Volumetric heat capacity of air, J/(m³·K). THERMAL.md §6: ρ·c_p ≈ 1186.
    pub air_rho_cp: f64,

    // ---- Noise (seeded; not in §8) ----
    /// Peak amplitude of the CPU power jitter, W (triangular, mean 0). A load never
    /// draws a perfectly flat power; 2 W is ≈ 0.5 % of TDP.
    pub cpu_power_jitter_w: f64,
    /// Peak relative jitter of each fan's speed command (triangular, mean 0): 0.003
    /// is the ±30 RPM tach wander of a 10 000 RPM fan.
    pub fan_rpm_jitter: f64,
    /// How often new noise values are drawn, s (on the simulated clock, independent of
    /// the integration step); at least `max_substep_s`.
    pub noise_interval_s: f64,

    // ---- Integration ----
    /// Largest internal RK4 sub-step, s. `Plant::step(dt)` splits `dt` into equal
    /// sub-steps no longer than this. Validated against the plant's fastest time constant.
    pub max_substep_s: f64,
}

impl PlantParams {
    /// The reference plant: THERMAL.md §8.2 nominal values (see each field).
    pub fn reference() -> Self {
        Self {
            cpu_full_w: 360.0,
            cpu_idle_w: 80.0,
            t_throttle_c: 95.0,
            throttle_enabled: true,
            t_trip_c: 105.0,
            c_die_j_per_k: 40.0,
            r_ds_k_per_w: 0.05,
            ccd_r_scale: [0.95, 0.98, 1.0, 0.97, 0.96, 0.99, 0.94, 0.97],
            iod_r_over_r_ds: 3.0,
            iod_capacity_fraction: 0.25,
            c_sink_j_per_k: 700.0,
            r_sa100_k_per_w: 0.07,
            n_sink: 0.9,
            preheat_k: 2.0,
            fan_rpm_max: 10_500.0,
            fan_r0: 0.2,
            fan_d_min: 0.20,
            fan_tau_s: 1.0,
            fan_stops_at_zero: true,
            fan_floor_w: 0.5,
            fan_cubic_w: 13.9,
            system_cfm_full: 275.0,
            airflow_floor: 0.05,
            dimm_full_w: 10.0,
            dimm_idle_w: 3.0,
            c_dimm_j_per_k: 25.0,
            r_dimm100_k_per_w: 3.0,
            n_dimm: 0.8,
            dimm_extra_preheat_k: [0.0; DIMM_COUNT],
            vrm_share: [0.75, 0.20, 0.05],
            vrm_eff_full: 0.90,
            vrm_eff_light: 0.80,
            c_vrm_j_per_k: [50.0, 30.0, 20.0],
            r_vrm100_k_per_w: [1.0, 2.5, 5.0],
            vrm_vin_v: 12.0,
            vrm_vout_v: [1.10, 1.05, 1.20],
            inlet_c: 25.0,
            other_w: 60.0,
            air_rho_cp: 1186.0,
            cpu_power_jitter_w: 2.0,
            fan_rpm_jitter: 0.003,
            noise_interval_s: 0.1,
            max_substep_s: 0.1,
        }
    }

    /// The reference plant without noise (for tests that compare with arithmetic).
    pub fn reference_noiseless() -> Self {
        Self {
            cpu_power_jitter_w: 0.0,
            fan_rpm_jitter: 0.0,
            ..Self::reference()
        }
    }

    /// Die → sink resistance of CCD `i`, K/W: derived so that the hottest CCD
    /// (scale 1.0) rises `P_cpu · R_ds` over the sink (§8.3) while carrying only its
    /// 1/8 of the cores' share of package power.
    pub(crate) fn r_ccd_k_per_w(&self, scale: f64) -> f64 {
        self.r_ds_k_per_w * scale * CCD_COUNT as f64 / self.vrm_share[0]
    }

    /// Heat capacity of one CCD, J/K.
    pub(crate) fn c_ccd_j_per_k(&self) -> f64 {
        self.c_die_j_per_k * (1.0 - self.iod_capacity_fraction) / CCD_COUNT as f64
    }

    /// IO die → sink resistance, K/W.
    pub(crate) fn r_iod_k_per_w(&self) -> f64 {
        self.r_ds_k_per_w * self.iod_r_over_r_ds
    }

    /// IO die heat capacity, J/K.
    pub(crate) fn c_iod_j_per_k(&self) -> f64 {
        self.c_die_j_per_k * self.iod_capacity_fraction
    }

    /// The shortest time constant of any state of the plant at full airflow, s, with the
    /// state it belongs to. Explicit RK4 is stable for |h·λ| < 2.78; the plant demands
    /// `max_substep_s ≤ τ_min`, which also keeps the per-step error below 1e-3.
    pub fn fastest_time_constant_s(&self) -> (f64, &'static str) {
        let mut best = (self.fan_tau_s, "fan_tau_s");
        let mut consider = |tau: f64, what: &'static str| {
            if tau < best.0 {
                best = (tau, what);
            }
        };
        let mut g_sink = 1.0 / self.r_sa100_k_per_w;
        for s in self.ccd_r_scale {
            let r = self.r_ccd_k_per_w(s);
            consider(
                self.c_ccd_j_per_k() * r,
                "CCD die (c_die_j_per_k, r_ds_k_per_w)",
            );
            g_sink += 1.0 / r;
        }
        consider(
            self.c_iod_j_per_k() * self.r_iod_k_per_w(),
            "IO die (iod_capacity_fraction, iod_r_over_r_ds)",
        );
        g_sink += 1.0 / self.r_iod_k_per_w();
        consider(self.c_sink_j_per_k / g_sink, "heatsink (c_sink_j_per_k)");
        consider(
            self.c_dimm_j_per_k * self.r_dimm100_k_per_w,
            "DIMM (c_dimm_j_per_k)",
        );
        for (c, r) in self.c_vrm_j_per_k.iter().zip(self.r_vrm100_k_per_w) {
            consider(c * r, "VRM (c_vrm_j_per_k)");
        }
        best
    }

    /// Checks that every parameter is physical: capacities and resistances positive and
    /// finite, fractions in range, shares summing to 1, a sub-step short enough for a
    /// stable integration.
    pub fn validate(&self) -> Result<(), ParamError> {
        use Rule::*;
        check("cpu_full_w", self.cpu_full_w, NonNegative)?;
        check("cpu_idle_w", self.cpu_idle_w, NonNegative)?;
        check("t_throttle_c", self.t_throttle_c, Finite)?;
        check("t_trip_c", self.t_trip_c, Finite)?;
        if self.t_trip_c <= self.t_throttle_c {
            return Err(ParamError::new(
                "t_trip_c",
                self.t_trip_c,
                "must be above t_throttle_c: THERMTRIP is the last resort after throttling",
            ));
        }
        check("c_die_j_per_k", self.c_die_j_per_k, Positive)?;
        check("r_ds_k_per_w", self.r_ds_k_per_w, Positive)?;
        for s in self.ccd_r_scale {
            check("ccd_r_scale", s, Positive)?;
        }
        check("iod_r_over_r_ds", self.iod_r_over_r_ds, Positive)?;
        check(
            "iod_capacity_fraction",
            self.iod_capacity_fraction,
            OpenUnit,
        )?;
        check("c_sink_j_per_k", self.c_sink_j_per_k, Positive)?;
        check("r_sa100_k_per_w", self.r_sa100_k_per_w, Positive)?;
        check("n_sink", self.n_sink, Exponent)?;
        check("preheat_k", self.preheat_k, NonNegative)?;
        check("fan_rpm_max", self.fan_rpm_max, Positive)?;
        check("fan_r0", self.fan_r0, HalfOpenUnit)?;
        check("fan_d_min", self.fan_d_min, HalfOpenUnit)?;
        check("fan_tau_s", self.fan_tau_s, Positive)?;
        check("fan_floor_w", self.fan_floor_w, NonNegative)?;
        check("fan_cubic_w", self.fan_cubic_w, NonNegative)?;
        check("system_cfm_full", self.system_cfm_full, Positive)?;
        check("airflow_floor", self.airflow_floor, OpenUnit)?;
        check("dimm_full_w", self.dimm_full_w, NonNegative)?;
        check("dimm_idle_w", self.dimm_idle_w, NonNegative)?;
        check("c_dimm_j_per_k", self.c_dimm_j_per_k, Positive)?;
        check("r_dimm100_k_per_w", self.r_dimm100_k_per_w, Positive)?;
        check("n_dimm", self.n_dimm, Exponent)?;
        for k in self.dimm_extra_preheat_k {
            check("dimm_extra_preheat_k", k, NonNegative)?;
        }
        for s in self.vrm_share {
            check("vrm_share", s, HalfOpenUnitClosed)?;
        }
        let share_sum: f64 = self.vrm_share.iter().sum();
        if (share_sum - 1.0).abs() > 1e-9 {
            return Err(ParamError::new(
                "vrm_share",
                share_sum,
                "the rail shares of package power must add up to 1",
            ));
        }
        if self.vrm_share[0] <= 0.0 {
            return Err(ParamError::new(
                "vrm_share",
                self.vrm_share[0],
                "VDDCR_CPU (the cores) must carry some of the package power",
            ));
        }
        check("vrm_eff_full", self.vrm_eff_full, OpenUnitClosed)?;
        check("vrm_eff_light", self.vrm_eff_light, OpenUnitClosed)?;
        for c in self.c_vrm_j_per_k {
            check("c_vrm_j_per_k", c, Positive)?;
        }
        for r in self.r_vrm100_k_per_w {
            check("r_vrm100_k_per_w", r, Positive)?;
        }
        check("vrm_vin_v", self.vrm_vin_v, Positive)?;
        for v in self.vrm_vout_v {
            check("vrm_vout_v", v, Positive)?;
        }
        check("inlet_c", self.inlet_c, Finite)?;
        check("other_w", self.other_w, NonNegative)?;
        check("air_rho_cp", self.air_rho_cp, Positive)?;
        check("cpu_power_jitter_w", self.cpu_power_jitter_w, NonNegative)?;
        check("fan_rpm_jitter", self.fan_rpm_jitter, HalfOpenUnit)?;
        check("noise_interval_s", self.noise_interval_s, Positive)?;
        check("max_substep_s", self.max_substep_s, Positive)?;
        let (tau, what) = self.fastest_time_constant_s();
        if self.max_substep_s > tau {
            return Err(ParamError {
                field: "max_substep_s",
                value: self.max_substep_s,
                reason: ParamReason::UnstableStep {
                    tau_s: tau,
                    node: what,
                },
            });
        }
        if self.noise_interval_s < self.max_substep_s {
            // Inputs, noise included, are held over a sub-step, so a finer noise grid
            // only costs draws; below the clock's resolution `Plant::step` never ends.
            return Err(ParamError::new(
                "noise_interval_s",
                self.noise_interval_s,
                "must be at least max_substep_s: noise is held constant over a sub-step",
            ));
        }
        Ok(())
    }
}

impl Default for PlantParams {
    fn default() -> Self {
        Self::reference()
    }
}

/// What a parameter must satisfy.
#[derive(Clone, Copy)]
enum Rule {
    Finite,
    Positive,
    NonNegative,
    /// In (0, 1).
    OpenUnit,
    /// In [0, 1).
    HalfOpenUnit,
    /// In [0, 1].
    HalfOpenUnitClosed,
    /// In (0, 1].
    OpenUnitClosed,
    /// A convective exponent: in (0, 2].
    Exponent,
}

fn check(field: &'static str, v: f64, rule: Rule) -> Result<(), ParamError> {
    let (ok, reason) = match rule {
        Rule::Finite => (v.is_finite(), "must be a finite number"),
        Rule::Positive => (v.is_finite() && v > 0.0, "must be positive and finite"),
        Rule::NonNegative => (v.is_finite() && v >= 0.0, "must be zero or positive"),
        Rule::OpenUnit => (
            v > 0.0 && v < 1.0,
            "must be a fraction strictly between 0 and 1",
        ),
        Rule::HalfOpenUnit => ((0.0..1.0).contains(&v), "must be a fraction in [0, 1)"),
        Rule::HalfOpenUnitClosed => ((0.0..=1.0).contains(&v), "must be a fraction in [0, 1]"),
        Rule::OpenUnitClosed => (v > 0.0 && v <= 1.0, "must be a fraction in (0, 1]"),
        Rule::Exponent => (
            v > 0.0 && v <= 2.0,
            "must be an airflow exponent in (0, 2] (THERMAL.md §2.3: 0.5–1.0)",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(ParamError::new(field, v, reason))
    }
}

/// A plant parameter that is not physical, with the field's name and what it must be.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// The `PlantParams` field at fault.
    pub field: &'static str,
    /// Its value.
    pub value: f64,
    /// Why it was rejected.
    pub reason: ParamReason,
}

/// Why a parameter was rejected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParamReason {
    /// The value breaks a rule stated in the message.
    Invalid(&'static str),
    /// The integration sub-step is longer than the fastest time constant of the plant.
    UnstableStep {
        /// The fastest time constant, s.
        tau_s: f64,
        /// Which state it belongs to.
        node: &'static str,
    },
}

impl ParamError {
    fn new(field: &'static str, value: f64, reason: &'static str) -> Self {
        Self {
            field,
            value,
            reason: ParamReason::Invalid(reason),
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            ParamReason::Invalid(why) => {
                write!(
                    f,
                    "plant parameter `{}` = {}: {why}",
                    self.field, self.value
                )
            }
            ParamReason::UnstableStep { tau_s, node } => write!(
                f,
                "plant parameter `{}` = {} s is too large for a stable integration: the \
                 fastest time constant is {tau_s:.3} s ({node}); set it to {tau_s:.3} s or less",
                self.field, self.value
            ),
        }
    }
}

impl std::error::Error for ParamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_is_valid() {
        assert_eq!(PlantParams::reference().validate(), Ok(()));
        assert_eq!(PlantParams::reference_noiseless().validate(), Ok(()));
    }

    #[test]
    fn negative_capacity_is_rejected_by_name() {
        let p = PlantParams {
            c_sink_j_per_k: -700.0,
            ..PlantParams::reference()
        };
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "c_sink_j_per_k");
        assert!(e.to_string().contains("c_sink_j_per_k"), "{e}");
    }

    #[test]
    fn zero_resistance_is_rejected_by_name() {
        let p = PlantParams {
            r_ds_k_per_w: 0.0,
            ..PlantParams::reference()
        };
        assert_eq!(p.validate().unwrap_err().field, "r_ds_k_per_w");
        let mut p = PlantParams::reference();
        p.r_vrm100_k_per_w[1] = 0.0;
        assert_eq!(p.validate().unwrap_err().field, "r_vrm100_k_per_w");
    }

    #[test]
    fn nan_and_out_of_range_fractions_are_rejected() {
        let p = PlantParams {
            fan_r0: f64::NAN,
            ..PlantParams::reference()
        };
        assert_eq!(p.validate().unwrap_err().field, "fan_r0");
        let p = PlantParams {
            vrm_eff_full: 1.2,
            ..PlantParams::reference()
        };
        assert_eq!(p.validate().unwrap_err().field, "vrm_eff_full");
        let p = PlantParams {
            vrm_share: [0.7, 0.2, 0.05],
            ..PlantParams::reference()
        };
        assert_eq!(p.validate().unwrap_err().field, "vrm_share");
        let p = PlantParams {
            t_trip_c: 90.0,
            ..PlantParams::reference()
        };
        assert_eq!(p.validate().unwrap_err().field, "t_trip_c");
    }

    #[test]
    fn a_substep_longer_than_the_fastest_time_constant_is_rejected() {
        let p = PlantParams {
            max_substep_s: 5.0,
            ..PlantParams::reference()
        };
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "max_substep_s");
        // The fans (τ = 1 s) are the fastest state of the reference plant.
        assert!(
            matches!(e.reason, ParamReason::UnstableStep { tau_s, .. } if (tau_s - 1.0).abs() < 1e-12)
        );
        assert!(e.to_string().contains("1.000 s or less"), "{e}");
    }

    #[test]
    fn a_noise_interval_shorter_than_the_substep_is_rejected() {
        // Noise is held over a sub-step anyway; a finer grid only makes `Plant::step`
        // draw (and, once the interval is below the clock's resolution, loop) forever.
        let p = PlantParams {
            noise_interval_s: 1e-15,
            ..PlantParams::reference()
        };
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "noise_interval_s");
        assert!(e.to_string().contains("max_substep_s"), "{e}");
    }

    #[test]
    fn the_split_die_keeps_the_section_8_time_constant_and_resistance() {
        let p = PlantParams::reference();
        // THERMAL.md §8.3: τ_die = C_die · R_ds = 2 s, for every CCD at scale 1.
        let tau = p.c_ccd_j_per_k() * p.r_ccd_k_per_w(1.0);
        assert!((tau - 2.0).abs() < 1e-12, "{tau}");
        // The hottest CCD carries 1/8 of 75 % of P; its rise equals P · R_ds.
        let rise_per_w = p.vrm_share[0] / CCD_COUNT as f64 * p.r_ccd_k_per_w(1.0);
        assert!((rise_per_w - p.r_ds_k_per_w).abs() < 1e-15);
    }
}
