//! Writes a simulated board as a Linux hwmon sysfs tree under a root directory, so the
//! Linux binding's hwmon backend (and node_exporter, for benchmarks) read the same board
//! from files.
//!
//! Shape, as real sysfs has it (REFERENCE-BOARD.md):
//!
//! ```text
//! <root>/class/hwmon/hwmonN -> ../../devices/<device>/hwmon/hwmonN
//! <root>/devices/<device>/hwmon/hwmonN/{name,temp1_input,temp1_label,...}
//! <root>/devices/<device>/hwmon/hwmonN/device -> ../..
//! <root>/devices/<device>/name                  (I2C clients only: the client name)
//! ```
//!
//! with `<device>` an I2C client such as `pci0000:00/0000:00:14.0/i2c-0/0-0050` or, for
//! k10temp, the PCI function `pci0000:00/0000:00:18.3`. Values are in hwmon units
//! (m°C, RPM, mV, mA, µW), one value per file with a trailing newline.
//!
//! Every value file is replaced atomically (written to a temporary file, then renamed),
//! so a reader never sees a half-written number. The hwmonN numbers are a permutation
//! chosen by a boot seed ([`HwmonTree::reboot`]): the kernel numbers hwmon devices in
//! probe order, which is not stable between boots, and tests use this to prove that a
//! reader finds chips by name and device path, never by N.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fault::SplitMix64;

/// One hwmon device: its `name`, where its parent device sits, and its attribute files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwmonChip {
    /// The hwmon `name` attribute (the driver's name, or the I2C client name).
    pub name: String,
    /// Parent device path below `<root>/devices/`.
    pub device: String,
    /// For I2C clients, the client name written to `<device>/name`.
    pub client_name: Option<String>,
    /// Attribute files and their contents (without the trailing newline).
    pub attributes: Vec<(String, String)>,
}

/// The parent path of the FCH SMBus controller (`i2c-piix4`, PCI 00:14.0 on AMD).
pub const PIIX4_PCI: &str = "pci0000:00/0000:00:14.0";
/// The PCI function k10temp binds to (data-fabric function 3 of node 0, 00:18.3;
/// HARDWARE.md §6: node n = PCI device 0x18 + n).
pub const K10TEMP_PCI: &str = "pci0000:00/0000:00:18.3";

/// The device path of an I2C client: `<adapter_parent>/i2c-<bus>/<bus>-<addr:04x>`.
pub fn i2c_device_path(adapter_parent: &str, bus: u32, address: u8) -> String {
    format!("{adapter_parent}/i2c-{bus}/{bus}-{address:04x}")
}

fn attr(name: impl Into<String>, value: impl ToString) -> (String, String) {
    (name.into(), value.to_string())
}

impl HwmonChip {
    /// k10temp: `temp1` = Tctl, `temp3..temp10` = Tccd1..Tccd8 (k10temp numbers CCD i as
    /// channel i + 2, after Tctl and Tdie; EPYC has no Tdie, HARDWARE.md §6). m°C.
    pub fn k10temp(tctl_mc: i64, tccd_mc: &[i64]) -> Self {
        let mut attributes = vec![attr("temp1_input", tctl_mc), attr("temp1_label", "Tctl")];
        for (i, t) in tccd_mc.iter().enumerate() {
            attributes.push(attr(format!("temp{}_input", i + 3), t));
            attributes.push(attr(
                format!("temp{}_label", i + 3),
                format!("Tccd{}", i + 1),
            ));
        }
        Self {
            name: "k10temp".into(),
            device: K10TEMP_PCI.into(),
            client_name: None,
            attributes,
        }
    }

    /// spd5118 at `device`: temperature and limits in m°C.
    pub fn spd5118(device: String, temp_mc: i64, max_mc: i64, crit_mc: i64) -> Self {
        Self {
            name: "spd5118".into(),
            device,
            client_name: Some("spd5118".into()),
            attributes: vec![
                attr("temp1_input", temp_mc),
                attr("temp1_max", max_mc),
                attr("temp1_crit", crit_mc),
                attr("temp1_max_alarm", u8::from(temp_mc > max_mc)),
                attr("temp1_crit_alarm", u8::from(temp_mc > crit_mc)),
            ],
        }
    }

    /// emc2305 at `device`: `fanN_input` (RPM), `pwmN` (0..255), `fanN_fault`.
    pub fn emc2305(device: String, rpm: &[u32], pwm: &[u8], fault: &[bool]) -> Self {
        let mut attributes = Vec::new();
        for (i, r) in rpm.iter().enumerate() {
            attributes.push(attr(format!("fan{}_input", i + 1), r));
            attributes.push(attr(
                format!("fan{}_fault", i + 1),
                u8::from(fault.get(i).copied().unwrap_or(false)),
            ));
        }
        for (i, p) in pwm.iter().enumerate() {
            attributes.push(attr(format!("pwm{}", i + 1), p));
        }
        Self {
            name: "emc2305".into(),
            device,
            client_name: Some("emc2305".into()),
            attributes,
        }
    }

    /// A generic `pmbus` client at `device`, with the attribute names and labels the
    /// PMBus core gives them: in1 = vin, in2 = vout1, curr1 = iout1, temp1, power1 = pin,
    /// power2 = pout1. Units mV, mA, m°C, µW.
    pub fn pmbus(device: String, r: &PmbusReadings) -> Self {
        Self {
            name: "pmbus".into(),
            device,
            client_name: Some("pmbus".into()),
            attributes: vec![
                attr("in1_input", r.vin_mv),
                attr("in1_label", "vin"),
                attr("in2_input", r.vout_mv),
                attr("in2_label", "vout1"),
                attr("curr1_input", r.iout_ma),
                attr("curr1_label", "iout1"),
                attr("temp1_input", r.temp_mc),
                attr("power1_input", r.pin_uw),
                attr("power1_label", "pin"),
                attr("power2_input", r.pout_uw),
                attr("power2_label", "pout1"),
            ],
        }
    }

    /// A TMP75 bound by the kernel's lm75 driver at `device`. The hwmon name is the I2C
    /// client name, `tmp75`: lm75.c registers its hwmon device with `client->name`.
    pub fn tmp75(device: String, temp_mc: i64, max_mc: i64, hyst_mc: i64) -> Self {
        Self {
            name: "tmp75".into(),
            device,
            client_name: Some("tmp75".into()),
            attributes: vec![
                attr("temp1_input", temp_mc),
                attr("temp1_max", max_mc),
                attr("temp1_max_hyst", hyst_mc),
            ],
        }
    }
}

/// What one PMBus rail shows in hwmon units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PmbusReadings {
    /// Input voltage, mV.
    pub vin_mv: i64,
    /// Output voltage, mV.
    pub vout_mv: i64,
    /// Output current, mA.
    pub iout_ma: i64,
    /// Temperature, m°C.
    pub temp_mc: i64,
    /// Input power, µW.
    pub pin_uw: i64,
    /// Output power, µW.
    pub pout_uw: i64,
}

/// A hwmon tree on disk.
#[derive(Debug)]
pub struct HwmonTree {
    root: PathBuf,
    /// hwmon number per chip device path, in the order chips were given.
    numbers: Vec<(String, u32)>,
}

impl HwmonTree {
    /// Writes `chips` under `root` with hwmon numbers chosen by `boot_seed`.
    pub fn create(root: &Path, chips: &[HwmonChip], boot_seed: u64) -> io::Result<Self> {
        let mut tree = Self {
            root: root.to_path_buf(),
            numbers: Vec::new(),
        };
        tree.boot(chips, boot_seed)?;
        Ok(tree)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The hwmon number of the chip whose parent device is `device`.
    pub fn hwmon_number(&self, device: &str) -> Option<u32> {
        self.numbers
            .iter()
            .find(|(d, _)| d == device)
            .map(|(_, n)| *n)
    }

    /// The directory holding the attributes of the chip at `device`.
    pub fn chip_dir(&self, device: &str) -> Option<PathBuf> {
        let n = self.hwmon_number(device)?;
        Some(
            self.root
                .join("devices")
                .join(device)
                .join("hwmon")
                .join(format!("hwmon{n}")),
        )
    }

    /// Simulates a reboot: removes every hwmonN, renumbers with `boot_seed`, and writes
    /// `chips` again.
    pub fn reboot(&mut self, chips: &[HwmonChip], boot_seed: u64) -> io::Result<()> {
        self.remove_hwmon_dirs()?;
        self.boot(chips, boot_seed)
    }

    /// Rewrites every attribute value (each file replaced atomically). Chips are matched
    /// by device path; a chip not present at boot is an error.
    pub fn update(&self, chips: &[HwmonChip]) -> io::Result<()> {
        for chip in chips {
            let dir = self.chip_dir(&chip.device).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "hwmon chip at {} was not present at boot; call reboot() to add it",
                        chip.device
                    ),
                )
            })?;
            for (file, value) in &chip.attributes {
                write_atomic(&dir.join(file), value)?;
            }
        }
        Ok(())
    }

    fn remove_hwmon_dirs(&mut self) -> io::Result<()> {
        let class = self.root.join("class").join("hwmon");
        if class.exists() {
            fs::remove_dir_all(&class)?;
        }
        for (device, _) in &self.numbers {
            let dir = self.root.join("devices").join(device).join("hwmon");
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
        }
        self.numbers.clear();
        Ok(())
    }

    fn boot(&mut self, chips: &[HwmonChip], boot_seed: u64) -> io::Result<()> {
        let numbers = permutation(chips.len(), boot_seed);
        let class = self.root.join("class").join("hwmon");
        fs::create_dir_all(&class)?;
        // A tree left under the same root by an earlier run: drop its hwmonN links (only
        // symlinks are touched) and the hwmon directories of the chips written now.
        for entry in fs::read_dir(&class)? {
            let path = entry?.path();
            if path.symlink_metadata()?.file_type().is_symlink() {
                fs::remove_file(&path)?;
            }
        }
        for chip in chips {
            let old = self.root.join("devices").join(&chip.device).join("hwmon");
            if old.exists() {
                fs::remove_dir_all(&old)?;
            }
        }
        for (chip, n) in chips.iter().zip(numbers) {
            let device_dir = self.root.join("devices").join(&chip.device);
            let hwmon = format!("hwmon{n}");
            let dir = device_dir.join("hwmon").join(&hwmon);
            fs::create_dir_all(&dir)?;
            if let Some(client) = &chip.client_name {
                write_atomic(&device_dir.join("name"), client)?;
            }
            write_atomic(&dir.join("name"), &chip.name)?;
            for (file, value) in &chip.attributes {
                write_atomic(&dir.join(file), value)?;
            }
            symlink(Path::new("../.."), &dir.join("device"))?;
            let target = Path::new("../../devices")
                .join(&chip.device)
                .join("hwmon")
                .join(&hwmon);
            symlink(&target, &class.join(&hwmon))?;
            self.numbers.push((chip.device.clone(), n));
        }
        Ok(())
    }
}

/// A permutation of `0..n` chosen by `seed` (Fisher–Yates with SplitMix64).
fn permutation(n: usize, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Writes `value` + newline to a temporary file next to `path`, then renames it over
/// `path`, so a concurrent reader sees the old or the new value, never a mix.
fn write_atomic(path: &Path, value: &str) -> io::Result<()> {
    let file = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    fs::write(&tmp, format!("{value}\n"))?;
    fs::rename(&tmp, path)
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    if link.symlink_metadata().is_ok() {
        fs::remove_file(link)?;
    }
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "hwmon trees need symlinks (Unix only)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sovereign-sim-hwmon-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn chips() -> Vec<HwmonChip> {
        vec![
            HwmonChip::k10temp(
                70_125,
                &[
                    65_000, 66_000, 67_000, 68_000, 69_000, 70_000, 71_000, 72_000,
                ],
            ),
            HwmonChip::spd5118(i2c_device_path(PIIX4_PCI, 0, 0x50), 45_250, 85_000, 95_000),
            HwmonChip::spd5118(i2c_device_path(PIIX4_PCI, 1, 0x50), 46_500, 85_000, 95_000),
            HwmonChip::tmp75(i2c_device_path(PIIX4_PCI, 2, 0x48), 25_062, 80_000, 75_000),
        ]
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn tree_has_class_links_device_links_and_values_in_hwmon_units() {
        let root = scratch("shape");
        let tree = HwmonTree::create(&root, &chips(), 1).unwrap();
        let spd_dev = i2c_device_path(PIIX4_PCI, 1, 0x50);
        assert_eq!(spd_dev, "pci0000:00/0000:00:14.0/i2c-1/1-0050");
        let n = tree.hwmon_number(&spd_dev).unwrap();
        let class = root.join("class/hwmon").join(format!("hwmon{n}"));
        assert_eq!(read(&class.join("name")), "spd5118\n");
        assert_eq!(read(&class.join("temp1_input")), "46500\n");
        // The device link resolves to the I2C client directory, named bus-address.
        let dev = fs::canonicalize(class.join("device")).unwrap();
        assert!(dev.ends_with("i2c-1/1-0050"), "{}", dev.display());
        assert_eq!(read(&dev.join("name")), "spd5118\n");
        // k10temp: Tctl and Tccd labels.
        let k = tree.chip_dir(K10TEMP_PCI).unwrap();
        assert_eq!(read(&k.join("temp1_label")), "Tctl\n");
        assert_eq!(read(&k.join("temp3_label")), "Tccd1\n");
        assert_eq!(read(&k.join("temp10_label")), "Tccd8\n");
        assert_eq!(read(&k.join("temp10_input")), "72000\n");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn update_rewrites_values_without_leaving_temporary_files() {
        let root = scratch("update");
        let tree = HwmonTree::create(&root, &chips(), 1).unwrap();
        let mut c = chips();
        c[3] = HwmonChip::tmp75(i2c_device_path(PIIX4_PCI, 2, 0x48), 31_500, 80_000, 75_000);
        tree.update(&c).unwrap();
        let dir = tree.chip_dir(&i2c_device_path(PIIX4_PCI, 2, 0x48)).unwrap();
        assert_eq!(read(&dir.join("temp1_input")), "31500\n");
        let leftovers = fs::read_dir(&dir).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        });
        assert_eq!(leftovers.count(), 0);
        let unknown = vec![HwmonChip::tmp75("nowhere".into(), 0, 0, 0)];
        assert!(
            tree.update(&unknown)
                .unwrap_err()
                .to_string()
                .contains("not present at boot")
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn reboot_renumbers_hwmon_devices_but_keeps_device_paths() {
        let root = scratch("reboot");
        let c = chips();
        let mut tree = HwmonTree::create(&root, &c, 1).unwrap();
        let before: Vec<u32> = c
            .iter()
            .map(|x| tree.hwmon_number(&x.device).unwrap())
            .collect();
        tree.reboot(&c, 2).unwrap();
        let after: Vec<u32> = c
            .iter()
            .map(|x| tree.hwmon_number(&x.device).unwrap())
            .collect();
        assert_ne!(before, after, "seeds 1 and 2 number the chips differently");
        let mut sorted = after.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3], "still hwmon0..3");
        // Only the current hwmonN entries exist.
        assert_eq!(fs::read_dir(root.join("class/hwmon")).unwrap().count(), 4);
        for x in &c {
            let dir = tree.chip_dir(&x.device).unwrap();
            assert_eq!(read(&dir.join("name")), format!("{}\n", x.name));
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn creating_again_over_an_old_tree_leaves_no_stale_hwmon_entries() {
        let root = scratch("again");
        HwmonTree::create(&root, &chips(), 1).unwrap();
        let tree = HwmonTree::create(&root, &chips(), 2).unwrap();
        assert_eq!(fs::read_dir(root.join("class/hwmon")).unwrap().count(), 4);
        for c in chips() {
            let hwmon_dirs = fs::read_dir(root.join("devices").join(&c.device).join("hwmon"))
                .unwrap()
                .count();
            assert_eq!(hwmon_dirs, 1, "{}", c.device);
            assert!(tree.chip_dir(&c.device).unwrap().join("name").exists());
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn pmbus_and_emc2305_attribute_sets() {
        let pm = HwmonChip::pmbus(
            i2c_device_path(PIIX4_PCI, 2, 0x60),
            &PmbusReadings {
                vin_mv: 12_000,
                vout_mv: 1_100,
                iout_ma: 250_000,
                temp_mc: 70_000,
                pin_uw: 300_000_000,
                pout_uw: 275_000_000,
            },
        );
        let labels: Vec<&str> = pm
            .attributes
            .iter()
            .filter(|(k, _)| k.ends_with("_label"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(labels, ["vin", "vout1", "iout1", "pin", "pout1"]);
        let emc = HwmonChip::emc2305(
            i2c_device_path(PIIX4_PCI, 2, 0x2E),
            &[9000; 5],
            &[128; 5],
            &[false; 5],
        );
        for i in 1..=5 {
            assert!(
                emc.attributes
                    .iter()
                    .any(|(k, _)| *k == format!("fan{i}_input"))
            );
            assert!(emc.attributes.iter().any(|(k, _)| *k == format!("pwm{i}")));
        }
        assert_eq!(emc.device, "pci0000:00/0000:00:14.0/i2c-2/2-002e");
    }
}
