//! `sensors`: a one-shot table of every sensor Sovereign can reach on this machine, like
//! lm-sensors' `sensors`, with `--json` for scripts.
//!
//! Sources, each reported as available or with the reason it is not:
//! - CPUID (always, on x86_64): vendor, family/model, brand string;
//! - hwmon (`<sysfs>/class/hwmon`): every chip by name and device, every input with its label;
//! - MSRs (`<dev>/cpu/N/msr`, housekeeping CPU only): RAPL package energy, Intel SMI count
//!   and package temperature;
//! - SMBus adapters (`<sysfs>/class/i2c-adapter`, `<dev>/i2c-N`) with their functionality,
//!   and with `--probe` a read-only probe of the well-known sensor addresses.
//!
//! `--sim` runs the simulator's reference board (REFERENCE-BOARD.md) at steady inference
//! load, writes it as a hwmon tree in a temporary directory, and reads that tree through
//! the same hwmon code; its MSR file and SMBus segments go through the same MSR readers
//! and probe detectors.
//!
//! ```sh
//! cargo run --example sensors
//! cargo run --example sensors -- --json
//! cargo run --example sensors -- --probe --board-toml
//! cargo run --example sensors -- --sim
//! ```

#[macro_use]
#[path = "common/out.rs"]
mod out;

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;
use sovereign_hal::chips::emc230x::Emc230x;
use sovereign_hal::msr::{MsrReader, RaplUnits, ReadError, amd, intel};
use sovereign_hal::units::Duty;
use sovereign_linux::discovery::{self, AdapterInfo, CpuIdentity, DiscoveryRoots, Finding};
use sovereign_linux::hwmon::{DeviceId, Hwmon, HwmonChip, Reading, SensorKind};
use sovereign_linux::msr::LinuxMsr;
use sovereign_sim::board::{EMC2305_ADDRESS, ReferenceBoard};
use sovereign_sim::plant::{Plant, PlantParams, Workload};

/// One-shot sensor table (lm-sensors style) from hwmon, MSRs and SMBus, read-only.
#[derive(Debug, Parser)]
#[command(name = "sensors", version, about)]
struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Root of sysfs (hwmon chips, I2C adapters, bound drivers).
    #[arg(long, default_value = "/sys", value_name = "DIR")]
    sysfs_root: PathBuf,
    /// Root of device nodes (`cpu/N/msr`, `i2c-N`).
    #[arg(long, default_value = "/dev", value_name = "DIR")]
    dev_root: PathBuf,
    /// Housekeeping CPU whose MSR device is read (package-scope MSRs only).
    #[arg(long, default_value_t = 0, value_name = "N")]
    cpu: u32,
    /// Also probe the well-known SMBus sensor addresses (read-only; skips kernel-owned ones).
    #[arg(long)]
    probe: bool,
    /// Print the discovery result as a board-config skeleton (TOML) and exit.
    #[arg(long)]
    board_toml: bool,
    /// Read the simulator's reference board instead of this machine (hwmon tree written
    /// to a temporary directory, simulated MSRs and SMBus segments).
    #[arg(long)]
    sim: bool,
    /// With --sim: seconds of steady inference load to simulate before reading.
    #[arg(long, default_value_t = 300, value_name = "S", requires = "sim")]
    sim_seconds: u32,
}

/// One reading or the reason it failed.
struct Row {
    label: String,
    kind: &'static str,
    /// Value in the hwmon base unit (m°C, RPM, mV, mA, µW, µJ) as text, for JSON.
    raw: Option<String>,
    unit: &'static str,
    shown: String,
}

struct ChipRows {
    chip: HwmonChip,
    rows: Vec<Row>,
    error: Option<String>,
}

fn kind_name(k: SensorKind) -> (&'static str, &'static str) {
    match k {
        SensorKind::Temperature => ("temperature", "m°C"),
        SensorKind::Fan => ("fan", "RPM"),
        SensorKind::Voltage => ("voltage", "mV"),
        SensorKind::Current => ("current", "mA"),
        SensorKind::Power => ("power", "µW"),
        SensorKind::Energy => ("energy", "µJ"),
    }
}

fn raw_value(r: &Reading) -> String {
    match r {
        Reading::Temperature(v) => v.0.to_string(),
        Reading::Fan(v) => v.0.to_string(),
        Reading::Voltage(v) => v.0.to_string(),
        Reading::Current(v) => v.0.to_string(),
        Reading::Power(v) => v.0.to_string(),
        Reading::Energy(v) => v.0.to_string(),
    }
}

fn read_hwmon(hwmon: &Hwmon) -> Result<Vec<ChipRows>, String> {
    let chips = hwmon.chips().map_err(|e| e.to_string())?;
    Ok(chips
        .into_iter()
        .map(|chip| match chip.channels() {
            Ok(channels) => {
                let rows = channels
                    .iter()
                    .map(|c| {
                        let (kind, unit) = kind_name(c.kind);
                        match c.read() {
                            Ok(r) => Row {
                                label: c.display_name(),
                                kind,
                                raw: Some(raw_value(&r)),
                                unit,
                                shown: r.to_string(),
                            },
                            Err(e) => Row {
                                label: c.display_name(),
                                kind,
                                raw: None,
                                unit,
                                shown: format!("error: {e}"),
                            },
                        }
                    })
                    .collect();
                ChipRows {
                    chip,
                    rows,
                    error: None,
                }
            }
            Err(e) => ChipRows {
                chip,
                rows: Vec::new(),
                error: Some(e.to_string()),
            },
        })
        .collect())
}

/// An MSR-derived value: name, the MSR it came from, and the value (or why not).
struct MsrRow {
    name: &'static str,
    msr: u32,
    value: Result<MsrValue, String>,
}

/// A value read through an MSR: the number in its unit, and how a person reads it.
struct MsrValue {
    number: u64,
    unit: &'static str,
    note: Option<&'static str>,
    text: String,
}

/// Reads the package-scope MSRs this CPU vendor has, through the core's readers.
fn read_msrs<R: MsrReader>(msr: &mut R, cpu: u32, id: Option<&CpuIdentity>) -> Vec<MsrRow>
where
    R::Error: std::fmt::Display,
{
    // Show the reader's own message (it names the device and what to do).
    fn why<E: std::fmt::Display + sovereign_hal::msr::Error>(e: ReadError<E>) -> String {
        match e {
            ReadError::Msr { error, .. } => error.to_string(),
            other => other.to_string(),
        }
    }
    let mut rows = Vec::new();
    let energy = |r: Result<(u32, RaplUnits), ReadError<R::Error>>| {
        r.map(|(raw, units)| {
            let e = units.counts_to_energy(u64::from(raw));
            MsrValue {
                number: e.0,
                unit: "µJ",
                note: Some("32-bit counter, wraps"),
                text: format!("{e} (32-bit counter, wraps)"),
            }
        })
        .map_err(why)
    };
    if id.is_some_and(CpuIdentity::is_amd) {
        let v = energy(amd::read_amd_package_energy(msr, cpu));
        rows.push(MsrRow {
            name: "RAPL package energy",
            msr: amd::MSR_AMD_PKG_ENERGY_STATUS,
            value: v,
        });
    }
    if id.is_some_and(CpuIdentity::is_intel) {
        let v = energy(intel::read_intel_package_energy(msr, cpu));
        rows.push(MsrRow {
            name: "RAPL package energy",
            msr: intel::MSR_PKG_ENERGY_STATUS,
            value: v,
        });
        let v = intel::read_smi_count(msr, cpu)
            .map(|c| MsrValue {
                number: u64::from(c),
                unit: "SMIs",
                note: Some("since reset"),
                text: c.to_string(),
            })
            .map_err(why);
        rows.push(MsrRow {
            name: "SMI count since reset",
            msr: intel::MSR_SMI_COUNT,
            value: v,
        });
        // turbostat's 7-bit readout mask, valid bit required (HARDWARE.md §8).
        let v = intel::read_package_temperature(msr, cpu, intel::READOUT_MASK_7BIT, true)
            .map_err(why)
            .and_then(|t| {
                // Below 0 °C is not a package temperature a server reports; say so.
                u64::try_from(t.0)
                    .map(|number| MsrValue {
                        number,
                        unit: "m°C",
                        note: None,
                        text: t.to_string(),
                    })
                    .map_err(|_| format!("implausible package temperature {t}"))
            });
        rows.push(MsrRow {
            name: "package temperature",
            msr: intel::MSR_IA32_PACKAGE_THERM_STATUS,
            value: v,
        });
    }
    rows
}

/// The simulator's reference board, run and written out for `--sim`.
struct SimRun {
    board: ReferenceBoard<Plant>,
    tree_dir: tempfile::TempDir,
}

fn run_sim(seconds: u32) -> Result<SimRun, String> {
    let params = PlantParams::reference();
    let workload = Workload::steady_inference(&params);
    let plant = Plant::new(params, 1).map_err(|e| format!("simulator plant: {e:?}"))?;
    let mut board = ReferenceBoard::new(plant, 4);
    // Fans at full drive, as a BMC leaves them when it hands over: written through the
    // core's EMC230x driver, as the daemon would.
    let mut fans = Emc230x::new(&mut board.board_bus, EMC2305_ADDRESS);
    for fan in 0..5 {
        fans.set_duty(fan, Duty::FULL)
            .map_err(|e| format!("simulated EMC2305: {e}"))?;
    }
    for _ in 0..seconds {
        board.plant.apply_workload(&workload);
        board.step(1.0);
    }
    let tree_dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    board
        .write_hwmon(tree_dir.path(), 7)
        .map_err(|e| format!("writing the hwmon tree: {e}"))?;
    Ok(SimRun { board, tree_dir })
}

/// The simulated SMBus segments, probed with the same detectors as a real bus.
/// `owned` lists (bus, address, driver) of the chips the simulated hwmon tree shows.
fn sim_smbus(
    board: &mut ReferenceBoard<Plant>,
    owned: &[(u32, u16, String)],
) -> (Vec<AdapterInfo>, Vec<Finding>, Vec<String>) {
    let mut adapters = Vec::new();
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let segments = [
        (
            0,
            &mut board.dimm_bus_0,
            "simulated SMBus segment 0 (DIMMs A1..H1)",
        ),
        (
            1,
            &mut board.dimm_bus_1,
            "simulated SMBus segment 1 (DIMMs I1..L1)",
        ),
        (
            2,
            &mut board.board_bus,
            "simulated SMBus segment 2 (fans, VRMs, board sensors)",
        ),
    ];
    for (n, bus, name) in segments {
        let caps = sovereign_hal::smbus::Smbus::capabilities(bus);
        adapters.push(AdapterInfo {
            bus: n,
            name: Some(name.into()),
            functionality: Ok(u64::from(caps.bits())),
        });
        let owner = |a: u8| {
            owned
                .iter()
                .find(|(b, addr, _)| *b == n && *addr == u16::from(a))
                .map(|(_, _, name)| name.clone())
        };
        let (f, notes_n) = discovery::probe_addresses(bus, n, &owner);
        findings.extend(f);
        notes.extend(notes_n);
    }
    (adapters, findings, notes)
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_owned(), json_str)
}

fn cpu_line(id: Option<&CpuIdentity>, host: bool) -> String {
    match id {
        Some(c) => format!(
            "{} ({}, family {:#x}, model {:#x}, stepping {}){}",
            if c.brand.is_empty() {
                "unnamed CPU"
            } else {
                &c.brand
            },
            c.vendor,
            c.family,
            c.model,
            c.stepping,
            if host && discovery::under_hypervisor() {
                ", running under a hypervisor"
            } else {
                ""
            }
        ),
        None => "unknown (CPUID needs an x86_64 CPU)".to_owned(),
    }
}

fn main() {
    let args = Args::parse();
    let roots = DiscoveryRoots {
        sysfs: args.sysfs_root.clone(),
        dev: args.dev_root.clone(),
    };
    let mut sim = if args.sim {
        match run_sim(args.sim_seconds) {
            Ok(run) => Some(run),
            Err(e) => {
                eprintln!("sensors: --sim: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let mut disc = discovery::discover(&roots, args.probe && sim.is_none());
    let host_cpu = disc.cpu.clone();
    let (hwmon, msrs, msr_path) = match sim.as_mut() {
        Some(run) => {
            disc.cpu = Some(CpuIdentity {
                vendor: "AuthenticAMD".into(),
                family: 0x19,
                model: 0xA0,
                stepping: 0,
                brand: format!(
                    "simulated EPYC 9754-class reference board, {} s at steady inference load, fans at full drive",
                    args.sim_seconds
                ),
            });
            disc.hwmon = Hwmon::with_sysfs_root(run.tree_dir.path())
                .chips()
                .map_err(|e| e.to_string());
            // The simulated tree mirrors kernel drivers bound to these addresses, as on a
            // real host: probing reports them as owned, not as free sensors.
            let owned: Vec<(u32, u16, String)> = disc
                .hwmon
                .as_ref()
                .map(|chips| {
                    chips
                        .iter()
                        .filter_map(|c| match c.device() {
                            DeviceId::I2c { bus, address } => {
                                Some((*bus, *address, c.name().to_string()))
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let (adapters, findings, notes) = sim_smbus(&mut run.board, &owned);
            disc.adapters = Ok(adapters);
            disc.findings = findings;
            disc.notes = notes;
            let rows = read_msrs(&mut run.board.msr, args.cpu, disc.cpu.as_ref());
            (
                Hwmon::with_sysfs_root(run.tree_dir.path()),
                Ok(rows),
                PathBuf::from("(simulated MSR file)"),
            )
        }
        None => {
            let msr_path = args
                .dev_root
                .join("cpu")
                .join(args.cpu.to_string())
                .join("msr");
            let mut msr = LinuxMsr::with_root(args.dev_root.join("cpu"), args.cpu);
            // Opening first turns "module not loaded" / "not root" into one clear line.
            let rows = msr
                .open_cpu(args.cpu)
                .map(|()| read_msrs(&mut msr, args.cpu, disc.cpu.as_ref()));
            (
                Hwmon::with_sysfs_root(&args.sysfs_root),
                rows.map_err(|e| e.to_string()),
                msr_path,
            )
        }
    };
    if args.board_toml {
        out!("{}", disc.to_board_toml().trim_end_matches('\n'));
        return;
    }
    let cpu = disc.cpu.as_ref();
    let hw = read_hwmon(&hwmon);
    let show_findings = args.probe || sim.is_some();

    if args.json {
        let mut j = String::from("{");
        match cpu {
            Some(c) => {
                let _ = write!(
                    j,
                    "\"cpu\":{{\"vendor\":{},\"family\":{},\"model\":{},\"stepping\":{},\"brand\":{},\"hypervisor\":{},\"simulated\":{}}}",
                    json_str(&c.vendor),
                    c.family,
                    c.model,
                    c.stepping,
                    json_str(&c.brand),
                    sim.is_none() && discovery::under_hypervisor(),
                    sim.is_some()
                );
            }
            None => j.push_str("\"cpu\":null"),
        }
        let _ = write!(
            j,
            ",\"hwmon\":{{\"root\":{},",
            json_str(&hwmon.class_dir().display().to_string())
        );
        match &hw {
            Ok(chips) => {
                j.push_str("\"error\":null,\"chips\":[");
                for (i, c) in chips.iter().enumerate() {
                    if i > 0 {
                        j.push(',');
                    }
                    let _ = write!(
                        j,
                        "{{\"name\":{},\"lm_sensors_name\":{},\"device\":{},\"dir\":{},\"error\":{},\"readings\":[",
                        json_str(c.chip.name()),
                        json_str(&c.chip.lm_sensors_name()),
                        json_str(&c.chip.device().to_string()),
                        json_str(&c.chip.dir().display().to_string()),
                        json_opt(c.error.as_deref())
                    );
                    for (k, r) in c.rows.iter().enumerate() {
                        if k > 0 {
                            j.push(',');
                        }
                        let _ = write!(
                            j,
                            "{{\"label\":{},\"kind\":{},\"value\":{},\"unit\":{},\"error\":{}}}",
                            json_str(&r.label),
                            json_str(r.kind),
                            r.raw.as_deref().unwrap_or("null"),
                            json_str(r.unit),
                            if r.raw.is_some() {
                                "null".to_owned()
                            } else {
                                json_str(&r.shown)
                            }
                        );
                    }
                    j.push_str("]}");
                }
                j.push_str("]}");
            }
            Err(e) => {
                let _ = write!(j, "\"error\":{},\"chips\":[]}}", json_str(e));
            }
        }
        let _ = write!(
            j,
            ",\"msr\":{{\"device\":{},",
            json_str(&msr_path.display().to_string())
        );
        match &msrs {
            Ok(rows) => {
                j.push_str("\"error\":null,\"values\":[");
                for (i, r) in rows.iter().enumerate() {
                    if i > 0 {
                        j.push(',');
                    }
                    let (v, u, n, e) = match &r.value {
                        Ok(v) => (
                            v.number.to_string(),
                            json_str(v.unit),
                            json_opt(v.note),
                            "null".to_owned(),
                        ),
                        Err(e) => (
                            "null".to_owned(),
                            "null".to_owned(),
                            "null".to_owned(),
                            json_str(e),
                        ),
                    };
                    let _ = write!(
                        j,
                        "{{\"name\":{},\"msr\":{},\"value\":{v},\"unit\":{u},\"note\":{n},\"error\":{e}}}",
                        json_str(r.name),
                        r.msr
                    );
                }
                j.push_str("]}");
            }
            Err(e) => {
                let _ = write!(j, "\"error\":{},\"values\":[]}}", json_str(e));
            }
        }
        j.push_str(",\"smbus\":{");
        match &disc.adapters {
            Ok(list) => {
                j.push_str("\"error\":null,\"adapters\":[");
                for (i, a) in list.iter().enumerate() {
                    if i > 0 {
                        j.push(',');
                    }
                    let (f, e) = match &a.functionality {
                        Ok(f) => (f.to_string(), "null".to_owned()),
                        Err(e) => ("null".to_owned(), json_str(e)),
                    };
                    let _ = write!(
                        j,
                        "{{\"bus\":{},\"name\":{},\"functionality\":{f},\"smbus_only\":{},\"error\":{e}}}",
                        a.bus,
                        json_opt(a.name.as_deref()),
                        a.smbus_only().map_or("null".to_owned(), |b| b.to_string())
                    );
                }
                j.push(']');
            }
            Err(e) => {
                let _ = write!(j, "\"error\":{},\"adapters\":[]", json_str(e));
            }
        }
        j.push_str(",\"findings\":[");
        for (i, f) in disc.findings.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            let _ = write!(
                j,
                "{{\"bus\":{},\"address\":{},\"chip\":{},\"identified\":{},\"claimed_by\":{},\"detail\":{}}}",
                f.bus,
                f.address,
                json_str(f.chip),
                f.identified,
                json_opt(f.claimed_by.as_deref()),
                json_str(&f.detail)
            );
        }
        j.push_str("]}}");
        out!("{j}");
        return;
    }

    if sim.is_some() {
        out!("CPU: {}   [simulator]", cpu_line(cpu, false));
        out!("host CPU: {}   [CPUID]", cpu_line(host_cpu.as_ref(), true));
    } else {
        out!("CPU: {}   [CPUID]", cpu_line(cpu, true));
    }
    out!();
    match &hw {
        Ok(chips) if chips.is_empty() => out!(
            "hwmon: {}: no chips registered",
            hwmon.class_dir().display()
        ),
        Ok(chips) => {
            for c in chips {
                out!("{}", c.chip.lm_sensors_name());
                out!("Adapter: {} ({})", c.chip.device(), c.chip.dir().display());
                if let Some(e) = &c.error {
                    out!("  error: {e}");
                }
                for r in &c.rows {
                    let label = format!("{}:", r.label);
                    out!("{label:<14}{}", r.shown);
                }
                out!();
            }
        }
        Err(e) => out!("hwmon: unavailable: {e}"),
    }
    out!();
    out!("MSR (housekeeping CPU {}, package-scope only):", args.cpu);
    match &msrs {
        Ok(rows) if rows.is_empty() => out!(
            "  {}: open, but no known MSRs for this CPU vendor",
            msr_path.display()
        ),
        Ok(rows) => {
            for r in rows {
                match &r.value {
                    Ok(v) => out!(
                        "  {:<24}{}   [MSR {:#x}]",
                        format!("{}:", r.name),
                        v.text,
                        r.msr
                    ),
                    Err(e) => out!("  {:<24}unavailable: {e}", format!("{}:", r.name)),
                }
            }
        }
        Err(e) => out!("  unavailable: {e}"),
    }
    out!();
    out!("SMBus:");
    match &disc.adapters {
        Ok(list) if list.is_empty() => out!("  no adapters registered"),
        Ok(list) => {
            for a in list {
                let name = a.name.as_deref().unwrap_or("(unnamed)");
                match &a.functionality {
                    Ok(f) => {
                        let only = if a.smbus_only() == Some(true) {
                            ", SMBus only"
                        } else {
                            ""
                        };
                        let missing = a.missing();
                        let lacks = if missing.is_empty() {
                            String::new()
                        } else {
                            format!("; lacks {}", missing.join(", "))
                        };
                        out!(
                            "  i2c-{}: {name}: functionality {f:#010x}{only}{lacks}",
                            a.bus
                        );
                    }
                    Err(e) => out!("  i2c-{}: {name}: {e}", a.bus),
                }
            }
        }
        Err(e) => out!("  unavailable: {e}"),
    }
    if show_findings {
        let no_adapters = disc.adapters.as_ref().map_or(true, |a| a.is_empty());
        if no_adapters {
            out!("  probe: skipped: no SMBus adapters to probe");
        } else if disc.findings.is_empty() {
            out!("  probe: nothing identified at the well-known addresses");
        }
        for f in &disc.findings {
            let how = if f.claimed_by.is_some() {
                "kernel-owned"
            } else if f.identified {
                "identified"
            } else {
                "candidate"
            };
            out!(
                "  i2c-{} {:#04x}: {} ({how}): {}",
                f.bus,
                f.address,
                f.chip,
                f.detail
            );
        }
        for n in &disc.notes {
            out!("  note: {n}");
        }
    }
    let nothing_here = hw.as_ref().map_or(true, |c| c.is_empty())
        && msrs.as_ref().map_or(true, |r| r.is_empty())
        && disc.adapters.as_ref().map_or(true, |a| a.is_empty());
    if nothing_here && sim.is_none() {
        out!();
        out!(
            "Nothing readable on this machine (a VM, or no sensor drivers). To see what \
             Sovereign reads on a server: cargo run --example sensors -- --sim"
        );
    }
}
