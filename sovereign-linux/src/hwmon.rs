//! Linux hwmon sysfs: chips found by driver name and stable device identity, and their
//! temperature, fan, voltage, current, power and energy inputs.
//!
//! ## Finding a chip
//!
//! `/sys/class/hwmon/hwmonN` numbers are handed out in probe order and change between
//! boots, so a chip is never chosen by `hwmonN`. It is chosen by the driver's `name`
//! (`k10temp`, `jc42`, `spd5118`, …) and, where there are several, by the identity of the
//! device behind the `device` link: an I2C client `<bus>-<addr>` (`0-0018`) or a PCI
//! function `0000:00:18.3`. See [`Hwmon::find`] and [`ChipSelector`].
//!
//! ## Reading
//!
//! Values are the hwmon ABI's integers: m°C, RPM, mV, mA, µW, µJ, turned into
//! `sovereign_hal::units`. [`SensorFile`] keeps the attribute open and re-reads it with
//! one `pread` at offset 0 (sysfs regenerates an attribute on a read from offset 0), so a
//! control period costs one syscall per sensor. A file that is empty, not a number, too
//! long, or out of the unit's range is a clear error, never a panic and never a guess.
//!
//! AMD CPUs: `k10temp` labels `temp1` **Tctl** and `temp3…` **Tccd1…**; EPYC has no Tdie
//! (HARDWARE.md §6). [`k10temp_inputs`] picks them by label.
//!
//! The sysfs root is a parameter (default `/sys`) so tests and the simulator can point it
//! at a generated tree.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sovereign_hal::units::{MicroJoules, MicroWatts, MilliAmps, MilliCelsius, MilliVolts, Rpm};

/// Default sysfs root.
pub const DEFAULT_SYSFS_ROOT: &str = "/sys";

/// The longest attribute value accepted, in bytes (hwmon values are a signed 64-bit decimal
/// at most, 20 characters plus a newline).
const VALUE_MAX: usize = 32;
/// The longest label or name accepted, in bytes.
const LABEL_MAX: u64 = 128;

/// What kind of problem, for a caller to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HwmonErrorKind {
    /// No chip (or channel) matches.
    NotFound,
    /// Several chips match; add a device identity to the selector.
    Ambiguous,
    /// The file could not be opened or read (errno in the message).
    Io,
    /// The file was empty.
    Empty,
    /// The file did not hold a decimal integer.
    NotNumeric,
    /// The number does not fit the unit.
    OutOfRange,
    /// The file is longer than any hwmon value.
    TooLong,
}

/// A hwmon error: kind, path, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwmonError {
    kind: HwmonErrorKind,
    path: PathBuf,
    message: String,
}

impl HwmonError {
    fn new(kind: HwmonErrorKind, path: &Path, message: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.to_owned(),
            message: message.into(),
        }
    }
    fn io(path: &Path, what: &str, e: &io::Error) -> Self {
        Self::new(HwmonErrorKind::Io, path, format!("{what}: {e}"))
    }
    /// The kind.
    pub fn kind(&self) -> HwmonErrorKind {
        self.kind
    }
    /// The file or directory involved.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for HwmonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for HwmonError {}

/// The stable identity of the device behind a hwmon chip (its `device` link).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceId {
    /// An I2C client, sysfs name `<bus>-<addr as 4 hex digits>`.
    I2c {
        /// Bus number N of i2c-N.
        bus: u32,
        /// Address.
        address: u16,
    },
    /// A PCI function, `domain:bus:device.function` (`0000:00:18.3`).
    Pci(String),
    /// Any other device (platform, ACPI, …), by its sysfs name.
    Other(String),
    /// No `device` link (a virtual chip).
    Virtual,
}

impl DeviceId {
    /// Classifies a sysfs device name.
    pub fn from_sysfs_name(name: &str) -> Self {
        if let Some((bus, addr)) = name.split_once('-') {
            if !bus.is_empty()
                && bus.bytes().all(|b| b.is_ascii_digit())
                && addr.len() == 4
                && addr.bytes().all(|b| b.is_ascii_hexdigit())
            {
                if let (Ok(bus), Ok(address)) = (bus.parse(), u16::from_str_radix(addr, 16)) {
                    return Self::I2c { bus, address };
                }
            }
        }
        if is_pci_name(name) {
            return Self::Pci(name.to_owned());
        }
        Self::Other(name.to_owned())
    }

    /// lm-sensors' adapter part of a chip name: `i2c-0-18`, `pci-00c3`, `virtual-0`.
    pub fn lm_sensors_suffix(&self) -> String {
        match self {
            Self::I2c { bus, address } => format!("i2c-{bus}-{address:02x}"),
            Self::Pci(name) => {
                // bus:dev.fn → (bus << 8) | (dev << 3) | fn, as lm-sensors prints it.
                let parse = || -> Option<u32> {
                    let mut it = name.rsplitn(2, ':');
                    let devfn = it.next()?;
                    let bus = u32::from_str_radix(it.next()?.rsplit(':').next()?, 16).ok()?;
                    let (dev, func) = devfn.split_once('.')?;
                    let dev = u32::from_str_radix(dev, 16).ok()?;
                    let func = u32::from_str_radix(func, 16).ok()?;
                    Some((bus << 8) | (dev << 3) | func)
                };
                parse().map_or_else(|| format!("pci-{name}"), |v| format!("pci-{v:04x}"))
            }
            Self::Other(name) if name.contains('.') => "isa-0000".to_owned(),
            Self::Other(_) | Self::Virtual => "virtual-0".to_owned(),
        }
    }
}

fn is_pci_name(name: &str) -> bool {
    let b = name.as_bytes();
    let hex = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|s| s.iter().all(u8::is_ascii_hexdigit))
    };
    b.len() == 12
        && hex(0..4)
        && b[4] == b':'
        && hex(5..7)
        && b[7] == b':'
        && hex(8..10)
        && b[10] == b'.'
        && hex(11..12)
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::I2c { bus, address } => write!(f, "i2c {bus}-{address:04x}"),
            Self::Pci(n) => write!(f, "pci {n}"),
            Self::Other(n) => write!(f, "device {n}"),
            Self::Virtual => f.write_str("virtual"),
        }
    }
}

/// Which chip: a driver name, optionally a device identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipSelector {
    /// Driver name as in the chip's `name` file.
    pub name: String,
    /// The device, when several chips share a driver.
    pub device: Option<DeviceId>,
}

impl ChipSelector {
    /// Any chip of driver `name`.
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            device: None,
        }
    }
    /// The chip of driver `name` on `device`.
    pub fn at(name: impl Into<String>, device: DeviceId) -> Self {
        Self {
            name: name.into(),
            device: Some(device),
        }
    }
    fn matches(&self, chip: &HwmonChip) -> bool {
        chip.name == self.name && self.device.as_ref().is_none_or(|d| *d == chip.device)
    }
}

impl fmt::Display for ChipSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.device {
            Some(d) => write!(f, "{} at {d}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The hwmon class of one sysfs tree.
#[derive(Debug, Clone)]
pub struct Hwmon {
    sysfs_root: PathBuf,
}

impl Default for Hwmon {
    fn default() -> Self {
        Self::new()
    }
}

impl Hwmon {
    /// The real `/sys`.
    pub fn new() -> Self {
        Self::with_sysfs_root(DEFAULT_SYSFS_ROOT)
    }
    /// Another sysfs root (a test tree, the simulator's tree).
    pub fn with_sysfs_root(root: impl Into<PathBuf>) -> Self {
        Self {
            sysfs_root: root.into(),
        }
    }
    /// `<root>/class/hwmon`.
    pub fn class_dir(&self) -> PathBuf {
        self.sysfs_root.join("class/hwmon")
    }

    /// Every chip, sorted by name then device (never by `hwmonN`).
    pub fn chips(&self) -> Result<Vec<HwmonChip>, HwmonError> {
        let class = self.class_dir();
        let entries = std::fs::read_dir(&class).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                HwmonError::new(
                    HwmonErrorKind::NotFound,
                    &class,
                    "missing: this kernel exposes no hwmon chips (no sensor drivers loaded, or a VM)",
                )
            } else {
                HwmonError::io(&class, "cannot list", &e)
            }
        })?;
        let mut chips = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(n) = file_name.to_str() else {
                continue;
            };
            if !n.starts_with("hwmon") {
                continue;
            }
            let dir = entry.path();
            let name = read_short(&dir.join("name"))
                .or_else(|| read_short(&dir.join("device/name")))
                .unwrap_or_default();
            let device = device_id(&dir);
            chips.push(HwmonChip { name, device, dir });
        }
        chips.sort_by(|a, b| (&a.name, &a.device).cmp(&(&b.name, &b.device)));
        Ok(chips)
    }

    /// The one chip matching `selector`.
    pub fn find(&self, selector: &ChipSelector) -> Result<HwmonChip, HwmonError> {
        let chips = self.chips()?;
        let listing = || {
            if chips.is_empty() {
                "none".to_owned()
            } else {
                chips
                    .iter()
                    .map(|c| format!("{} at {}", c.name, c.device))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut found: Vec<&HwmonChip> = chips.iter().filter(|c| selector.matches(c)).collect();
        match found.len() {
            1 => Ok(found.remove(0).clone()),
            0 => Err(HwmonError::new(
                HwmonErrorKind::NotFound,
                &self.class_dir(),
                format!(
                    "no hwmon chip {selector} (found: {}); is its driver loaded? (`modprobe {}`)",
                    listing(),
                    selector.name
                ),
            )),
            _ => Err(HwmonError::new(
                HwmonErrorKind::Ambiguous,
                &self.class_dir(),
                format!(
                    "{} chips match {selector} ({}): name the device too",
                    found.len(),
                    found
                        .iter()
                        .map(|c| c.device.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

/// The identity of the device behind `<hwmon dir>/device`. The link is relative and may
/// be written either way (`../../../0000:00:18.3`, or `../..` from inside the device's
/// `hwmon/hwmonN`), so it is resolved to the real directory first; a link that cannot be
/// resolved falls back to the last component of its target.
fn device_id(hwmon_dir: &Path) -> DeviceId {
    let link = hwmon_dir.join("device");
    let name = match std::fs::canonicalize(&link) {
        Ok(real) => real.file_name().map(|f| f.to_string_lossy().into_owned()),
        Err(_) => std::fs::read_link(&link)
            .ok()
            .and_then(|t| t.file_name().map(|f| f.to_string_lossy().into_owned())),
    };
    name.map_or(DeviceId::Virtual, |n| DeviceId::from_sysfs_name(&n))
}

/// Reads a short text file (name, label), trimmed; `None` if absent, unreadable or empty.
fn read_short(path: &Path) -> Option<String> {
    let mut s = String::new();
    let file = File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(LABEL_MAX).read_to_end(&mut bytes).ok()?;
    s.push_str(&String::from_utf8_lossy(&bytes));
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_owned())
    }
}

/// A hwmon chip: driver name, device identity, and its directory in this boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwmonChip {
    name: String,
    device: DeviceId,
    dir: PathBuf,
}

impl HwmonChip {
    /// The driver's name (`name` file).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The device behind the chip.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }
    /// The `hwmonN` directory: valid for this boot only.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The name lm-sensors prints: `k10temp-pci-00c3`, `jc42-i2c-0-18`.
    pub fn lm_sensors_name(&self) -> String {
        format!("{}-{}", self.name, self.device.lm_sensors_suffix())
    }

    /// Every `*_input` channel of the kinds Sovereign reads, sorted by kind then index.
    pub fn channels(&self) -> Result<Vec<Channel>, HwmonError> {
        let mut out = channels_in(&self.dir)?;
        if out.is_empty() {
            // Drivers registered through the old hwmon interface keep their attributes
            // in the device's directory, next to the `hwmonN` class entry.
            if let Ok(legacy) = channels_in(&self.dir.join("device")) {
                out = legacy;
            }
        }
        out.sort_by_key(|c| (c.kind, c.index));
        Ok(out)
    }

    /// The channel whose label is `label`.
    pub fn channel_by_label(&self, label: &str) -> Result<Channel, HwmonError> {
        self.channels()?
            .into_iter()
            .find(|c| c.label.as_deref() == Some(label))
            .ok_or_else(|| {
                HwmonError::new(
                    HwmonErrorKind::NotFound,
                    &self.dir,
                    format!("{}: no channel labelled {label:?}", self.name),
                )
            })
    }
}

/// The `*_input` channels directly in `dir`.
fn channels_in(dir: &Path) -> Result<Vec<Channel>, HwmonError> {
    let entries = std::fs::read_dir(dir).map_err(|e| HwmonError::io(dir, "cannot list", &e))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        let Some(stem) = n.strip_suffix("_input") else {
            continue;
        };
        let Some((kind, index)) = SensorKind::parse_stem(stem) else {
            continue;
        };
        let label = read_short(&dir.join(format!("{stem}_label")));
        out.push(Channel {
            kind,
            index,
            label,
            input: entry.path(),
        });
    }
    Ok(out)
}

/// What a channel measures (the hwmon attribute prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SensorKind {
    /// `tempN_input`, m°C.
    Temperature,
    /// `fanN_input`, RPM.
    Fan,
    /// `inN_input`, mV.
    Voltage,
    /// `currN_input`, mA.
    Current,
    /// `powerN_input`, µW.
    Power,
    /// `energyN_input`, µJ.
    Energy,
}

impl SensorKind {
    /// The attribute prefix.
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Temperature => "temp",
            Self::Fan => "fan",
            Self::Voltage => "in",
            Self::Current => "curr",
            Self::Power => "power",
            Self::Energy => "energy",
        }
    }
    const ALL: [Self; 6] = [
        Self::Temperature,
        Self::Fan,
        Self::Voltage,
        Self::Current,
        Self::Power,
        Self::Energy,
    ];

    fn parse_stem(stem: &str) -> Option<(Self, u32)> {
        Self::ALL.into_iter().find_map(|k| {
            let digits = stem.strip_prefix(k.prefix())?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((k, digits.parse().ok()?))
        })
    }
}

/// One `*_input` attribute of a chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// What it measures.
    pub kind: SensorKind,
    /// N in `tempN_input`.
    pub index: u32,
    /// The `_label` file's text, if any.
    pub label: Option<String>,
    /// The `_input` file.
    pub input: PathBuf,
}

impl Channel {
    /// The label, or the attribute stem (`temp1`) when there is none.
    pub fn display_name(&self) -> String {
        self.label
            .clone()
            .unwrap_or_else(|| format!("{}{}", self.kind.prefix(), self.index))
    }
    /// Opens the attribute for repeated reads.
    pub fn open(&self) -> Result<SensorFile, HwmonError> {
        let file =
            File::open(&self.input).map_err(|e| HwmonError::io(&self.input, "cannot open", &e))?;
        Ok(SensorFile {
            file,
            path: self.input.clone(),
            kind: self.kind,
        })
    }
    /// Opens, reads once, closes.
    pub fn read(&self) -> Result<Reading, HwmonError> {
        self.open()?.read()
    }
}

/// An open hwmon attribute, re-read with one `pread` per reading.
///
/// sysfs regenerates the value on every read from offset 0 of the same open file. A tree
/// whose files are *replaced* (written elsewhere, then renamed over, as the simulator's
/// writer does to stay atomic) leaves this file on the old value: read such trees with
/// [`Channel::read`], which opens the current file each time.
#[derive(Debug)]
pub struct SensorFile {
    file: File,
    path: PathBuf,
    kind: SensorKind,
}

impl SensorFile {
    /// Reads the current value.
    pub fn read(&mut self) -> Result<Reading, HwmonError> {
        let mut buf = [0u8; VALUE_MAX];
        let n = self
            .file
            .read_at(&mut buf, 0)
            .map_err(|e| HwmonError::io(&self.path, "the driver could not read the sensor", &e))?;
        parse_reading(
            self.kind,
            buf.get(..n).unwrap_or(&[]),
            n == buf.len(),
            &self.path,
        )
    }
}

/// A value in its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Temperature.
    Temperature(MilliCelsius),
    /// Fan speed.
    Fan(Rpm),
    /// Voltage.
    Voltage(MilliVolts),
    /// Current.
    Current(MilliAmps),
    /// Power.
    Power(MicroWatts),
    /// Energy.
    Energy(MicroJoules),
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Temperature(v) => write!(f, "{v}"),
            Self::Fan(v) => write!(f, "{v}"),
            Self::Voltage(v) => write!(f, "{v}"),
            Self::Current(v) => write!(f, "{v}"),
            Self::Power(v) => write!(f, "{v}"),
            Self::Energy(v) => write!(f, "{v}"),
        }
    }
}

/// Parses an attribute's bytes as `kind`'s integer (`truncated` = the buffer was full).
fn parse_reading(
    kind: SensorKind,
    bytes: &[u8],
    truncated: bool,
    path: &Path,
) -> Result<Reading, HwmonError> {
    use std::num::IntErrorKind;
    if truncated {
        return Err(HwmonError::new(
            HwmonErrorKind::TooLong,
            path,
            format!("longer than {VALUE_MAX} bytes: not a hwmon value"),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        HwmonError::new(
            HwmonErrorKind::NotNumeric,
            path,
            format!("not a number: {:?}", String::from_utf8_lossy(bytes)),
        )
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(HwmonError::new(
            HwmonErrorKind::Empty,
            path,
            "empty: the driver gave no value",
        ));
    }
    let value: i128 = text
        .parse()
        .map_err(|e: std::num::ParseIntError| match e.kind() {
            IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => HwmonError::new(
                HwmonErrorKind::OutOfRange,
                path,
                format!("{text} is out of range"),
            ),
            _ => HwmonError::new(
                HwmonErrorKind::NotNumeric,
                path,
                format!("not a number: {text:?}"),
            ),
        })?;
    let range = |unit: &str| {
        HwmonError::new(
            HwmonErrorKind::OutOfRange,
            path,
            format!("{value} does not fit a {} in {unit}", kind.prefix()),
        )
    };
    Ok(match kind {
        SensorKind::Temperature => Reading::Temperature(MilliCelsius(
            i32::try_from(value).map_err(|_| range("m°C"))?,
        )),
        SensorKind::Fan => Reading::Fan(Rpm(u32::try_from(value).map_err(|_| range("RPM"))?)),
        SensorKind::Voltage => {
            Reading::Voltage(MilliVolts(i32::try_from(value).map_err(|_| range("mV"))?))
        }
        SensorKind::Current => {
            Reading::Current(MilliAmps(i32::try_from(value).map_err(|_| range("mA"))?))
        }
        SensorKind::Power => {
            Reading::Power(MicroWatts(i64::try_from(value).map_err(|_| range("µW"))?))
        }
        SensorKind::Energy => {
            Reading::Energy(MicroJoules(u64::try_from(value).map_err(|_| range("µJ"))?))
        }
    })
}

/// k10temp's inputs by label: Tctl and each Tccd with its CCD number (HARDWARE.md §6:
/// `temp1` = Tctl, `temp3…` = Tccd1…; EPYC has no Tdie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K10tempInputs {
    /// The Tctl channel.
    pub tctl: Option<Channel>,
    /// `(CCD number from the label, channel)`, in CCD order.
    pub tccd: Vec<(u32, Channel)>,
}

/// Picks k10temp's Tctl and Tccd channels from `chip` by their labels.
pub fn k10temp_inputs(chip: &HwmonChip) -> Result<K10tempInputs, HwmonError> {
    let mut tctl = None;
    let mut tccd = Vec::new();
    for c in chip.channels()? {
        if c.kind != SensorKind::Temperature {
            continue;
        }
        match c.label.as_deref() {
            Some("Tctl") => tctl = Some(c),
            Some(l) => {
                if let Some(n) = l.strip_prefix("Tccd").and_then(|n| n.parse::<u32>().ok()) {
                    tccd.push((n, c));
                }
            }
            None => {}
        }
    }
    tccd.sort_by_key(|(n, _)| *n);
    Ok(K10tempInputs { tctl, tccd })
}

#[cfg(test)]
mod tests;
