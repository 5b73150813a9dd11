//! The thermal plant: ordinary differential equations of a 1-socket EPYC server.
//!
//! Structure (THERMAL.md §8.1), with the die split into 8 CCDs and an IO die:
//!
//! ```text
//! T_loc          = T_in + dT_pre                         local air at CPU, DIMMs, VRMs
//! u              = mean(RPM_i) / RPM_max                 airflow fraction (∝ RPM)
//! R(u)           = R100 · max(u, u_floor)^(−n)           every convective resistance
//! tau_fan dRPM_i/dt = RPM_cmd(d_i) − RPM_i               RPM_cmd = RPM_max·(r0 + (1−r0)·d), d ≥ d_min
//! C_ccd dT_k/dt  = P·s_cpu/8 − (T_k − T_sink)/R_ccd_k    k = 1..8, R_ccd = R_ds·8/s_cpu·scale_k
//! C_iod dT_io/dt = P·(1−s_cpu) − (T_io − T_sink)/R_iod
//! C_sink dT_sink/dt = Σ (T_die − T_sink)/R_die − (T_sink − T_loc)/R_sa(u)
//! C_dimm dT_j/dt = P_dimm − (T_j − T_loc)/R_dimm(u)
//! C_vrm dT_r/dt  = P_out_r·(1/η − 1) − (T_r − T_loc)/R_vrm_r(u)
//! Tctl           = max(T_ccd, T_io)                      hottest point, as k10temp reports
//! T_out          = T_in + P_total / (ρ·c_p · u · V̇_100)
//! ```
//!
//! Throttling: while Tctl ≥ T_throttle the package power is capped so that no die at or
//! above T_throttle heats further (§8.1 "clamp P_cpu so dT_die/dt ≤ 0"). At T_trip
//! THERMTRIP latches and the CPU draws nothing.
//!
//! Integration: classic RK4 with equal sub-steps no longer than
//! [`PlantParams::max_substep_s`]; inputs (power demand, fan commands, noise) are held
//! constant over a sub-step. Noise is drawn from a seeded PCG32 on a fixed grid of
//! simulated time, so a run is a pure function of (parameters, seed, inputs, step sizes).

mod params;
mod rng;
mod workload;

pub use params::{
    CCD_COUNT, DIMM_COUNT, FAN_COUNT, ParamError, ParamReason, PlantParams, VRM_COUNT,
};
pub use workload::{PowerDemand, Workload, dimm_power_for};

use rng::Pcg32;
use sovereign_hal::units::Duty;

const I_IOD: usize = CCD_COUNT;
const I_SINK: usize = I_IOD + 1;
const I_DIMM: usize = I_SINK + 1;
const I_VRM: usize = I_DIMM + DIMM_COUNT;
const I_FAN: usize = I_VRM + VRM_COUNT;
const N: usize = I_FAN + FAN_COUNT;

type State = [f64; N];

/// CFM → m³/s (THERMAL.md §6: 1 CFM = 4.72·10⁻⁴ m³/s).
const M3S_PER_CFM: f64 = 4.719_474e-4;

/// Inputs held constant over one sub-step.
#[derive(Debug, Clone, Copy)]
struct Inputs {
    cpu_demand_w: f64,
    dimm_w: f64,
    t_loc_c: f64,
    fan_cmd_rpm: [f64; FAN_COUNT],
    tripped: bool,
}

/// What the derivative function also computes.
#[derive(Debug, Clone, Copy, Default)]
struct Aux {
    package_w: f64,
    throttling: bool,
}

/// The simulated server's thermal state. Create with [`Plant::new`], drive with the
/// `set_*` methods, advance with [`Plant::step`], read with [`Plant::snapshot`].
#[derive(Debug, Clone)]
pub struct Plant {
    params: PlantParams,
    x: State,
    time_s: f64,
    duty: [Duty; FAN_COUNT],
    stalled: [bool; FAN_COUNT],
    cpu_demand_w: f64,
    dimm_w: f64,
    inlet_c: f64,
    rng: Pcg32,
    next_noise_s: f64,
    cpu_jitter_w: f64,
    fan_jitter: [f64; FAN_COUNT],
    aux: Aux,
    tripped: bool,
    package_j: f64,
    core_j: f64,
}

/// Everything the plant holds at one instant, as the simulated chips read it.
#[derive(Clone, Debug)]
pub struct PlantSnapshot {
    /// Simulated time since the plant was created, s.
    pub time_s: f64,
    /// Hottest die point, °C, as k10temp would report it (before 0.125 °C quantisation).
    pub tctl_c: f64,
    /// Per-CCD die temperatures, °C.
    pub tccd_c: [f64; CCD_COUNT],
    /// IO die temperature, °C.
    pub iod_c: f64,
    /// Heatsink base temperature, °C.
    pub sink_c: f64,
    /// Real package power after throttling, W (what RAPL package energy integrates).
    pub cpu_package_w: f64,
    /// The cores' share of package power, W (what the RAPL core counter integrates).
    pub cpu_core_w: f64,
    /// Package energy since creation, J (the integral of `cpu_package_w`).
    pub cpu_package_j: f64,
    /// Core energy since creation, J.
    pub cpu_core_j: f64,
    /// DIMM temperatures, slots A1..L1, °C.
    pub dimm_c: [f64; DIMM_COUNT],
    /// DIMM powers, W.
    pub dimm_w: [f64; DIMM_COUNT],
    /// VRM temperatures (VDDCR_CPU, VDDCR_SOC, VDDIO_MEM), °C.
    pub vrm_c: [f64; VRM_COUNT],
    /// VRM input voltages, V.
    pub vrm_vin_v: [f64; VRM_COUNT],
    /// VRM output voltages, V.
    pub vrm_vout_v: [f64; VRM_COUNT],
    /// VRM output currents, A.
    pub vrm_iout_a: [f64; VRM_COUNT],
    /// VRM output powers, W.
    pub vrm_pout_w: [f64; VRM_COUNT],
    /// VRM input powers, W (output / efficiency).
    pub vrm_pin_w: [f64; VRM_COUNT],
    /// Fan drive as last commanded.
    pub fan_duty: [Duty; FAN_COUNT],
    /// Fan speeds, RPM (0 for a stalled or stopped fan).
    pub fan_rpm: [f64; FAN_COUNT],
    /// Fan electrical powers, W.
    pub fan_w: [f64; FAN_COUNT],
    /// Whether each fan's rotor is held stuck by fault injection.
    pub fan_stalled: [bool; FAN_COUNT],
    /// Inlet air temperature (inlet TMP75 at 0x48), °C.
    pub inlet_c: f64,
    /// Exhaust air temperature (outlet TMP75 at 0x49), °C.
    pub outlet_c: f64,
    /// Whether the CPU is capping its power because Tctl reached T_throttle.
    pub throttling: bool,
    /// Whether THERMTRIP has latched (Tctl reached T_trip; the CPU draws no power).
    pub thermtrip: bool,
}

impl Plant {
    /// A plant in thermal equilibrium at idle power with all fans at 100 % (the state a
    /// server is in when its BMC hands over), its noise fixed by `seed`.
    pub fn new(params: PlantParams, seed: u64) -> Result<Self, ParamError> {
        params.validate()?;
        let inlet_c = params.inlet_c;
        let cpu_demand_w = params.cpu_idle_w;
        let dimm_w = params.dimm_idle_w;
        let mut plant = Self {
            x: [0.0; N],
            time_s: 0.0,
            duty: [Duty::FULL; FAN_COUNT],
            stalled: [false; FAN_COUNT],
            cpu_demand_w,
            dimm_w,
            inlet_c,
            rng: Pcg32::new(seed),
            next_noise_s: 0.0,
            cpu_jitter_w: 0.0,
            fan_jitter: [0.0; FAN_COUNT],
            aux: Aux::default(),
            tripped: false,
            package_j: 0.0,
            core_j: 0.0,
            params,
        };
        plant.x = plant.equilibrium(1.0);
        plant.aux = plant.derivative(&plant.x, &plant.inputs()).1;
        Ok(plant)
    }

    /// The parameters this plant runs on.
    pub fn params(&self) -> &PlantParams {
        &self.params
    }

    /// The steady state for the current demand with every fan at `u` (no throttling).
    fn equilibrium(&self, u: f64) -> State {
        let p = &self.params;
        let mut x = [0.0; N];
        let t_loc = self.inlet_c + p.preheat_k;
        let pkg = self.cpu_demand_w;
        let t_sink = t_loc + pkg * self.r_conv(p.r_sa100_k_per_w, p.n_sink, u);
        let p_ccd = pkg * p.vrm_share[0] / CCD_COUNT as f64;
        for (k, s) in p.ccd_r_scale.iter().enumerate() {
            x[k] = t_sink + p_ccd * p.r_ccd_k_per_w(*s);
        }
        x[I_IOD] = t_sink + pkg * (1.0 - p.vrm_share[0]) * p.r_iod_k_per_w();
        x[I_SINK] = t_sink;
        let r_dimm = self.r_conv(p.r_dimm100_k_per_w, p.n_dimm, u);
        for j in 0..DIMM_COUNT {
            x[I_DIMM + j] = t_loc + p.dimm_extra_preheat_k[j] + self.dimm_w * r_dimm;
        }
        for r in 0..VRM_COUNT {
            let loss = self.vrm_loss_w(r, pkg);
            x[I_VRM + r] = t_loc + loss * self.r_conv(p.r_vrm100_k_per_w[r], p.n_dimm, u);
        }
        for f in 0..FAN_COUNT {
            x[I_FAN + f] = p.fan_rpm_max * u;
        }
        x
    }

    /// Advance by `dt_s` seconds: RK4 in equal sub-steps ≤ `max_substep_s`. A `dt_s` that
    /// is not a positive finite number does nothing.
    pub fn step(&mut self, dt_s: f64) {
        if !(dt_s.is_finite() && dt_s > 0.0) {
            return;
        }
        let n = (dt_s / self.params.max_substep_s).ceil().max(1.0);
        // Bounded: n ≤ dt/h + 1; a caller asking for years of simulated time in one call
        // gets them, slowly. The cast saturates.
        let count = n as u64;
        let h = dt_s / n;
        for _ in 0..count {
            self.substep(h);
        }
    }

    fn substep(&mut self, h: f64) {
        self.draw_noise_if_due();
        let inp = self.inputs();
        let (k1, a1) = self.derivative(&self.x, &inp);
        let (k2, a2) = self.derivative(&axpy(&self.x, h / 2.0, &k1), &inp);
        let (k3, a3) = self.derivative(&axpy(&self.x, h / 2.0, &k2), &inp);
        let (k4, a4) = self.derivative(&axpy(&self.x, h, &k3), &inp);
        for i in 0..N {
            self.x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
        for f in 0..FAN_COUNT {
            // A rotor never turns backwards.
            self.x[I_FAN + f] = self.x[I_FAN + f].max(0.0);
        }
        let pkg = (a1.package_w + 2.0 * a2.package_w + 2.0 * a3.package_w + a4.package_w) / 6.0;
        self.package_j += pkg * h;
        self.core_j += pkg * self.params.vrm_share[0] * h;
        self.time_s += h;
        self.aux = self.derivative(&self.x, &inp).1;
        if self.tctl_c() >= self.params.t_trip_c {
            self.tripped = true;
        }
    }

    fn draw_noise_if_due(&mut self) {
        while self.time_s >= self.next_noise_s {
            self.cpu_jitter_w = self.params.cpu_power_jitter_w * self.rng.next_triangular();
            for j in &mut self.fan_jitter {
                *j = self.params.fan_rpm_jitter * self.rng.next_triangular();
            }
            self.next_noise_s += self.params.noise_interval_s;
        }
    }

    fn inputs(&self) -> Inputs {
        let p = &self.params;
        let mut fan_cmd_rpm = [0.0; FAN_COUNT];
        for (f, cmd) in fan_cmd_rpm.iter_mut().enumerate() {
            *cmd = self.fan_command_rpm(f) * (1.0 + self.fan_jitter[f]);
        }
        Inputs {
            cpu_demand_w: (self.cpu_demand_w + self.cpu_jitter_w).max(0.0),
            dimm_w: self.dimm_w,
            t_loc_c: self.inlet_c + p.preheat_k,
            fan_cmd_rpm,
            tripped: self.tripped,
        }
    }

    /// The speed fan `f` is driven towards (THERMAL.md §8.1 `RPM_cmd`, §3.2–3.3).
    fn fan_command_rpm(&self, f: usize) -> f64 {
        let p = &self.params;
        if self.stalled.get(f).copied().unwrap_or(true) {
            return 0.0;
        }
        let d = f64::from(self.duty.get(f).copied().unwrap_or(Duty::FULL).per_mille()) / 1000.0;
        let rpm = self.x.get(I_FAN + f).copied().unwrap_or(0.0);
        let floor_rpm = p.fan_rpm_max * p.fan_r0;
        if d >= p.fan_d_min {
            p.fan_rpm_max * (p.fan_r0 + (1.0 - p.fan_r0) * d)
        } else if !p.fan_stops_at_zero {
            // Intel type A (THERMAL.md §3.2): below the minimum duty, 0 % included, the
            // fan's own electronics hold (and start it at) its minimum speed.
            floor_rpm
        } else if d == 0.0 {
            0.0
        } else if rpm < 0.5 * floor_rpm {
            // Minimum start duty: a stopped rotor does not break away below d_min.
            0.0
        } else {
            floor_rpm
        }
    }

    /// `R100 · max(u, u_floor)^(−n)`: the convective law of THERMAL.md §2.3/§8.1.
    fn r_conv(&self, r100: f64, n: f64, u: f64) -> f64 {
        r100 * u.max(self.params.airflow_floor).powf(-n)
    }

    fn airflow(&self, x: &State) -> f64 {
        let sum: f64 = x[I_FAN..I_FAN + FAN_COUNT].iter().sum();
        sum / (FAN_COUNT as f64 * self.params.fan_rpm_max)
    }

    /// Converter efficiency of rail `r` at package power `pkg`: linear in the load
    /// fraction (THERMAL.md §5: 0.90 at full load, ≈ 0.80 light).
    fn vrm_efficiency(&self, r: usize, pkg: f64) -> f64 {
        let p = &self.params;
        let share = p.vrm_share.get(r).copied().unwrap_or(0.0);
        let full = p.cpu_full_w * share;
        let x = if full > 0.0 {
            (pkg * share / full).clamp(0.0, 1.0)
        } else {
            1.0
        };
        p.vrm_eff_light + (p.vrm_eff_full - p.vrm_eff_light) * x
    }

    /// Conversion loss of rail `r`, W: `P_out · (1/η − 1)` (THERMAL.md §5).
    fn vrm_loss_w(&self, r: usize, pkg: f64) -> f64 {
        let share = self.params.vrm_share.get(r).copied().unwrap_or(0.0);
        pkg * share * (1.0 / self.vrm_efficiency(r, pkg) - 1.0)
    }

    fn derivative(&self, x: &State, inp: &Inputs) -> (State, Aux) {
        let p = &self.params;
        let mut dx = [0.0; N];
        let u = self.airflow(x);
        let s_cpu = p.vrm_share[0];
        let w_ccd = s_cpu / CCD_COUNT as f64;
        let w_iod = 1.0 - s_cpu;
        let t_sink = x[I_SINK];

        // Throttle: cap package power so that no die at or above T_throttle heats up.
        let mut package_w = if inp.tripped { 0.0 } else { inp.cpu_demand_w };
        let mut throttling = false;
        let mut cap = |t_die: f64, r: f64, w: f64| {
            if p.throttle_enabled && t_die >= p.t_throttle_c && w > 0.0 {
                let limit = ((t_die - t_sink) / (r * w)).max(0.0);
                if limit < package_w {
                    package_w = limit;
                    throttling = true;
                }
            }
        };
        for (k, s) in p.ccd_r_scale.iter().enumerate() {
            cap(x[k], p.r_ccd_k_per_w(*s), w_ccd);
        }
        cap(x[I_IOD], p.r_iod_k_per_w(), w_iod);

        let c_ccd = p.c_ccd_j_per_k();
        let mut into_sink = 0.0;
        for (k, s) in p.ccd_r_scale.iter().enumerate() {
            let q = (x[k] - t_sink) / p.r_ccd_k_per_w(*s);
            dx[k] = (package_w * w_ccd - q) / c_ccd;
            into_sink += q;
        }
        let q_iod = (x[I_IOD] - t_sink) / p.r_iod_k_per_w();
        dx[I_IOD] = (package_w * w_iod - q_iod) / p.c_iod_j_per_k();
        into_sink += q_iod;
        let r_sa = self.r_conv(p.r_sa100_k_per_w, p.n_sink, u);
        dx[I_SINK] = (into_sink - (t_sink - inp.t_loc_c) / r_sa) / p.c_sink_j_per_k;

        let r_mem = self.r_conv(1.0, p.n_dimm, u);
        for j in 0..DIMM_COUNT {
            let t_air = inp.t_loc_c + p.dimm_extra_preheat_k[j];
            let q = (x[I_DIMM + j] - t_air) / (p.r_dimm100_k_per_w * r_mem);
            dx[I_DIMM + j] = (inp.dimm_w - q) / p.c_dimm_j_per_k;
        }
        for r in 0..VRM_COUNT {
            let loss = self.vrm_loss_w(r, package_w);
            let q = (x[I_VRM + r] - inp.t_loc_c) / (p.r_vrm100_k_per_w[r] * r_mem);
            dx[I_VRM + r] = (loss - q) / p.c_vrm_j_per_k[r];
        }
        for f in 0..FAN_COUNT {
            dx[I_FAN + f] = (inp.fan_cmd_rpm[f] - x[I_FAN + f]) / p.fan_tau_s;
        }
        (
            dx,
            Aux {
                package_w,
                throttling,
            },
        )
    }

    fn tctl_c(&self) -> f64 {
        self.x[..=I_IOD]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// Set the drive of fan `fan` (0-based); an out-of-range fan is ignored.
    pub fn set_fan_duty(&mut self, fan: usize, duty: Duty) {
        if let Some(d) = self.duty.get_mut(fan) {
            *d = duty;
        }
    }

    /// Fault injection: hold fan `fan`'s rotor stuck (it stops within a few τ_fan and
    /// moves no air) or release it. An out-of-range fan is ignored.
    pub fn set_fan_stalled(&mut self, fan: usize, stalled: bool) {
        if let Some(s) = self.stalled.get_mut(fan) {
            *s = stalled;
        }
    }

    /// Workload demand for the CPU package, W; throttling may deliver less. Negative or
    /// non-finite values are taken as 0.
    pub fn set_cpu_power_w(&mut self, watts: f64) {
        self.cpu_demand_w = if watts.is_finite() {
            watts.max(0.0)
        } else {
            0.0
        };
    }

    /// Power of every DIMM, W. Negative or non-finite values are taken as 0.
    pub fn set_dimm_power_w(&mut self, watts: f64) {
        self.dimm_w = if watts.is_finite() {
            watts.max(0.0)
        } else {
            0.0
        };
    }

    /// Apply a workload's demand (CPU and DIMMs) at the plant's current time.
    pub fn apply_workload(&mut self, workload: &Workload) {
        let d = workload.demand(self.time_s, &self.params);
        self.set_cpu_power_w(d.cpu_w);
        self.set_dimm_power_w(d.dimm_w);
    }

    /// Inlet air temperature, °C. A non-finite value is ignored.
    pub fn set_inlet_c(&mut self, celsius: f64) {
        if celsius.is_finite() {
            self.inlet_c = celsius;
        }
    }

    /// Simulated time since creation, s.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// Everything the plant holds now.
    pub fn snapshot(&self) -> PlantSnapshot {
        let p = &self.params;
        let x = &self.x;
        let u = self.airflow(x);
        let pkg = self.aux.package_w;
        let mut tccd_c = [0.0; CCD_COUNT];
        tccd_c.copy_from_slice(&x[..CCD_COUNT]);
        let mut dimm_c = [0.0; DIMM_COUNT];
        dimm_c.copy_from_slice(&x[I_DIMM..I_DIMM + DIMM_COUNT]);
        let mut vrm_c = [0.0; VRM_COUNT];
        vrm_c.copy_from_slice(&x[I_VRM..I_VRM + VRM_COUNT]);
        let mut fan_rpm = [0.0; FAN_COUNT];
        fan_rpm.copy_from_slice(&x[I_FAN..I_FAN + FAN_COUNT]);
        let mut fan_w = [0.0; FAN_COUNT];
        for (w, rpm) in fan_w.iter_mut().zip(fan_rpm) {
            let r = rpm / p.fan_rpm_max;
            *w = p.fan_floor_w + p.fan_cubic_w * r * r * r;
        }
        let mut vrm_pout_w = [0.0; VRM_COUNT];
        let mut vrm_pin_w = [0.0; VRM_COUNT];
        let mut vrm_iout_a = [0.0; VRM_COUNT];
        let mut vrm_loss = 0.0;
        for r in 0..VRM_COUNT {
            vrm_pout_w[r] = pkg * p.vrm_share[r];
            vrm_pin_w[r] = vrm_pout_w[r] / self.vrm_efficiency(r, pkg);
            vrm_iout_a[r] = vrm_pout_w[r] / p.vrm_vout_v[r];
            vrm_loss += vrm_pin_w[r] - vrm_pout_w[r];
        }
        let total_w = pkg
            + self.dimm_w * DIMM_COUNT as f64
            + vrm_loss
            + fan_w.iter().sum::<f64>()
            + p.other_w;
        let flow_m3s = u.max(p.airflow_floor) * p.system_cfm_full * M3S_PER_CFM;
        PlantSnapshot {
            time_s: self.time_s,
            tctl_c: self.tctl_c(),
            tccd_c,
            iod_c: x[I_IOD],
            sink_c: x[I_SINK],
            cpu_package_w: pkg,
            cpu_core_w: pkg * p.vrm_share[0],
            cpu_package_j: self.package_j,
            cpu_core_j: self.core_j,
            dimm_c,
            dimm_w: [self.dimm_w; DIMM_COUNT],
            vrm_c,
            vrm_vin_v: [p.vrm_vin_v; VRM_COUNT],
            vrm_vout_v: p.vrm_vout_v,
            vrm_iout_a,
            vrm_pout_w,
            vrm_pin_w,
            fan_duty: self.duty,
            fan_rpm,
            fan_w,
            fan_stalled: self.stalled,
            inlet_c: self.inlet_c,
            outlet_c: self.inlet_c + total_w / (p.air_rho_cp * flow_m3s),
            throttling: self.aux.throttling,
            thermtrip: self.tripped,
        }
    }
}

/// `x + a·k`.
fn axpy(x: &State, a: f64, k: &State) -> State {
    let mut out = *x;
    for (o, d) in out.iter_mut().zip(k) {
        *o += a * d;
    }
    out
}

#[cfg(test)]
mod tests;
