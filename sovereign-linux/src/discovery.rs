//! What is in this machine: CPU identity (CPUID), SMBus adapters and what they can do,
//! which addresses kernel drivers own, read-only probing of the well-known sensor
//! addresses, and hwmon chips — printable as a board-config skeleton (TOML).
//!
//! Everything here is read-only. CPUID is unprivileged. Adapter functionality needs
//! `/dev/i2c-N` (`modprobe i2c-dev`) but no address. Probing opens one handle per
//! address, skips every address a kernel driver owns (sysfs `driver` link; EBUSY as a
//! second guard), and reads identification registers through [`probe::ProbeBus`], which
//! cannot write.

pub mod probe;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sovereign_hal::smbus::Capabilities;

use crate::hwmon::{Hwmon, HwmonChip};
use crate::i2c::{I2cBus, I2cOpen, bound_driver, capability_name};
use probe::{Probe, ProbeBus, detectors};

/// The CPU as CPUID names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuIdentity {
    /// Vendor string (`AuthenticAMD`, `GenuineIntel`).
    pub vendor: String,
    /// Display family (base + extended when base is 0xF).
    pub family: u32,
    /// Display model (extended model added for families 0x6 and 0xF).
    pub model: u32,
    /// Stepping.
    pub stepping: u32,
    /// Brand string, trimmed (empty if the CPU has none).
    pub brand: String,
}

impl CpuIdentity {
    /// True for AMD (and Hygon, which shares the Zen PMU).
    pub fn is_amd(&self) -> bool {
        self.vendor == "AuthenticAMD" || self.vendor == "HygonGenuine"
    }
    /// True for Intel.
    pub fn is_intel(&self) -> bool {
        self.vendor == "GenuineIntel"
    }
}

/// Decodes CPUID leaf 0 (`ebx, edx, ecx` = vendor), leaf 1 `eax` (signature) and leaves
/// 0x8000_0002..4 (`[eax, ebx, ecx, edx]` each = brand string).
pub fn decode_cpuid(
    vendor_regs: [u32; 3],
    signature: u32,
    brand_regs: Option<[[u32; 4]; 3]>,
) -> CpuIdentity {
    let mut vendor = Vec::with_capacity(12);
    for r in vendor_regs {
        vendor.extend_from_slice(&r.to_le_bytes());
    }
    let base_family = (signature >> 8) & 0xF;
    let ext_family = (signature >> 20) & 0xFF;
    let base_model = (signature >> 4) & 0xF;
    let ext_model = (signature >> 16) & 0xF;
    let family = if base_family == 0xF {
        base_family + ext_family
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xF {
        (ext_model << 4) | base_model
    } else {
        base_model
    };
    let brand = brand_regs
        .map(|leaves| {
            let mut bytes = Vec::with_capacity(48);
            for leaf in leaves {
                for r in leaf {
                    bytes.extend_from_slice(&r.to_le_bytes());
                }
            }
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(bytes.get(..end).unwrap_or(&[]))
                .trim()
                .to_owned()
        })
        .unwrap_or_default();
    CpuIdentity {
        vendor: String::from_utf8_lossy(&vendor)
            .trim_end_matches('\0')
            .to_owned(),
        family,
        model,
        stepping: signature & 0xF,
        brand,
    }
}

/// This CPU's identity, by the CPUID instruction (unprivileged). `None` off x86_64.
#[cfg(target_arch = "x86_64")]
pub fn cpu_identity() -> Option<CpuIdentity> {
    use core::arch::x86_64::__cpuid;
    let leaf0 = __cpuid(0);
    let signature = if leaf0.eax >= 1 { __cpuid(1).eax } else { 0 };
    let max_ext = __cpuid(0x8000_0000).eax;
    let brand = (max_ext >= 0x8000_0004).then(|| {
        [0x8000_0002u32, 0x8000_0003, 0x8000_0004].map(|l| {
            let r = __cpuid(l);
            [r.eax, r.ebx, r.ecx, r.edx]
        })
    });
    Some(decode_cpuid(
        [leaf0.ebx, leaf0.edx, leaf0.ecx],
        signature,
        brand,
    ))
}

/// Not available off x86_64.
#[cfg(not(target_arch = "x86_64"))]
pub fn cpu_identity() -> Option<CpuIdentity> {
    None
}

/// True when CPUID says a hypervisor runs this system (leaf 1, ECX bit 31): SMIs are then
/// the host's business and TSC gaps include hypervisor exits.
#[cfg(target_arch = "x86_64")]
pub fn under_hypervisor() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 31) != 0
}

/// Not known off x86_64.
#[cfg(not(target_arch = "x86_64"))]
pub fn under_hypervisor() -> bool {
    false
}

/// An SMBus/I2C adapter from sysfs, with its functionality when `/dev/i2c-N` could be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterInfo {
    /// N of `i2c-N`.
    pub bus: u32,
    /// The adapter's name.
    pub name: Option<String>,
    /// `I2C_FUNCS`, or why it could not be read.
    pub functionality: Result<u64, String>,
}

impl AdapterInfo {
    /// True when the adapter has no raw I2C (`i2c-piix4`, `i2c-stub`); `None` if unknown.
    pub fn smbus_only(&self) -> Option<bool> {
        self.functionality
            .as_ref()
            .ok()
            .map(|f| f & u64::from(Capabilities::I2C.bits()) == 0)
    }
    /// The SMBus capabilities the adapter lacks among PEC, I2C block read and raw I2C.
    pub fn missing(&self) -> Vec<&'static str> {
        let Ok(f) = self.functionality else {
            return Vec::new();
        };
        let caps = Capabilities::from_bits_truncate(u32::try_from(f & 0xFFFF_FFFF).unwrap_or(0));
        [
            Capabilities::I2C,
            Capabilities::PEC,
            Capabilities::READ_I2C_BLOCK,
        ]
        .into_iter()
        .filter(|c| !caps.contains(*c))
        .map(capability_name)
        .collect()
    }
}

/// The adapters under `<sysfs>/class/i2c-adapter` (or `<sysfs>/bus/i2c/devices/i2c-N`), by
/// bus number. `Err` says why there is nothing to list.
pub fn list_adapters(opener: &I2cOpen, sysfs_root: &Path) -> Result<Vec<AdapterInfo>, String> {
    let dirs = [
        sysfs_root.join("class/i2c-adapter"),
        sysfs_root.join("bus/i2c/devices"),
    ];
    let Some(entries) = dirs.iter().find_map(|d| std::fs::read_dir(d).ok()) else {
        return Err(format!(
            "{} is missing: this kernel has no I2C/SMBus adapters registered (no i2c-piix4/i2c-i801 loaded, or a VM)",
            dirs[0].display()
        ));
    };
    let mut buses: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("i2c-")?.parse().ok())
        .collect();
    buses.sort_unstable();
    buses.dedup();
    Ok(buses
        .into_iter()
        .map(|bus| {
            let functionality = I2cBus::open_with(opener.clone(), crate::i2c::RealI2cSys, bus)
                .map(|b| b.functionality())
                .map_err(|e| e.to_string());
            AdapterInfo {
                bus,
                name: opener.adapter_name(bus),
                functionality,
            }
        })
        .collect())
}

/// One finding at one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Bus number.
    pub bus: u32,
    /// 7-bit address.
    pub address: u8,
    /// Chip family (Linux driver name).
    pub chip: &'static str,
    /// What identified it, or why it is only a candidate.
    pub detail: String,
    /// True when identified by ID registers; false for a candidate.
    pub identified: bool,
    /// The kernel driver that owns the address, if any: read it through hwmon.
    pub claimed_by: Option<String>,
}

/// Probes the well-known addresses on `/dev/i2c-<bus>`, read-only. Addresses a kernel
/// driver owns (sysfs `driver` link) are not touched; they are reported with the owner.
/// Returns the findings and notes on what could not be probed.
pub fn probe_bus(opener: &I2cOpen, sysfs_root: &Path, bus: u32) -> (Vec<Finding>, Vec<String>) {
    match I2cBus::open_with(opener.clone(), crate::i2c::RealI2cSys, bus) {
        Ok(mut handle) => probe_addresses(&mut handle, bus, &|a| bound_driver(sysfs_root, bus, a)),
        Err(e) => (Vec::new(), vec![e.to_string()]),
    }
}

/// Probes the well-known addresses on any read-only bus view (a real `I2cBus`, a
/// simulated bus). `owner(address)` names the kernel driver that owns an address; such
/// addresses are reported and never read.
pub fn probe_addresses(
    bus: &mut dyn ProbeBus,
    bus_number: u32,
    owner: &dyn Fn(u8) -> Option<String>,
) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut done: Vec<u8> = Vec::new();
    for det in detectors() {
        for &address in det.addresses {
            if done.contains(&address) {
                continue;
            }
            let found = |chip, detail, identified, claimed_by| Finding {
                bus: bus_number,
                address,
                chip,
                detail,
                identified,
                claimed_by,
            };
            if let Some(driver) = owner(address) {
                done.push(address);
                let detail = format!("claimed by kernel driver {driver}: read it through hwmon");
                findings.push(found(det.chip, detail, false, Some(driver)));
                continue;
            }
            match (det.detect)(bus, address) {
                Probe::Identified { chip, detail } => {
                    done.push(address);
                    findings.push(found(chip, detail, true, None));
                }
                Probe::Candidate { chip, detail } => {
                    done.push(address);
                    findings.push(found(chip, detail, false, None));
                }
                Probe::Claimed(message) => {
                    done.push(address);
                    findings.push(found(
                        det.chip,
                        message,
                        false,
                        Some("a kernel driver".into()),
                    ));
                }
                Probe::Absent => done.push(address),
                Probe::Mismatch { .. } => {} // another family may claim this address
                Probe::Failed(why) => {
                    notes.push(format!(
                        "i2c-{bus_number} {address:#04x} ({}): {why}",
                        det.chip
                    ));
                }
            }
        }
    }
    findings.sort_by_key(|f| f.address);
    (findings, notes)
}

/// Everything discovery found, plus why each missing source is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// CPUID identity.
    pub cpu: Option<CpuIdentity>,
    /// SMBus adapters, or why there are none.
    pub adapters: Result<Vec<AdapterInfo>, String>,
    /// Probe findings.
    pub findings: Vec<Finding>,
    /// hwmon chips, or why there are none.
    pub hwmon: Result<Vec<HwmonChip>, String>,
    /// What could not be looked at, and why.
    pub notes: Vec<String>,
}

/// Where to look.
#[derive(Debug, Clone)]
pub struct DiscoveryRoots {
    /// sysfs root (default `/sys`).
    pub sysfs: PathBuf,
    /// device root (default `/dev`).
    pub dev: PathBuf,
}

impl Default for DiscoveryRoots {
    fn default() -> Self {
        Self {
            sysfs: crate::i2c::DEFAULT_SYSFS_ROOT.into(),
            dev: crate::i2c::DEFAULT_DEV_ROOT.into(),
        }
    }
}

/// Runs discovery. With `probe`, every adapter whose `/dev/i2c-N` opens is probed
/// (read-only); without, adapters are only listed.
pub fn discover(roots: &DiscoveryRoots, probe: bool) -> Discovery {
    let opener = I2cOpen::new().dev_root(&roots.dev).sysfs_root(&roots.sysfs);
    let adapters = list_adapters(&opener, &roots.sysfs);
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    if probe {
        if let Ok(list) = &adapters {
            for a in list.iter().filter(|a| a.functionality.is_ok()) {
                let (f, n) = probe_bus(&opener, &roots.sysfs, a.bus);
                findings.extend(f);
                notes.extend(n);
            }
        }
    }
    let hwmon = Hwmon::with_sysfs_root(&roots.sysfs)
        .chips()
        .map_err(|e| e.to_string());
    Discovery {
        cpu: cpu_identity(),
        adapters,
        findings,
        hwmon,
        notes,
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7F => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Discovery {
    /// The findings as a board-config skeleton: TOML for a person to review and complete.
    pub fn to_board_toml(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "# Board configuration skeleton written by Sovereign discovery (read-only)."
        );
        let _ = writeln!(
            t,
            "# Review every entry; \"candidate\" entries were not identified by ID registers."
        );
        if let Some(cpu) = &self.cpu {
            let _ = writeln!(t, "\n[cpu]");
            let _ = writeln!(t, "vendor = {}", toml_str(&cpu.vendor));
            let _ = writeln!(t, "family = {:#x}", cpu.family);
            let _ = writeln!(t, "model = {:#x}", cpu.model);
            let _ = writeln!(t, "brand = {}", toml_str(&cpu.brand));
        }
        match &self.adapters {
            Ok(list) => {
                for a in list {
                    let _ = writeln!(t, "\n[[smbus]]");
                    let _ = writeln!(t, "bus = {}", a.bus);
                    if let Some(n) = &a.name {
                        let _ = writeln!(t, "name = {}", toml_str(n));
                    }
                    match &a.functionality {
                        Ok(f) => {
                            let _ = writeln!(t, "functionality = {f:#010x}");
                            let _ = writeln!(
                                t,
                                "smbus_only = {}",
                                f & u64::from(Capabilities::I2C.bits()) == 0
                            );
                        }
                        Err(e) => {
                            let _ =
                                writeln!(t, "# functionality unknown: {}", e.replace('\n', " "));
                        }
                    }
                }
            }
            Err(why) => {
                let _ = writeln!(t, "\n# no SMBus adapters: {why}");
            }
        }
        for f in &self.findings {
            let _ = writeln!(t, "\n[[sensor]]");
            let _ = writeln!(t, "chip = {}", toml_str(f.chip));
            let _ = writeln!(t, "bus = {}", f.bus);
            let _ = writeln!(t, "address = {:#04x}", f.address);
            let source = if f.claimed_by.is_some() {
                "hwmon"
            } else {
                "smbus"
            };
            let _ = writeln!(t, "source = {}", toml_str(source));
            let status = if f.identified {
                "identified"
            } else {
                "candidate"
            };
            let _ = writeln!(
                t,
                "status = {}",
                toml_str(if f.claimed_by.is_some() {
                    "kernel"
                } else {
                    status
                })
            );
            let _ = writeln!(t, "# {}", f.detail.replace('\n', " "));
        }
        match &self.hwmon {
            Ok(chips) => {
                for c in chips {
                    let _ = writeln!(t, "\n[[hwmon]]");
                    let _ = writeln!(t, "name = {}", toml_str(c.name()));
                    let _ = writeln!(t, "device = {}", toml_str(&c.device().to_string()));
                }
            }
            Err(why) => {
                let _ = writeln!(t, "\n# no hwmon chips: {}", why.replace('\n', " "));
            }
        }
        for n in &self.notes {
            let _ = writeln!(t, "# note: {}", n.replace('\n', " "));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::Fake;

    fn regs(s: &[u8; 12]) -> [u32; 3] {
        [0, 4, 8].map(|i| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]))
    }

    #[test]
    fn cpuid_signatures_decode_to_the_family_and_model_the_kernel_uses() {
        // EPYC Milan: family 0xF + ext 0xA = 0x19, model 0x01 (HARDWARE.md §6 table).
        let milan = decode_cpuid(regs(b"AuthenticAMD"), 0x00A0_0F11, None);
        assert_eq!(
            (
                milan.vendor.as_str(),
                milan.family,
                milan.model,
                milan.stepping
            ),
            ("AuthenticAMD", 0x19, 0x01, 1)
        );
        assert!(milan.is_amd());
        // Genoa: 19h model 11h; Rome: 17h model 31h.
        assert_eq!(
            decode_cpuid(regs(b"AuthenticAMD"), 0x00A1_0F11, None).model,
            0x11
        );
        let rome = decode_cpuid(regs(b"AuthenticAMD"), 0x0083_0F10, None);
        assert_eq!((rome.family, rome.model), (0x17, 0x31));
        // Intel family 6: the extended model counts, the extended family does not.
        let spr = decode_cpuid(regs(b"GenuineIntel"), 0x0008_06F8, None);
        assert_eq!((spr.family, spr.model), (6, 0x8F));
        assert!(spr.is_intel());
    }

    #[test]
    fn the_brand_string_stops_at_nul_and_is_trimmed() {
        let mut b = [0u8; 48];
        let s = b"  AMD EPYC 7763 64-Core Processor";
        b[..s.len()].copy_from_slice(s);
        let leaves = [0, 1, 2].map(|l| {
            [0, 1, 2, 3].map(|r| u32::from_le_bytes(b[l * 16 + r * 4..][..4].try_into().unwrap()))
        });
        assert_eq!(
            decode_cpuid([0; 3], 0, Some(leaves)).brand,
            "AMD EPYC 7763 64-Core Processor"
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn this_cpu_has_a_vendor() {
        let id = cpu_identity().unwrap();
        assert!(!id.vendor.is_empty());
    }

    #[test]
    fn probing_skips_kernel_owned_addresses_and_never_writes() {
        let t = tempfile::tempdir().unwrap();
        // jc42 bound at 0x18 in sysfs.
        let client = t.path().join("bus/i2c/devices/0-0018");
        std::fs::create_dir_all(&client).unwrap();
        std::os::unix::fs::symlink("../../../../bus/i2c/drivers/jc42", client.join("driver"))
            .unwrap();
        let fake = Fake::adapter(0x037F_0000)
            .with_be_words(0x18, &[(0x00, 0x0067), (0x06, 0x0054), (0x07, 0x2201)])
            .with_be_words(0x1A, &[(0x00, 0x0067), (0x06, 0x0054), (0x07, 0x2201)])
            .with_device(0x2D, &[(0xFE, 0x5D), (0xFD, 0x34)]);
        let mut bus =
            I2cBus::open_with(I2cOpen::new().sysfs_root(t.path()), fake.clone(), 0).unwrap();
        let root = t.path().to_owned();
        let (findings, notes) = probe_addresses(&mut bus, 0, &|a| bound_driver(&root, 0, a));
        let summary: Vec<(u8, &str, bool, Option<&str>)> = findings
            .iter()
            .map(|f| (f.address, f.chip, f.identified, f.claimed_by.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0x18, "jc42", false, Some("jc42")),
                (0x1A, "jc42", true, None),
                (0x2D, "emc2305", true, None)
            ]
        );
        let s = fake.0.borrow();
        assert!(
            s.transfers.iter().all(|t| t.0 == crate::i2c::SMBUS_READ),
            "probing never writes"
        );
        // The owned address was never opened with I2C_SLAVE: no transfer reached it.
        assert!(!s.fd_address.contains(&Some(0x18)));
        drop(s);

        let d = Discovery {
            cpu: Some(decode_cpuid(regs(b"AuthenticAMD"), 0x00A0_0F11, None)),
            adapters: Ok(vec![AdapterInfo {
                bus: 0,
                name: Some("SMBus PIIX4 adapter port 0 at 0b00".into()),
                functionality: Ok(0x037F_0000),
            }]),
            findings,
            hwmon: Err("none".into()),
            notes,
        };
        let toml = d.to_board_toml();
        assert!(toml.contains("family = 0x19"), "{toml}");
        assert!(toml.contains("smbus_only = true"), "{toml}");
        assert!(
            toml.contains("address = 0x1a\nsource = \"smbus\"\nstatus = \"identified\""),
            "{toml}"
        );
        assert!(
            toml.contains("address = 0x18\nsource = \"hwmon\"\nstatus = \"kernel\""),
            "{toml}"
        );
        assert_eq!(
            d.adapters.unwrap()[0].missing(),
            vec![
                "I2C_FUNC_I2C",
                "I2C_FUNC_SMBUS_PEC",
                "I2C_FUNC_SMBUS_READ_I2C_BLOCK"
            ]
        );
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }

    #[test]
    fn no_adapters_in_sysfs_says_why() {
        let t = tempfile::tempdir().unwrap();
        let e = list_adapters(&I2cOpen::new(), t.path()).unwrap_err();
        assert!(e.contains("no I2C/SMBus adapters"), "{e}");
    }
}
