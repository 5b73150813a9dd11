//! A simulated MSR file implementing [`MsrReader`]: RAPL units and energy counters that
//! integrate the plant's power and wrap at 32 bits, P-states, APERF/MPERF, TSC and (on
//! the Intel-flavoured model) the SMI counter.
//!
//! | MSR | AMD model | Intel model |
//! |---|---|---|
//! | RAPL unit | 0xC0010299 | 0x606 |
//! | package energy | 0xC001029B | 0x611 |
//! | core energy | 0xC001029A (per CPU) | 0x639 (PP0, package-wide) |
//! | P-state | 0xC0010061 limit, 0xC0010063 status, 0xC0010064.. definitions | — |
//! | APERF / MPERF / TSC | 0xE8 / 0xE7 / 0x10 | same |
//! | SMI count | — (Unsupported: HARDWARE.md §8, AMD has no such MSR) | 0x34 |
//! | temperature | — (not an MSR on AMD, HARDWARE.md §6) | 0x1A2 TjMax 100 °C, 0x19C / 0x1B1 readout |
//!
//! Facts: HARDWARE.md §7 (unit register layout: power bits 3:0, ESU bits 12:8, time
//! bits 19:16; counters 32 bits wide) and §8 (P-state fields, SMI count).
//!
//! Energy: [`SimMsr::advance`] adds `power × dt` joules, converted to counts of
//! 2^−ESU J. The fractional count is carried over, so no energy is lost however short
//! the step; the register shows the low 32 bits of the running total. The AMD core
//! counter is per core: each CPU integrates `core_w / cpus` (the sum over CPUs is the
//! cores' power).
//!
//! Unknown MSRs fail with [`ErrorKind::Unsupported`] (a #GP on real hardware), CPUs out
//! of range with [`ErrorKind::NoSuchCpu`]. Faults from a [`FaultPlan`] apply per MSR:
//! `MsrUnsupported` and `ForcedCounterWrap` (the counter jumps to just below the wrap
//! when the window opens, i.e. at the first advance that reaches it, even if the whole
//! window fits between two advances). A window that opens at 0 s, before a reader takes its first
//! sample, makes the counter *start* near the wrap, so the wrap itself is the only
//! thing the reader sees; a window opening later is also a jump in the counter.

use sovereign_hal::msr::{ErrorKind, MsrReader};

use crate::fault::{Fault, FaultPlan};

/// Most CPUs a [`SimMsr`] models (Linux's largest `NR_CPUS`); larger counts are capped.
pub const MAX_CPUS: u32 = 8192;
/// AMD RAPL unit register (HARDWARE.md §7).
pub const AMD_RAPL_POWER_UNIT: u32 = 0xC001_0299;
/// AMD per-core energy counter.
pub const AMD_CORE_ENERGY_STATUS: u32 = 0xC001_029A;
/// AMD package energy counter.
pub const AMD_PKG_ENERGY_STATUS: u32 = 0xC001_029B;
/// AMD P-state current limit (max index in bits 6:4).
pub const AMD_PSTATE_CUR_LIMIT: u32 = 0xC001_0061;
/// AMD P-state status (current index in bits 2:0).
pub const AMD_PSTATE_STATUS: u32 = 0xC001_0063;
/// First AMD P-state definition.
pub const AMD_PSTATE_DEF_BASE: u32 = 0xC001_0064;
/// Intel RAPL unit register.
pub const INTEL_RAPL_POWER_UNIT: u32 = 0x606;
/// Intel package energy counter.
pub const INTEL_PKG_ENERGY_STATUS: u32 = 0x611;
/// Intel PP0 (cores) energy counter.
pub const INTEL_PP0_ENERGY_STATUS: u32 = 0x639;
/// Time-stamp counter.
pub const IA32_TSC: u32 = 0x10;
/// Maximum-performance frequency clock count.
pub const IA32_MPERF: u32 = 0xE7;
/// Actual-performance frequency clock count.
pub const IA32_APERF: u32 = 0xE8;
/// Intel SMI counter (low 32 bits count SMIs).
pub const MSR_SMI_COUNT: u32 = 0x34;
/// Intel per-core thermal status (digital readout bits 22:16, valid bit 31).
pub const IA32_THERM_STATUS: u32 = 0x19C;
/// Intel TjMax (bits 23:16).
pub const IA32_TEMPERATURE_TARGET: u32 = 0x1A2;
/// Intel package thermal status (same layout as [`IA32_THERM_STATUS`]).
pub const IA32_PACKAGE_THERM_STATUS: u32 = 0x1B1;

/// Which vendor's MSR map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuVendor {
    /// AMD Zen (EPYC): RAPL at 0xC001029x, P-state MSRs, no SMI counter.
    Amd,
    /// Intel: RAPL at 0x6xx, SMI counter at 0x34.
    Intel,
}

/// One P-state definition, family 17h/19h encoding: MHz = 200 × FID / DID
/// (HARDWARE.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PState {
    /// Frequency ID (bits 7:0).
    pub fid: u8,
    /// Divisor ID (bits 13:8).
    pub did: u8,
}

impl PState {
    /// Frequency in MHz.
    pub fn mhz(self) -> u32 {
        (200 * u32::from(self.fid))
            .checked_div(u32::from(self.did))
            .unwrap_or(0)
    }
    fn register(self) -> u64 {
        (1 << 63) | (u64::from(self.did & 0x3F) << 8) | u64::from(self.fid)
    }
}

/// A 32-bit energy counter with a carried fraction.
#[derive(Debug, Clone, Copy, Default)]
struct EnergyCounter {
    counts: u64,
    fraction: f64,
}

impl EnergyCounter {
    fn add_joules(&mut self, joules: f64, counts_per_joule: f64) {
        if !(joules.is_finite() && joules > 0.0) {
            return;
        }
        let total = self.fraction + joules * counts_per_joule;
        let whole = total.floor();
        self.fraction = total - whole;
        self.counts = self.counts.wrapping_add(whole as u64);
    }
    fn register(self) -> u64 {
        self.counts & 0xFFFF_FFFF
    }
    fn set_low32(&mut self, low: u32) {
        self.counts = (self.counts & !0xFFFF_FFFF) | u64::from(low);
    }
}

/// The simulated MSR file of one socket.
#[derive(Debug, Clone)]
pub struct SimMsr {
    vendor: CpuVendor,
    cpus: u32,
    esu: u8,
    pkg: EnergyCounter,
    core: Vec<EnergyCounter>,
    pstates: Vec<PState>,
    current_pstate: u8,
    base_mhz: f64,
    actual_mhz: f64,
    tsc: f64,
    mperf: f64,
    aperf: f64,
    smi: u64,
    die_c: f64,
    time_s: f64,
    plan: FaultPlan,
    wraps_applied: Vec<bool>,
}

impl SimMsr {
    /// A socket with `cpus` logical CPUs (1 ..= [`MAX_CPUS`]) of `vendor`, ESU 16 (2^−16 J per
    /// count), base and actual clock 2250 MHz. AMD P-states: P0 2250, P1 1800, P2
    /// 1500 MHz (FID 90/72/60, DID 8), current P0, limit index 2.
    pub fn new(vendor: CpuVendor, cpus: u32) -> Self {
        // One energy counter per CPU: an absurd count must not exhaust memory.
        let cpus = cpus.clamp(1, MAX_CPUS);
        Self {
            vendor,
            cpus,
            esu: 16,
            pkg: EnergyCounter::default(),
            core: vec![EnergyCounter::default(); cpus as usize],
            pstates: vec![
                PState { fid: 90, did: 8 },
                PState { fid: 72, did: 8 },
                PState { fid: 60, did: 8 },
            ],
            current_pstate: 0,
            base_mhz: 2250.0,
            actual_mhz: 2250.0,
            tsc: 0.0,
            mperf: 0.0,
            aperf: 0.0,
            smi: 0,
            die_c: 50.0,
            time_s: 0.0,
            plan: FaultPlan::none(),
            wraps_applied: Vec::new(),
        }
    }

    /// Number of logical CPUs.
    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    /// Sets the energy-status unit exponent (bits 12:8 of the unit register, 0..=31).
    pub fn set_energy_unit_exponent(&mut self, esu: u8) {
        self.esu = esu.min(31);
    }

    /// Counts per joule at the current ESU.
    pub fn counts_per_joule(&self) -> f64 {
        f64::from(1u32 << self.esu)
    }

    /// Sets the fault plan (MSR targets only are used).
    pub fn set_fault_plan(&mut self, plan: FaultPlan) {
        self.wraps_applied = vec![false; plan.windows().len()];
        self.plan = plan;
        self.apply_wraps(self.time_s);
    }

    /// Sets the current P-state index (clamped to the defined states) and the actual
    /// clock that APERF counts at.
    pub fn set_pstate(&mut self, index: u8) {
        let max = self.pstates.len().saturating_sub(1) as u8;
        self.current_pstate = index.min(max);
        self.actual_mhz = self
            .pstates
            .get(usize::from(self.current_pstate))
            .map_or(self.base_mhz, |p| f64::from(p.mhz()));
    }

    /// Sets the actual clock (MHz) APERF counts at, e.g. boost above base.
    pub fn set_actual_mhz(&mut self, mhz: f64) {
        self.actual_mhz = mhz;
    }

    /// Adds `n` SMIs to the counter (Intel model).
    pub fn add_smis(&mut self, n: u64) {
        self.smi = self.smi.wrapping_add(n);
    }

    /// Sets the die temperature the Intel thermal-status MSRs report (the readout is
    /// degrees below TjMax = 100 °C, whole degrees, HARDWARE.md §8).
    pub fn set_die_temperature_c(&mut self, celsius: f64) {
        self.die_c = celsius;
    }

    /// IA32_THERM_STATUS-style value: valid bit 31, degrees below TjMax in bits 22:16.
    fn therm_status(&self) -> u64 {
        let below = (100.0 - self.die_c).round().clamp(0.0, 127.0) as u64;
        (1 << 31) | (below << 16)
    }

    /// Simulated time, seconds.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// Advances time by `dt_s` with the package drawing `pkg_w` and the cores `core_w`
    /// watts: energy counters integrate, TSC/MPERF count at the base clock, APERF at the
    /// actual clock (all CPUs busy). Then applies counter-wrap faults whose window opened.
    pub fn advance(&mut self, dt_s: f64, pkg_w: f64, core_w: f64) {
        if !(dt_s.is_finite() && dt_s > 0.0) {
            return;
        }
        let cpj = self.counts_per_joule();
        self.pkg.add_joules(pkg_w * dt_s, cpj);
        let share = core_w * dt_s / f64::from(self.cpus);
        for c in &mut self.core {
            c.add_joules(share, cpj);
        }
        self.tsc += self.base_mhz * 1e6 * dt_s;
        self.mperf += self.base_mhz * 1e6 * dt_s;
        self.aperf += self.actual_mhz * 1e6 * dt_s;
        let since_s = self.time_s;
        self.time_s += dt_s;
        self.apply_wraps(since_s);
    }

    /// Applies every forced wrap whose window has opened by now and overlaps
    /// `(since_s, now]`: a window that fits between two advances still happened.
    fn apply_wraps(&mut self, since_s: f64) {
        let t = self.time_s;
        let pkg_msr = self.pkg_msr();
        let core_msr = self.core_msr();
        for (i, w) in self.plan.windows().iter().enumerate() {
            let Fault::ForcedCounterWrap { counts_before_wrap } = w.fault else {
                continue;
            };
            let opened = w.start_s <= t && (w.active_at(t) || w.end_s > since_s);
            if !opened || self.wraps_applied.get(i).copied().unwrap_or(true) {
                continue;
            }
            if let Some(done) = self.wraps_applied.get_mut(i) {
                *done = true;
            }
            let low = 0u32.wrapping_sub(counts_before_wrap);
            match w.target {
                crate::fault::FaultTarget::Msr { msr } if msr == pkg_msr => self.pkg.set_low32(low),
                crate::fault::FaultTarget::Msr { msr } if msr == core_msr => {
                    for c in &mut self.core {
                        c.set_low32(low);
                    }
                }
                _ => {}
            }
        }
    }

    fn pkg_msr(&self) -> u32 {
        match self.vendor {
            CpuVendor::Amd => AMD_PKG_ENERGY_STATUS,
            CpuVendor::Intel => INTEL_PKG_ENERGY_STATUS,
        }
    }

    fn core_msr(&self) -> u32 {
        match self.vendor {
            CpuVendor::Amd => AMD_CORE_ENERGY_STATUS,
            CpuVendor::Intel => INTEL_PP0_ENERGY_STATUS,
        }
    }

    /// The RAPL unit register: power unit 3 (1/8 W), ESU, time unit 10 (~977 µs).
    fn unit_register(&self) -> u64 {
        (10 << 16) | (u64::from(self.esu) << 8) | 3
    }

    fn value(&self, cpu: u32, msr: u32) -> Result<u64, ErrorKind> {
        let core = self.core.get(cpu as usize).ok_or(ErrorKind::NoSuchCpu)?;
        let common = match msr {
            IA32_TSC => Some(self.tsc as u64),
            IA32_MPERF => Some(self.mperf as u64),
            IA32_APERF => Some(self.aperf as u64),
            _ => None,
        };
        if let Some(v) = common {
            return Ok(v);
        }
        match (self.vendor, msr) {
            (CpuVendor::Amd, AMD_RAPL_POWER_UNIT) | (CpuVendor::Intel, INTEL_RAPL_POWER_UNIT) => {
                Ok(self.unit_register())
            }
            (CpuVendor::Amd, AMD_PKG_ENERGY_STATUS)
            | (CpuVendor::Intel, INTEL_PKG_ENERGY_STATUS) => Ok(self.pkg.register()),
            (CpuVendor::Amd, AMD_CORE_ENERGY_STATUS) => Ok(core.register()),
            (CpuVendor::Intel, INTEL_PP0_ENERGY_STATUS) => {
                // PP0 is package-wide on Intel: report the sum of the per-CPU shares.
                let total = self.core.iter().fold(0u64, |a, c| a.wrapping_add(c.counts));
                Ok(total & 0xFFFF_FFFF)
            }
            (CpuVendor::Amd, AMD_PSTATE_CUR_LIMIT) => {
                let max = self.pstates.len().saturating_sub(1) as u64;
                Ok((max & 0x7) << 4)
            }
            (CpuVendor::Amd, AMD_PSTATE_STATUS) => Ok(u64::from(self.current_pstate & 0x7)),
            (CpuVendor::Amd, m) if (AMD_PSTATE_DEF_BASE..AMD_PSTATE_DEF_BASE + 8).contains(&m) => {
                let i = (m - AMD_PSTATE_DEF_BASE) as usize;
                Ok(self.pstates.get(i).map_or(0, |p| p.register()))
            }
            (CpuVendor::Intel, MSR_SMI_COUNT) => Ok(self.smi & 0xFFFF_FFFF),
            (CpuVendor::Intel, IA32_TEMPERATURE_TARGET) => Ok(100 << 16),
            (CpuVendor::Intel, IA32_THERM_STATUS | IA32_PACKAGE_THERM_STATUS) => {
                Ok(self.therm_status())
            }
            _ => Err(ErrorKind::Unsupported),
        }
    }
}

impl MsrReader for SimMsr {
    type Error = ErrorKind;

    fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, ErrorKind> {
        if cpu >= self.cpus {
            return Err(ErrorKind::NoSuchCpu);
        }
        if self
            .plan
            .active_on_msr(msr, self.time_s)
            .any(|w| w.fault == Fault::MsrUnsupported)
        {
            return Err(ErrorKind::Unsupported);
        }
        self.value(cpu, msr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultTarget;

    fn esu(unit: u64) -> u32 {
        ((unit >> 8) & 0x1F) as u32
    }

    #[test]
    fn unit_register_has_esu_16() {
        let mut m = SimMsr::new(CpuVendor::Amd, 4);
        let unit = m.read_msr(0, AMD_RAPL_POWER_UNIT).unwrap();
        assert_eq!(esu(unit), 16);
        assert_eq!(unit & 0xF, 3);
        assert_eq!((unit >> 16) & 0xF, 10);
    }

    #[test]
    fn package_energy_integrates_power_without_losing_fractions() {
        let mut m = SimMsr::new(CpuVendor::Amd, 2);
        // 360 W for 1 s in 1000 steps of 1 ms: 360 J = 360 × 65536 counts.
        for _ in 0..1000 {
            m.advance(0.001, 360.0, 200.0);
        }
        let pkg = m.read_msr(0, AMD_PKG_ENERGY_STATUS).unwrap();
        assert!((pkg as f64 - 360.0 * 65536.0).abs() <= 1.0, "{pkg}");
        // Tiny steps whose count is below one each still add up.
        let mut m = SimMsr::new(CpuVendor::Amd, 1);
        for _ in 0..65536 {
            m.advance(1e-3, 1e-3, 0.0); // 1 µJ each = 0.065536 counts
        }
        let pkg = m.read_msr(0, AMD_PKG_ENERGY_STATUS).unwrap();
        assert!((pkg as f64 - 65536.0 * 0.065536).abs() <= 1.0, "{pkg}");
    }

    #[test]
    fn core_energy_is_shared_between_cpus() {
        let mut m = SimMsr::new(CpuVendor::Amd, 4);
        m.advance(1.0, 300.0, 200.0);
        let c0 = m.read_msr(0, AMD_CORE_ENERGY_STATUS).unwrap();
        let c3 = m.read_msr(3, AMD_CORE_ENERGY_STATUS).unwrap();
        assert_eq!(c0, 50 * 65536);
        assert_eq!(c0, c3);
    }

    #[test]
    fn counters_wrap_at_32_bits() {
        let mut m = SimMsr::new(CpuVendor::Amd, 1);
        // 2^32 counts at ESU 16 = 65536 J; 70000 J later the counter has wrapped once.
        m.advance(100.0, 700.0, 0.0);
        let pkg = m.read_msr(0, AMD_PKG_ENERGY_STATUS).unwrap();
        assert!(pkg <= 0xFFFF_FFFF);
        let expected = ((70_000.0 * 65536.0) as u64) & 0xFFFF_FFFF;
        assert!((pkg as i64 - expected as i64).abs() <= 1);
    }

    #[test]
    fn forced_wrap_puts_the_counter_just_below_the_wrap() {
        let mut m = SimMsr::new(CpuVendor::Amd, 1);
        let mut plan = FaultPlan::new(10.0).unwrap();
        plan.add(
            FaultTarget::Msr {
                msr: AMD_PKG_ENERGY_STATUS,
            },
            2.0,
            5.0,
            Fault::ForcedCounterWrap {
                counts_before_wrap: 1000,
            },
        )
        .unwrap();
        m.set_fault_plan(plan);
        m.advance(2.0, 0.0, 0.0);
        assert_eq!(
            m.read_msr(0, AMD_PKG_ENERGY_STATUS).unwrap(),
            0xFFFF_FFFF - 999
        );
        m.advance(1.0, 1.0, 0.0); // 65536 counts: wraps
        assert_eq!(m.read_msr(0, AMD_PKG_ENERGY_STATUS).unwrap(), 65536 - 1000);
    }

    #[test]
    fn unknown_msrs_amd_smi_and_bad_cpus_fail_with_the_right_kind() {
        let mut m = SimMsr::new(CpuVendor::Amd, 2);
        assert_eq!(m.read_msr(0, 0x1234_5678), Err(ErrorKind::Unsupported));
        assert_eq!(
            m.read_msr(0, MSR_SMI_COUNT),
            Err(ErrorKind::Unsupported),
            "HARDWARE.md §8: no AMD SMI MSR"
        );
        assert_eq!(
            m.read_msr(2, AMD_PKG_ENERGY_STATUS),
            Err(ErrorKind::NoSuchCpu)
        );
        let mut i = SimMsr::new(CpuVendor::Intel, 1);
        i.add_smis(3);
        assert_eq!(i.read_msr(0, MSR_SMI_COUNT), Ok(3));
        assert_eq!(
            i.read_msr(0, AMD_PKG_ENERGY_STATUS),
            Err(ErrorKind::Unsupported)
        );
        assert_eq!(esu(i.read_msr(0, INTEL_RAPL_POWER_UNIT).unwrap()), 16);
    }

    #[test]
    fn msr_unsupported_fault_applies_inside_its_window() {
        let mut m = SimMsr::new(CpuVendor::Amd, 1);
        let mut plan = FaultPlan::new(10.0).unwrap();
        plan.add(
            FaultTarget::Msr {
                msr: AMD_PKG_ENERGY_STATUS,
            },
            1.0,
            2.0,
            Fault::MsrUnsupported,
        )
        .unwrap();
        m.set_fault_plan(plan);
        assert!(m.read_msr(0, AMD_PKG_ENERGY_STATUS).is_ok());
        m.advance(1.0, 10.0, 5.0);
        assert_eq!(
            m.read_msr(0, AMD_PKG_ENERGY_STATUS),
            Err(ErrorKind::Unsupported)
        );
        assert!(
            m.read_msr(0, AMD_CORE_ENERGY_STATUS).is_ok(),
            "other MSRs unaffected"
        );
        m.advance(1.0, 10.0, 5.0);
        assert!(m.read_msr(0, AMD_PKG_ENERGY_STATUS).is_ok());
    }

    #[test]
    fn pstates_and_aperf_mperf() {
        let mut m = SimMsr::new(CpuVendor::Amd, 1);
        let def0 = m.read_msr(0, AMD_PSTATE_DEF_BASE).unwrap();
        assert_eq!(def0 >> 63, 1);
        // HARDWARE.md §8: MHz = 200 × FID / DID.
        assert_eq!(200 * (def0 & 0xFF) / ((def0 >> 8) & 0x3F), 2250);
        assert_eq!((m.read_msr(0, AMD_PSTATE_CUR_LIMIT).unwrap() >> 4) & 7, 2);
        m.set_pstate(1);
        assert_eq!(m.read_msr(0, AMD_PSTATE_STATUS).unwrap() & 7, 1);
        m.advance(1.0, 0.0, 0.0);
        let aperf = m.read_msr(0, IA32_APERF).unwrap() as f64;
        let mperf = m.read_msr(0, IA32_MPERF).unwrap() as f64;
        assert!((2250.0 * aperf / mperf - 1800.0).abs() < 1e-6);
        assert_eq!(m.read_msr(0, IA32_TSC).unwrap(), 2_250_000_000);
        assert_eq!(
            m.read_msr(0, AMD_PSTATE_DEF_BASE + 5).unwrap(),
            0,
            "undefined P-state"
        );
    }

    // ---- the real sovereign-hal MSR readers on the simulated file ----

    use sovereign_hal::msr::ReadErrorKind;
    use sovereign_hal::msr::amd::{
        PStateLayout, read_amd_core_energy, read_amd_package_energy, read_current_pstate_index,
        read_pstate_frequency,
    };
    use sovereign_hal::msr::aperf::read_aperf_mperf;
    use sovereign_hal::msr::energy::EnergyAccumulator;
    use sovereign_hal::msr::intel::{
        read_core_temperature, read_intel_package_energy, read_smi_count,
    };
    use sovereign_hal::units::MilliSeconds;

    #[test]
    fn hal_energy_reader_sees_the_plant_power_across_wraps() {
        let mut m = SimMsr::new(CpuVendor::Amd, 8);
        let pkg = FaultTarget::Msr {
            msr: AMD_PKG_ENERGY_STATUS,
        };
        // Start 5 s of 360 W below the wrap: the counter wraps during the 6th step.
        let before_wrap = 5 * 360 * 65536 + 1000;
        let mut plan = FaultPlan::new(100.0).unwrap();
        plan.add(
            pkg,
            0.0,
            100.0,
            Fault::ForcedCounterWrap {
                counts_before_wrap: before_wrap,
            },
        )
        .unwrap();
        m.set_fault_plan(plan);
        let (raw, units) = read_amd_package_energy(&mut m, 0).unwrap();
        assert_eq!(raw, 0u32.wrapping_sub(before_wrap));
        assert_eq!(units.energy_status_unit(), 16);
        let mut acc = EnergyAccumulator::new(units);
        acc.update(raw);
        let mut raws = Vec::new();
        for _ in 0..20 {
            m.advance(1.0, 360.0, 240.0);
            let (raw, _) = read_amd_package_energy(&mut m, 0).unwrap();
            raws.push(raw);
            let p = acc.update_power(raw, MilliSeconds(1000)).unwrap().0;
            assert!((p - 360_000).abs() <= 1, "{p} mW across the wrap");
        }
        assert!(raws[5] < raws[4], "the counter wrapped between 5 and 6 s");
        assert_eq!(acc.total_energy().0, 20 * 360 * 1_000_000);

        // A window opening mid-run is a jump the reader sees as one lost sample.
        let mut m = SimMsr::new(CpuVendor::Amd, 8);
        let mut plan = FaultPlan::new(100.0).unwrap();
        plan.add(
            pkg,
            10.0,
            11.0,
            Fault::ForcedCounterWrap {
                counts_before_wrap: 100_000,
            },
        )
        .unwrap();
        m.set_fault_plan(plan);
        let (raw, units) = read_amd_package_energy(&mut m, 0).unwrap();
        let mut acc = EnergyAccumulator::new(units);
        acc.update(raw);
        let mut powers = Vec::new();
        for _ in 0..20 {
            m.advance(1.0, 360.0, 240.0);
            let (raw, _) = read_amd_package_energy(&mut m, 0).unwrap();
            powers.push(acc.update_power(raw, MilliSeconds(1000)).map(|p| p.0));
        }
        for (i, p) in powers.iter().enumerate() {
            if i == 9 {
                // The jump is a step of more than half a wrap: the HAL takes it as a
                // counter reset (no sample, new baseline) rather than a huge power.
                assert_eq!(*p, None, "the jump is a reset");
            } else {
                let p = p.unwrap();
                assert!((p - 360_000).abs() <= 1, "{p} mW at step {i}");
            }
        }
        // Core counter of one CPU: 240 W / 8 CPUs.
        let (c0, units) = read_amd_core_energy(&mut m, 0).unwrap();
        let mut acc = EnergyAccumulator::new(units);
        acc.update(c0);
        m.advance(2.0, 360.0, 240.0);
        let (c1, _) = read_amd_core_energy(&mut m, 0).unwrap();
        assert_eq!(acc.update_power(c1, MilliSeconds(2000)).unwrap().0, 30_000);
    }

    #[test]
    fn a_wrap_window_between_two_advances_still_jumps_the_counter() {
        // The window [10.25, 10.75) s lies between the 1 s samples at 10 s and 11 s: the
        // forced wrap happened in it, so the 11 s sample must show the jump — which the
        // core's accumulator takes for a counter reset (a step of 2³¹ counts or more) and
        // reports as one lost sample, not as power.
        let mut m = SimMsr::new(CpuVendor::Amd, 8);
        let mut plan = FaultPlan::new(100.0).unwrap();
        plan.add(
            FaultTarget::Msr {
                msr: AMD_PKG_ENERGY_STATUS,
            },
            10.25,
            10.75,
            Fault::ForcedCounterWrap {
                counts_before_wrap: 100_000,
            },
        )
        .unwrap();
        m.set_fault_plan(plan);
        let (raw, units) = read_amd_package_energy(&mut m, 0).unwrap();
        let mut acc = EnergyAccumulator::new(units);
        acc.update(raw);
        let mut powers = Vec::new();
        for _ in 0..20 {
            m.advance(1.0, 360.0, 240.0);
            let (raw, _) = read_amd_package_energy(&mut m, 0).unwrap();
            powers.push(acc.update_power(raw, MilliSeconds(1000)).map(|p| p.0));
        }
        for (i, p) in powers.iter().enumerate() {
            if i == 10 {
                assert_eq!(*p, None, "the jump shows at 11 s");
            } else {
                let p = p.unwrap();
                assert!((p - 360_000).abs() <= 1, "{p} mW at step {i}");
            }
        }
    }

    #[test]
    fn an_absurd_cpu_count_is_capped() {
        // Not run before the fix on purpose: u32::MAX counters would try to allocate
        // 64 GiB on a shared machine.
        let m = SimMsr::new(CpuVendor::Amd, u32::MAX);
        assert_eq!(m.cpus(), MAX_CPUS);
        assert_eq!(SimMsr::new(CpuVendor::Amd, 0).cpus(), 1);
    }

    #[test]
    fn hal_reads_pstates_and_effective_frequency() {
        let mut m = SimMsr::new(CpuVendor::Amd, 2);
        let f = read_pstate_frequency(&mut m, 1, 0, PStateLayout::Family17h19h).unwrap();
        assert_eq!(f.unwrap().0, 2250);
        assert_eq!(
            read_pstate_frequency(&mut m, 1, 3, PStateLayout::Family17h19h).unwrap(),
            None
        );
        m.set_pstate(2);
        assert_eq!(read_current_pstate_index(&mut m, 0).unwrap(), 2);
        let (a0, m0) = read_aperf_mperf(&mut m, 1).unwrap();
        m.advance(0.5, 100.0, 50.0);
        let (a1, m1) = read_aperf_mperf(&mut m, 1).unwrap();
        let khz = sovereign_hal::msr::aperf::effective_frequency_khz(2_250_000, a1 - a0, m1 - m0);
        assert_eq!(khz.unwrap(), 1_500_000);
    }

    #[test]
    fn hal_readers_report_unsupported_and_missing_cpus() {
        let mut amd = SimMsr::new(CpuVendor::Amd, 2);
        let e = read_smi_count(&mut amd, 0).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Msr(ErrorKind::Unsupported));
        assert!(e.to_string().contains("does not implement"));
        let e = read_amd_package_energy(&mut amd, 5).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Msr(ErrorKind::NoSuchCpu));
        let mut plan = FaultPlan::new(10.0).unwrap();
        plan.add(
            FaultTarget::Msr {
                msr: AMD_RAPL_POWER_UNIT,
            },
            0.0,
            5.0,
            Fault::MsrUnsupported,
        )
        .unwrap();
        amd.set_fault_plan(plan);
        let e = read_amd_package_energy(&mut amd, 0).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Msr(ErrorKind::Unsupported));

        let mut intel = SimMsr::new(CpuVendor::Intel, 1);
        intel.add_smis(7);
        assert_eq!(read_smi_count(&mut intel, 0).unwrap(), 7);
        intel.advance(1.0, 100.0, 60.0);
        let (raw, units) = read_intel_package_energy(&mut intel, 0).unwrap();
        assert_eq!(units.counts_to_energy(u64::from(raw)).0, 100_000_000);
        intel.set_die_temperature_c(64.0);
        assert_eq!(
            read_core_temperature(&mut intel, 0, 0x7F, true).unwrap().0,
            64_000
        );
    }
}
