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
//! ```sh
//! cargo run --example sensors
//! cargo run --example sensors -- --json
//! cargo run --example sensors -- --probe --board-toml
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;
use sovereign_hal::msr::MsrReader;
use sovereign_linux::discovery::{self, CpuIdentity, DiscoveryRoots};
use sovereign_linux::hwmon::{Hwmon, HwmonChip, Reading, SensorKind};
use sovereign_linux::msr::LinuxMsr;

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

/// An MSR-derived value: name, value text, and the MSR it came from.
struct MsrRow {
    name: &'static str,
    msr: u32,
    value: Result<String, String>,
}

/// µJ from a 32-bit RAPL energy count and the energy-status unit (bits 12:8 of the unit
/// register): counts × 10⁶ / 2^ESU, floored (HARDWARE.md §7).
fn rapl_microjoules(count: u64, unit_reg: u64) -> u64 {
    let esu = (unit_reg >> 8) & 0x1F;
    let counts = u128::from(count & 0xFFFF_FFFF);
    u64::try_from((counts * 1_000_000) >> esu).unwrap_or(u64::MAX)
}

fn read_msrs(
    dev_root: &std::path::Path,
    cpu: u32,
    id: Option<&CpuIdentity>,
) -> Result<Vec<MsrRow>, String> {
    let mut msr = LinuxMsr::with_root(dev_root.join("cpu"), cpu);
    // Opening first turns "module not loaded" / "not root" into one clear line.
    msr.open_cpu(cpu).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let amd = id.is_some_and(CpuIdentity::is_amd);
    let intel = id.is_some_and(CpuIdentity::is_intel);
    // HARDWARE.md §7: AMD unit 0xC0010299 / package energy 0xC001029B; Intel 0x606 / 0x611.
    let (unit_msr, energy_msr) = if amd {
        (0xC001_0299, 0xC001_029B)
    } else {
        (0x606, 0x611)
    };
    if amd || intel {
        let energy = msr
            .read_msr(cpu, unit_msr)
            .and_then(|u| msr.read_msr(cpu, energy_msr).map(|e| (u, e)))
            .map(|(u, e)| {
                let uj = rapl_microjoules(e, u);
                format!(
                    "{}.{:06} J (32-bit counter, wraps)",
                    uj / 1_000_000,
                    uj % 1_000_000
                )
            })
            .map_err(|e| e.to_string());
        rows.push(MsrRow {
            name: "RAPL package energy",
            msr: energy_msr,
            value: energy,
        });
    }
    if intel {
        // HARDWARE.md §8: MSR_SMI_COUNT low 32 bits.
        let smi = sovereign_linux::smi::read_intel_smi_count(&mut msr, cpu)
            .map(|c| c.to_string())
            .map_err(|e| e.to_string());
        rows.push(MsrRow {
            name: "SMI count since reset",
            msr: 0x34,
            value: smi,
        });
        // HARDWARE.md §8: package temperature = TjMax (0x1A2 bits 23:16) − readout
        // (0x1B1 bits 22:16, the 7-bit mask turbostat uses).
        let temp = msr
            .read_msr(cpu, 0x1A2)
            .and_then(|t| msr.read_msr(cpu, 0x1B1).map(|s| (t, s)))
            .map(|(target, status)| {
                let tjmax = i64::try_from((target >> 16) & 0xFF).unwrap_or(0);
                let below = i64::try_from((status >> 16) & 0x7F).unwrap_or(0);
                format!("+{}.0 °C (TjMax {tjmax} °C)", tjmax - below)
            })
            .map_err(|e| e.to_string());
        rows.push(MsrRow {
            name: "package temperature",
            msr: 0x1B1,
            value: temp,
        });
    }
    Ok(rows)
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

fn cpu_line(id: Option<&CpuIdentity>) -> String {
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
            if discovery::under_hypervisor() {
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
    let disc = discovery::discover(&roots, args.probe);
    if args.board_toml {
        print!("{}", disc.to_board_toml());
        return;
    }
    let cpu = disc.cpu.as_ref();
    let hwmon = Hwmon::with_sysfs_root(&args.sysfs_root);
    let hw = read_hwmon(&hwmon);
    let msr_path = args
        .dev_root
        .join("cpu")
        .join(args.cpu.to_string())
        .join("msr");
    let msrs = read_msrs(&args.dev_root, args.cpu, cpu);

    if args.json {
        let mut j = String::from("{");
        match cpu {
            Some(c) => {
                let _ = write!(
                    j,
                    "\"cpu\":{{\"vendor\":{},\"family\":{},\"model\":{},\"stepping\":{},\"brand\":{},\"hypervisor\":{}}}",
                    json_str(&c.vendor),
                    c.family,
                    c.model,
                    c.stepping,
                    json_str(&c.brand),
                    discovery::under_hypervisor()
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
                    let (v, e) = match &r.value {
                        Ok(v) => (json_str(v), "null".to_owned()),
                        Err(e) => ("null".to_owned(), json_str(e)),
                    };
                    let _ = write!(
                        j,
                        "{{\"name\":{},\"msr\":{},\"value\":{v},\"error\":{e}}}",
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
        println!("{j}");
        return;
    }

    println!("CPU: {}   [CPUID]", cpu_line(cpu));
    println!();
    match &hw {
        Ok(chips) if chips.is_empty() => println!(
            "hwmon: {}: no chips registered",
            hwmon.class_dir().display()
        ),
        Ok(chips) => {
            for c in chips {
                println!("{}", c.chip.lm_sensors_name());
                println!("Adapter: {} ({})", c.chip.device(), c.chip.dir().display());
                if let Some(e) = &c.error {
                    println!("  error: {e}");
                }
                for r in &c.rows {
                    let label = format!("{}:", r.label);
                    println!("{label:<14}{}", r.shown);
                }
                println!();
            }
        }
        Err(e) => println!("hwmon: unavailable: {e}"),
    }
    println!();
    println!("MSR (housekeeping CPU {}, package-scope only):", args.cpu);
    match &msrs {
        Ok(rows) if rows.is_empty() => println!(
            "  {}: open, but no known MSRs for this CPU vendor",
            msr_path.display()
        ),
        Ok(rows) => {
            for r in rows {
                match &r.value {
                    Ok(v) => println!("  {:<24}{v}   [MSR {:#x}]", format!("{}:", r.name), r.msr),
                    Err(e) => println!("  {:<24}unavailable: {e}", format!("{}:", r.name)),
                }
            }
        }
        Err(e) => println!("  unavailable: {e}"),
    }
    println!();
    println!("SMBus:");
    match &disc.adapters {
        Ok(list) if list.is_empty() => println!("  no adapters registered"),
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
                        println!(
                            "  i2c-{}: {name}: functionality {f:#010x}{only}{lacks}",
                            a.bus
                        );
                    }
                    Err(e) => println!("  i2c-{}: {name}: {e}", a.bus),
                }
            }
        }
        Err(e) => println!("  unavailable: {e}"),
    }
    if args.probe {
        if disc.findings.is_empty() {
            println!("  probe: nothing identified at the well-known addresses");
        }
        for f in &disc.findings {
            let how = if f.claimed_by.is_some() {
                "kernel-owned"
            } else if f.identified {
                "identified"
            } else {
                "candidate"
            };
            println!(
                "  i2c-{} {:#04x}: {} ({how}): {}",
                f.bus, f.address, f.chip, f.detail
            );
        }
        for n in &disc.notes {
            println!("  note: {n}");
        }
    }
}
