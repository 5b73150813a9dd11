//! Read-only identification of the chips at well-known SMBus addresses.
//!
//! A detector sees the bus only through [`ProbeBus`], which has no write method, so no
//! detector can write a register — whatever bug it has. Each detector reads
//! identification registers and either names the chip, says why the registers do not
//! match, or reports that nothing answered.
//!
//! The predicates here restate HARDWARE.md §1 (JC-42.4), §2 (SPD5118) and §3a (EMC230x).
//! They are written so that the core's own detection functions (`sovereign_hal::chips`)
//! can replace the bodies without changing the table in [`detectors`].

use sovereign_hal::smbus::{self, Capabilities, Smbus};

/// A read-only view of an SMBus: byte and word reads, nothing else.
pub trait ProbeBus {
    /// What the adapter can do.
    fn capabilities(&self) -> Capabilities;
    /// Read byte data.
    fn read_byte(&mut self, address: u8, register: u8) -> Result<u8, ProbeError>;
    /// Read word data (SMBus order: first byte on the wire is the low byte).
    fn read_word(&mut self, address: u8, register: u8) -> Result<u16, ProbeError>;
}

/// A failed probe read: the bus-level kind and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    /// What kind of bus failure.
    pub kind: smbus::ErrorKind,
    /// The bus implementation's message.
    pub message: String,
}

impl<B> ProbeBus for B
where
    B: Smbus,
    B::Error: std::fmt::Display,
{
    fn capabilities(&self) -> Capabilities {
        Smbus::capabilities(self)
    }
    fn read_byte(&mut self, address: u8, register: u8) -> Result<u8, ProbeError> {
        self.read_byte_data(address, register).map_err(probe_error)
    }
    fn read_word(&mut self, address: u8, register: u8) -> Result<u16, ProbeError> {
        self.read_word_data(address, register).map_err(probe_error)
    }
}

fn probe_error<E: smbus::Error + std::fmt::Display>(e: E) -> ProbeError {
    ProbeError {
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// What a detector concluded at one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The identification registers match.
    Identified {
        /// Driver/chip family name (as Linux names the driver).
        chip: &'static str,
        /// What the registers said (manufacturer, device, variant).
        detail: String,
    },
    /// Something answered but cannot be identified by registers (no ID register); the
    /// board's documentation must confirm it.
    Candidate {
        /// Chip family.
        chip: &'static str,
        /// Why it is a candidate.
        detail: String,
    },
    /// Something answered, and it is not this chip.
    Mismatch {
        /// Why not.
        why: String,
    },
    /// Nothing acknowledged.
    Absent,
    /// The adapter cannot do the reads this detector needs, or the bus failed.
    Failed(String),
}

/// One family's detector: where to look and how to tell.
#[derive(Debug, Clone, Copy)]
pub struct Detector {
    /// The chip family.
    pub chip: &'static str,
    /// The addresses it may sit at.
    pub addresses: &'static [u8],
    /// The read-only identification.
    pub detect: fn(&mut dyn ProbeBus, u8) -> Probe,
}

/// The well-known families, in the order they are tried at a shared address.
pub fn detectors() -> [Detector; 5] {
    [
        Detector {
            chip: "jc42",
            addresses: &[0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F],
            detect: detect_jc42,
        },
        Detector {
            chip: "spd5118",
            addresses: &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            detect: detect_spd5118,
        },
        Detector {
            chip: "emc2305",
            addresses: &[0x2C, 0x2D, 0x2E, 0x4C, 0x4D],
            detect: detect_emc230x,
        },
        Detector {
            chip: "sbtsi",
            addresses: &[0x4C],
            detect: detect_sbtsi,
        },
        Detector {
            chip: "max31790",
            addresses: &[
                0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2F,
            ],
            detect: detect_max31790,
        },
    ]
}

/// Turns a read error into the probe's conclusion: NAK = absent.
fn absent_or_failed(e: ProbeError) -> Probe {
    if e.kind == smbus::ErrorKind::NoAcknowledge {
        Probe::Absent
    } else {
        Probe::Failed(e.message)
    }
}

macro_rules! read {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return absent_or_failed(e),
        }
    };
}

fn needs(bus: &dyn ProbeBus, caps: Capabilities, what: &str) -> Option<Probe> {
    if bus.capabilities().contains(caps) {
        None
    } else {
        Some(Probe::Failed(format!(
            "the adapter cannot do the {what} reads this probe needs"
        )))
    }
}

/// JEDEC manufacturer IDs in the kernel's jc42 table (HARDWARE.md §1).
const JC42_MANUFACTURERS: [(u16, &str); 12] = [
    (0x11D4, "Analog Devices"),
    (0x001F, "Atmel"),
    (0x1114, "Atmel"),
    (0x004D, "Maxim"),
    (0x00B3, "IDT"),
    (0x0054, "Microchip"),
    (0x1131, "NXP"),
    (0x1B09, "ON Semiconductor"),
    (0x104A, "ST"),
    (0x1C68, "Giantec"),
    (0x132D, "Giantec"),
    (0x1C85, "Seiko"),
];

/// The JC-42.4 identification rule on register values (already byte-swapped: the chip
/// sends MSB first), HARDWARE.md §1 steps 2–4. The kernel also matches the device ID
/// against a per-manufacturer table; this accepts any device ID of a listed manufacturer.
pub fn is_jc42(
    cap: u16,
    config: u16,
    manufacturer: u16,
    device: u16,
) -> Result<&'static str, String> {
    if cap & 0xFF00 != 0 {
        return Err(format!("capability {cap:#06x} has reserved bits 15:8 set"));
    }
    if config & 0xF820 != 0 {
        return Err(format!(
            "configuration {config:#06x} has reserved bits set (mask 0xF820)"
        ));
    }
    // TSE2004-class parts (device ID 0x22xx) must have capability bits 1, 5, 6.
    if device & 0xFF00 == 0x2200 && cap & 0x0062 != 0x0062 {
        return Err(format!(
            "TSE2004 device {device:#06x} without capability bits 0x0062 ({cap:#06x})"
        ));
    }
    JC42_MANUFACTURERS
        .iter()
        .find(|(id, _)| *id == manufacturer)
        .map(|(_, name)| *name)
        .ok_or_else(|| format!("manufacturer ID {manufacturer:#06x} is not a JC-42.4 vendor"))
}

fn detect_jc42(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_WORD_DATA, "word") {
        return p;
    }
    // HARDWARE.md §1: 16-bit registers, MSB first on the wire → swap the SMBus word.
    let cap = read!(bus.read_word(a, 0x00)).swap_bytes();
    let config = read!(bus.read_word(a, 0x01)).swap_bytes();
    let manufacturer = read!(bus.read_word(a, 0x06)).swap_bytes();
    let device = read!(bus.read_word(a, 0x07)).swap_bytes();
    match is_jc42(cap, config, manufacturer, device) {
        Ok(vendor) => Probe::Identified {
            chip: "jc42",
            detail: format!(
                "JC-42.4 temperature sensor, {vendor} (manufacturer {manufacturer:#06x}, device {device:#06x})"
            ),
        },
        Err(why) => Probe::Mismatch { why },
    }
}

/// The SPD5118 identification rule on MR0–MR5 (HARDWARE.md §2).
pub fn is_spd5118(mr: [u8; 6]) -> Result<(), String> {
    let [mr0, mr1, mr2, mr3, mr4, mr5] = mr;
    if (mr0, mr1) != (0x51, 0x18) {
        return Err(format!("device type {mr0:#04x}{mr1:02x} is not 0x5118"));
    }
    if mr2 & 0xC1 != 0 {
        return Err(format!(
            "revision {mr2:#04x} has reserved bits set (mask 0xC1)"
        ));
    }
    if mr3.count_ones() % 2 != 1 || mr4.count_ones() % 2 != 1 {
        return Err(format!(
            "vendor bytes {mr3:#04x} {mr4:#04x} do not both have odd parity (JEP106)"
        ));
    }
    if matches!(mr4 & 0x7F, 0 | 0x7F) {
        return Err(format!("vendor ID {mr4:#04x} is not a JEP106 code"));
    }
    if mr5 & 0x02 == 0 || mr5 & 0xFC != 0 {
        return Err(format!(
            "capability {mr5:#04x}: no temperature sensor, or reserved bits set"
        ));
    }
    Ok(())
}

fn detect_spd5118(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_BYTE_DATA, "byte") {
        return p;
    }
    let mut mr = [0u8; 6];
    for (i, slot) in mr.iter_mut().enumerate() {
        *slot = read!(bus.read_byte(a, i as u8));
    }
    match is_spd5118(mr) {
        Ok(()) => Probe::Identified {
            chip: "spd5118",
            detail: format!(
                "DDR5 SPD5118 hub with thermal sensor (vendor bank {:#04x} id {:#04x}, revision {:#04x})",
                mr[3], mr[4], mr[2]
            ),
        },
        // A DDR4 ee1004 EEPROM also answers here: say so rather than guess.
        Err(why) => Probe::Mismatch {
            why: format!("not an SPD5118 ({why}); a DDR4 SPD EEPROM answers here too"),
        },
    }
}

fn detect_emc230x(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_BYTE_DATA, "byte") {
        return p;
    }
    // HARDWARE.md §3a: vendor 0xFE must be 0x5D; product 0xFD 0x34/0x35/0x36/0x37.
    let vendor = read!(bus.read_byte(a, 0xFE));
    let product = read!(bus.read_byte(a, 0xFD));
    if vendor != 0x5D {
        return Probe::Mismatch {
            why: format!("vendor register {vendor:#04x} is not Microchip's 0x5D"),
        };
    }
    let (name, fans) = match product {
        0x34 => ("EMC2305", 5),
        0x35 => ("EMC2303", 3),
        0x36 => ("EMC2302", 2),
        0x37 => ("EMC2301", 1),
        other => {
            return Probe::Mismatch {
                why: format!("Microchip product {other:#04x} is not an EMC230x"),
            };
        }
    };
    Probe::Identified {
        chip: "emc2305",
        detail: format!("{name} fan controller, {fans} fan(s)"),
    }
}

fn detect_sbtsi(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_BYTE_DATA, "byte") {
        return p;
    }
    // AMD SB-TSI has no identification register the kernel checks: a temperature-looking
    // integer byte (0x01) and a decimal byte (0x10) whose low 5 bits are 0 (0.125 °C steps
    // in bits 7:5) make it a candidate only.
    let int = read!(bus.read_byte(a, 0x01));
    let dec = read!(bus.read_byte(a, 0x10));
    if dec & 0x1F == 0 && int <= 125 {
        Probe::Candidate {
            chip: "sbtsi",
            detail: format!(
                "answers like AMD SB-TSI (temperature {int}.{:03} °C); no ID register: confirm from board documentation",
                u32::from(dec >> 5) * 125
            ),
        }
    } else {
        Probe::Mismatch {
            why: format!("registers 0x01={int:#04x} 0x10={dec:#04x} do not look like SB-TSI"),
        }
    }
}

fn detect_max31790(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_BYTE_DATA, "byte") {
        return p;
    }
    // HARDWARE.md §3b: the MAX31790 has no identification registers.
    let config = read!(bus.read_byte(a, 0x00));
    Probe::Candidate {
        chip: "max31790",
        detail: format!(
            "something answers (register 0x00 = {config:#04x}); MAX31790 has no ID register: confirm from board documentation"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::Fake;
    use crate::i2c::{I2cBus, I2cOpen};

    fn bus(fake: &Fake) -> I2cBus<Fake> {
        let t = tempfile::tempdir().unwrap();
        I2cBus::open_with(I2cOpen::new().sysfs_root(t.path()), fake.clone(), 0).unwrap()
    }

    const PIIX4: u64 = 0x037F_0000;

    #[test]
    fn jc42_rule_follows_the_kernel() {
        // A Microchip TSE2004 part: capability 0x0067 has bits 0x62.
        assert_eq!(is_jc42(0x0067, 0x0000, 0x0054, 0x2201), Ok("Microchip"));
        assert!(
            is_jc42(0x0001, 0x0000, 0x0054, 0x2201).is_err(),
            "TSE2004 without 0x62"
        );
        assert!(
            is_jc42(0x0100, 0, 0x0054, 0x0400).is_err(),
            "reserved capability bits"
        );
        assert!(
            is_jc42(0x0001, 0x0020, 0x0054, 0x0400).is_err(),
            "reserved config bit 5"
        );
        assert!(
            is_jc42(0x0001, 0x0000, 0x1234, 0x0400).is_err(),
            "unknown vendor"
        );
    }

    #[test]
    fn spd5118_rule_follows_the_kernel() {
        // Type 0x5118, revision 0x12, vendor bank 0x80 / id 0xB3 (odd parity), capability 0x02.
        assert_eq!(is_spd5118([0x51, 0x18, 0x12, 0x80, 0xB3, 0x02]), Ok(()));
        assert!(
            is_spd5118([0x51, 0x18, 0x13, 0x80, 0xB3, 0x02]).is_err(),
            "revision bit 0"
        );
        assert!(
            is_spd5118([0x51, 0x18, 0x12, 0x81, 0xB3, 0x02]).is_err(),
            "even parity"
        );
        assert!(
            is_spd5118([0x51, 0x18, 0x12, 0x80, 0xB3, 0x00]).is_err(),
            "no sensor"
        );
        assert!(
            is_spd5118([0x23, 0x11, 0x12, 0x80, 0xB3, 0x02]).is_err(),
            "DDR4 SPD bytes"
        );
    }

    #[test]
    fn detectors_identify_chips_through_word_swapped_and_byte_reads() {
        let fake = Fake::adapter(PIIX4)
            .with_be_words(
                0x18,
                &[
                    (0x00, 0x0067),
                    (0x01, 0x0000),
                    (0x06, 0x0054),
                    (0x07, 0x2201),
                ],
            )
            .with_device(
                0x50,
                &[
                    (0, 0x51),
                    (1, 0x18),
                    (2, 0x12),
                    (3, 0x80),
                    (4, 0xB3),
                    (5, 0x02),
                ],
            )
            .with_device(0x2C, &[(0xFE, 0x5D), (0xFD, 0x36)]);
        let mut b = bus(&fake);
        let [jc42, spd, emc, _, _] = detectors();
        assert!(matches!(
            (jc42.detect)(&mut b, 0x18),
            Probe::Identified { chip: "jc42", .. }
        ));
        assert_eq!((jc42.detect)(&mut b, 0x19), Probe::Absent);
        assert!(matches!(
            (spd.detect)(&mut b, 0x50),
            Probe::Identified {
                chip: "spd5118",
                ..
            }
        ));
        match (emc.detect)(&mut b, 0x2C) {
            Probe::Identified { detail, .. } => assert!(detail.starts_with("EMC2302"), "{detail}"),
            other => panic!("{other:?}"),
        }
        let writes = fake
            .0
            .borrow()
            .transfers
            .iter()
            .filter(|t| t.0 == crate::i2c::SMBUS_WRITE)
            .count();
        assert_eq!(writes, 0, "probing never writes");
    }

    #[test]
    fn a_ddr4_eeprom_at_0x50_is_a_mismatch_not_a_guess() {
        let fake = Fake::adapter(PIIX4).with_device(0x50, &[(0, 0x23), (1, 0x11), (2, 0x0C)]);
        let mut b = bus(&fake);
        let p = (detectors()[1].detect)(&mut b, 0x50);
        assert!(
            matches!(&p, Probe::Mismatch { why } if why.contains("DDR4")),
            "{p:?}"
        );
    }
}
