//! AMD Tctl/Tccd decoding (`amd_tctl`), the MSR decoders (`msr::amd`, `msr::intel`,
//! `msr::energy`, `msr::aperf`), the stateful `EnergyAccumulator`, `AperfMperf` and
//! `SmiCounter` fed arbitrary sequences, and the MSR convenience readers over a fake
//! `MsrReader` whose answers and errors come from the input.
//!
//! Checked beyond "no panic": temperature ranges and clamping; P-state indices and
//! enabled bits; the accumulators' totals are monotonic and equal the (saturating) sum
//! of the deltas they returned; frequencies never exceed the base rate when APERF grew
//! less than MPERF; readers read only the MSRs they document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovereign_hal::amd_tctl::{self, CcdLayout, NegativeTemperatures};
use sovereign_hal::decode::DecodeError;
use sovereign_hal::msr::{
    self, AperfMperf, EnergyAccumulator, RaplUnits, SmiCounter, amd, aperf, energy, intel,
};
use sovereign_hal::units::{MilliCelsius, MilliSeconds, MilliWatts};
use sovereign_hal_fuzz::{FuzzMsr, Tape};

fn tctl(t: &Tape<'_>) {
    let reg = t.u32();
    match amd_tctl::tctl_unclamped_from_register(reg) {
        Err(e) => {
            assert_eq!(e, DecodeError::Invalid);
            assert_eq!(reg, amd_tctl::READ_FAILED);
        }
        Ok(u) => {
            assert!((-49_000..=255_875).contains(&u.0));
            assert_eq!(u.0 % 125, 0);
            let c = amd_tctl::tctl_from_register(reg, NegativeTemperatures::ClampToZero);
            assert_eq!(c, Ok(MilliCelsius(u.0.max(0))));
            let s = amd_tctl::tctl_from_register(reg, NegativeTemperatures::Show);
            assert_eq!(s, Ok(u));
            let offset = MilliCelsius(t.i32());
            let d = amd_tctl::tdie_from_register(reg, offset, NegativeTemperatures::ClampToZero);
            assert!(d.expect("decodes like Tctl").0 >= 0);
            let d = amd_tctl::tdie_from_register(reg, offset, NegativeTemperatures::Show);
            assert_eq!(d, Ok(u.saturating_sub(offset)));
        }
    }
    match amd_tctl::tccd_from_register(reg) {
        Ok(c) => {
            assert!(reg & (1 << 11) != 0 && reg != amd_tctl::READ_FAILED);
            assert!((-49_000..=206_875).contains(&c.0));
        }
        Err(e) => assert_eq!(e, DecodeError::Invalid),
    }
    let (family, model) = (t.u32(), t.u32());
    if let Some(l) = amd_tctl::ccd_layout(family, model) {
        assert!([4, 8, 12].contains(&l.count));
        for ccd in 0..l.count {
            let a = l
                .smn_address(ccd)
                .expect("CCDs of a known layout have addresses");
            assert!(a > amd_tctl::SMN_TCTL);
        }
        assert_eq!(l.smn_address(l.count), None);
    }
    // The fields are public: any layout, any CCD.
    let any = CcdLayout {
        offset: t.u32(),
        count: t.u8(),
    };
    let ccd = t.u8();
    if any.smn_address(ccd).is_some() {
        assert!(ccd < any.count);
    }
    let name = String::from_utf8_lossy(t.bytes(48));
    let _ = NegativeTemperatures::for_cpu(family, &name);
    if let Some(o) = amd_tctl::tdie_offset(family, &name) {
        assert_eq!(family, 0x17);
        assert!([10_000, 20_000, 27_000].contains(&o.0));
    }
}

fn amd_msrs(t: &Tape<'_>) {
    let index = t.u8();
    assert_eq!(
        amd::pstate_def_msr(index).is_some(),
        index < amd::PSTATE_COUNT
    );
    let raw = t.u64();
    assert!(amd::decode_pstate_max_index(raw) < amd::PSTATE_COUNT);
    assert!(amd::decode_current_pstate_index(raw) < amd::PSTATE_COUNT);
    let family = t.u32();
    let layout = amd::PStateLayout::for_family(family).unwrap_or(if t.bool() {
        amd::PStateLayout::Family17h19h
    } else {
        amd::PStateLayout::Family1Ah
    });
    let def = amd::PStateDef::new(raw, layout);
    match layout {
        amd::PStateLayout::Family17h19h => {
            assert!(def.fid() <= 0xFF);
            let did = def.did().expect("17h/19h has a divisor");
            assert!(did <= 0x3F);
            match def.frequency() {
                Ok(f) => assert!(did != 0 && f.0 <= 200 * 255),
                Err(e) => assert_eq!((e, did), (DecodeError::Invalid, 0)),
            }
        }
        amd::PStateLayout::Family1Ah => {
            assert!(def.fid() <= 0xFFF);
            assert_eq!(def.did(), None);
            let f = def.frequency().expect("1Ah always decodes");
            assert!(f.0 == 0 || f.0 == 5 * u32::from(def.fid()));
        }
    }
    match amd::decode_pstate_frequency(raw, layout) {
        Ok(None) => assert!(!def.enabled()),
        Ok(Some(f)) => assert_eq!(Ok(f), def.frequency()),
        Err(e) => assert_eq!(Err(e), def.frequency()),
    }
}

fn intel_msrs(t: &Tape<'_>) {
    let target = t.u64();
    match intel::decode_tjmax(target) {
        Ok(tj) => {
            assert!((1_000..=255_000).contains(&tj.0));
            let tt = intel::decode_ttarget(target).expect("same TjMax");
            assert!(tt <= tj && tt.0 >= tj.0 - 255_000);
        }
        Err(e) => {
            assert_eq!(e, DecodeError::Invalid);
            assert_eq!(intel::decode_ttarget(target), Err(DecodeError::Invalid));
        }
    }
    let status = t.u64();
    let mask = t.u8();
    assert!(intel::digital_readout(status, mask) & !mask == 0);
    let tjmax = MilliCelsius(t.i32());
    let require_valid = t.bool();
    match intel::decode_temperature(status, tjmax, mask, require_valid) {
        Ok(temp) => assert!(temp <= tjmax),
        Err(e) => {
            assert_eq!(e, DecodeError::Invalid);
            assert!(require_valid && status & (1 << 31) == 0);
        }
    }
    let flags = intel::ThermStatus::from_raw(status);
    assert_eq!(flags.bits() & 0x007F_0000, 0, "the readout is not a flag");

    let mut smi = SmiCounter::new();
    assert_eq!(smi.update(t.u64()), None);
    let mut sum = 0u64;
    while !t.is_empty() {
        // A step of 2³¹ or more is a counter reset (perf's sign extension from bit 31):
        // nothing is added and `update` says so with `None`.
        if let Some(d) = smi.update(t.u64()) {
            assert!(d < 1 << 31);
            sum = sum.saturating_add(u64::from(d));
        }
        assert_eq!(smi.total(), sum);
    }
}

fn energy(t: &Tape<'_>) {
    let units = if t.bool() {
        RaplUnits::from_raw(t.u64())
    } else {
        RaplUnits::from_esu(t.u8())
    };
    assert!(units.power_unit_exponent() <= 15);
    assert!(units.energy_status_unit() <= 31);
    assert!(units.time_unit_exponent() <= 15);

    let (c1, c2) = (t.u64(), t.u64());
    let (e1, e2) = (units.counts_to_energy(c1), units.counts_to_energy(c2));
    if c1 <= c2 {
        assert!(e1 <= e2);
    }
    let elapsed = MilliSeconds(t.u32());
    match units.counts_to_power(c1, elapsed) {
        None => assert_eq!(elapsed.0, 0),
        Some(p) => assert!(p.0 >= 0),
    }
    assert!(units.power_field_to_power(t.u64()).0 >= 0);
    let power = MilliWatts(t.i32());
    match units.counter_wrap_period(power) {
        None => assert!(power.0 <= 0),
        Some(period) => {
            let safe = units.max_safe_sample_interval(power).expect("same power");
            assert_eq!(safe.0, period.0 / 3);
        }
    }
    let (prev, now) = (t.u32(), t.u32());
    assert_eq!(energy::wrapping_delta(prev, now), now.wrapping_sub(prev));
    let _ = energy::perf_delta_counts(prev, now);
    let legacy = energy::amd_energy_legacy_delta(prev, now);
    if now < prev {
        // One count short per wrap, as the module documents.
        assert_eq!(legacy + 1, u64::from(energy::wrapping_delta(prev, now)));
    }
    assert!(energy::powercap_energy(now, units) <= energy::powercap_max_energy_range(units));

    // The accumulator over an arbitrary sequence of readings and intervals.
    let mut acc = EnergyAccumulator::new(units);
    assert_eq!(acc.update(t.u32()), None);
    let mut sum = 0u64;
    let mut last_energy = acc.total_energy();
    while !t.is_empty() {
        let raw = t.u32();
        let before = acc.last_raw().expect("baseline set");
        let step = raw.wrapping_sub(before);
        // A step of 2³¹ counts or more is taken for a counter reset: nothing is added.
        let reset = step >= 1 << 31;
        if t.bool() {
            let ms = MilliSeconds(t.u16().into());
            let p = acc.update_power(raw, ms);
            if ms.0 == 0 || reset {
                assert_eq!(p, None);
            }
        } else {
            let d = acc.update(raw);
            assert_eq!(d, (!reset).then_some(step));
        }
        if !reset {
            sum = sum.saturating_add(u64::from(step));
        }
        assert_eq!(acc.total_counts(), sum);
        assert_eq!(acc.last_raw(), Some(raw));
        let e = acc.total_energy();
        assert!(e >= last_energy, "energy went backwards");
        last_energy = e;
    }
    assert_eq!(acc.units(), units);
}

fn aperf_mperf(t: &Tape<'_>) {
    let base = t.u32();
    let (da, dm) = (t.u64(), t.u64());
    match aperf::effective_frequency_khz(base, da, dm) {
        Ok(khz) => {
            if da <= dm {
                assert!(khz <= base);
            }
            assert_eq!(
                aperf::effective_frequency(base, da, dm).map(|m| m.0),
                Ok(khz / 1000)
            );
        }
        Err(DecodeError::Invalid) => assert_eq!(dm, 0),
        Err(DecodeError::OutOfRange) => assert!(da > dm),
        Err(e) => panic!("unexpected {e:?}"),
    }
    let mut s = AperfMperf::new(base);
    let mut first = true;
    while !t.is_empty() {
        if t.u8() == 0xFF {
            s.reset();
            first = true;
            continue;
        }
        let r = s.update_khz(t.u64(), t.u64());
        // The first sample only sets the baseline; later ones may also be `None` for a
        // counter reset (a 64-bit delta of 2⁶³ or more) or no MPERF progress.
        if first {
            assert!(r.is_none());
        }
        first = false;
    }
}

fn readers(t: &Tape<'_>) {
    let mut r = FuzzMsr::new(t);
    while !t.is_empty() {
        let cpu = t.u32();
        r.reads.clear();
        let op = t.u8() % 11;
        let (msrs, err): (&[u32], Option<String>) = match op {
            0 => (
                &[amd::MSR_AMD_RAPL_POWER_UNIT],
                amd::read_amd_rapl_units(&mut r, cpu)
                    .err()
                    .map(|e| e.to_string()),
            ),
            1 => (
                &[amd::MSR_AMD_RAPL_POWER_UNIT, amd::MSR_AMD_PKG_ENERGY_STATUS],
                amd::read_amd_package_energy(&mut r, cpu)
                    .err()
                    .map(|e| e.to_string()),
            ),
            2 => (
                &[
                    amd::MSR_AMD_RAPL_POWER_UNIT,
                    amd::MSR_AMD_CORE_ENERGY_STATUS,
                ],
                amd::read_amd_core_energy(&mut r, cpu)
                    .err()
                    .map(|e| e.to_string()),
            ),
            3 => match amd::read_current_pstate_index(&mut r, cpu) {
                Ok(i) => {
                    assert!(i < amd::PSTATE_COUNT);
                    (&[amd::MSR_AMD_PERF_STATUS], None)
                }
                Err(e) => (&[amd::MSR_AMD_PERF_STATUS], Some(e.to_string())),
            },
            4 => {
                let index = t.u8() % 10;
                let res =
                    amd::read_pstate_frequency(&mut r, cpu, index, amd::PStateLayout::Family17h19h);
                if index >= amd::PSTATE_COUNT {
                    assert!(matches!(
                        res,
                        Err(msr::ReadError::Decode(DecodeError::OutOfRange))
                    ));
                    assert!(r.reads.is_empty(), "nothing is read for a bad index");
                    continue;
                }
                (
                    &[amd::MSR_AMD_PSTATE_DEF_BASE + u32::from(index)][..],
                    res.err().map(|e| e.to_string()),
                )
            }
            5 => (
                &[aperf::MSR_IA32_MPERF, aperf::MSR_IA32_APERF],
                aperf::read_aperf_mperf(&mut r, cpu)
                    .err()
                    .map(|e| e.to_string()),
            ),
            6 => (
                &[intel::MSR_RAPL_POWER_UNIT, intel::MSR_PKG_ENERGY_STATUS],
                intel::read_intel_package_energy(&mut r, cpu)
                    .err()
                    .map(|e| e.to_string()),
            ),
            7 | 8 => {
                let (status_msr, res) = if op == 7 {
                    (
                        intel::MSR_IA32_THERM_STATUS,
                        intel::read_core_temperature(&mut r, cpu, t.u8(), t.bool()),
                    )
                } else {
                    (
                        intel::MSR_IA32_PACKAGE_THERM_STATUS,
                        intel::read_package_temperature(&mut r, cpu, t.u8(), t.bool()),
                    )
                };
                let expected = [intel::MSR_IA32_TEMPERATURE_TARGET, status_msr];
                assert!(expected.starts_with(&r.reads.iter().map(|&(_, m)| m).collect::<Vec<_>>()));
                let _ = res.map_err(|e| e.to_string());
                continue;
            }
            9 => (
                &[intel::MSR_SMI_COUNT],
                intel::read_smi_count(&mut r, cpu)
                    .err()
                    .map(|e| e.to_string()),
            ),
            _ => {
                let e = msr::ReadError::<msr::ErrorKind>::Decode(DecodeError::Truncated);
                (&[], Some(format!("{e} {:?}", e.kind())))
            }
        };
        // Only the documented MSRs, in order, on the CPU asked for; an error stops early.
        let read: Vec<u32> = r.reads.iter().map(|&(_, m)| m).collect();
        assert!(
            msrs.starts_with(&read),
            "op {op} read {read:x?}, expected {msrs:x?}"
        );
        assert!(r.reads.iter().all(|&(c, _)| c == cpu));
        if err.is_none() {
            assert_eq!(read.len(), msrs.len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t = Tape::new(data);
    match t.u8() % 6 {
        0 => tctl(&t),
        1 => amd_msrs(&t),
        2 => intel_msrs(&t),
        3 => energy(&t),
        4 => aperf_mperf(&t),
        _ => readers(&t),
    }
});
