//! Read-only identification of the chips at well-known SMBus addresses.
//!
//! A detector sees the bus only through [`ProbeBus`], which has no write method, so no
//! detector can write a register — whatever bug it has. Each detector reads
//! identification registers and either names the chip, says why the registers do not
//! match, or reports that nothing answered.
//!
//! The identification rules are the core's (`sovereign_hal::chips`): `jc42::is_jc42`,
//! `spd5118::is_spd5118`, `emc230x::identify` (HARDWARE.md §1, §2, §3a); this module only
//! reads the registers they need, and says why a device that answered did not match.

use sovereign_hal::chips::{emc230x, jc42, sbtsi, spd5118};
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
    /// The operating system refused the address because a kernel driver owns it.
    Claimed(String),
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

fn detect_jc42(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_WORD_DATA, "word") {
        return p;
    }
    // HARDWARE.md §1: capability 0x00, configuration 0x01, manufacturer 0x06, device
    // 0x07; 16-bit registers sent MSB first → swap the SMBus word.
    let cap = read!(bus.read_word(a, 0x00)).swap_bytes();
    let config = read!(bus.read_word(a, 0x01)).swap_bytes();
    let manufacturer = read!(bus.read_word(a, 0x06)).swap_bytes();
    let device = read!(bus.read_word(a, 0x07)).swap_bytes();
    if jc42::is_jc42(cap, config, manufacturer, device) {
        Probe::Identified {
            chip: "jc42",
            detail: format!(
                "JC-42.4 temperature sensor (manufacturer {manufacturer:#06x}, device {device:#06x})"
            ),
        }
    } else {
        Probe::Mismatch {
            why: format!(
                "capability {cap:#06x}, configuration {config:#06x}, manufacturer {manufacturer:#06x}, \
                 device {device:#06x} are not a known JC-42.4 part"
            ),
        }
    }
}

fn detect_spd5118(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_BYTE_DATA, "byte") {
        return p;
    }
    // HARDWARE.md §2: MR0..MR5, MR19, MR20, MR26 (register = MR number in 8-bit mode).
    let mut mr = [0u8; 6];
    for (i, slot) in (0u8..).zip(mr.iter_mut()) {
        *slot = read!(bus.read_byte(a, i));
    }
    let id = spd5118::Identification {
        device_type: u16::from_be_bytes([mr[0], mr[1]]),
        revision: mr[2],
        vendor_bank: mr[3],
        vendor_id: mr[4],
        capability: mr[5],
        temperature_clear: read!(bus.read_byte(a, 0x13)),
        error_clear: read!(bus.read_byte(a, 0x14)),
        temperature_config: read!(bus.read_byte(a, 0x1A)),
    };
    if spd5118::is_spd5118(&id) {
        Probe::Identified {
            chip: "spd5118",
            detail: format!(
                "DDR5 SPD5118 hub with thermal sensor (vendor bank {:#04x} id {:#04x}, revision {:#04x}{})",
                id.vendor_bank,
                id.vendor_id,
                id.revision,
                if id.temperature_config & 1 != 0 {
                    ", sensor disabled"
                } else {
                    ""
                }
            ),
        }
    } else {
        // A DDR4 SPD EEPROM (ee1004) also answers here: say so rather than guess.
        Probe::Mismatch {
            why: format!(
                "not an SPD5118 (device type {:#06x}); a DDR4 SPD EEPROM answers here too",
                id.device_type
            ),
        }
    }
}

fn detect_emc230x(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_BYTE_DATA, "byte") {
        return p;
    }
    // HARDWARE.md §3a: vendor 0xFE, product 0xFD.
    let vendor = read!(bus.read_byte(a, 0xFE));
    let product = read!(bus.read_byte(a, 0xFD));
    match emc230x::identify(vendor, product) {
        Some(v) => Probe::Identified {
            chip: "emc2305",
            detail: format!(
                "{} fan controller, {} fan(s)",
                format!("{v:?}").to_uppercase(),
                v.fan_count()
            ),
        },
        None => Probe::Mismatch {
            why: format!("vendor {vendor:#04x} / product {product:#04x} are not an EMC230x"),
        },
    }
}

fn detect_sbtsi(bus: &mut dyn ProbeBus, a: u8) -> Probe {
    if let Some(p) = needs(bus, Capabilities::READ_BYTE_DATA, "byte") {
        return p;
    }
    // AMD SB-TSI has no identification register the kernel checks (sovereign_hal's
    // sbtsi module: configuration 0x03, integer 0x01, decimal 0x10, bits 7:5 of the
    // decimal count 0.125 °C). A decimal byte with its low 5 bits clear and a plausible
    // temperature make it a candidate only.
    let config = read!(bus.read_byte(a, 0x03));
    let (int, dec) = match sbtsi::conversion::read_order_from_config(config) {
        sbtsi::ReadOrder::IntegerFirst => {
            let i = read!(bus.read_byte(a, 0x01));
            (i, read!(bus.read_byte(a, 0x10)))
        }
        sbtsi::ReadOrder::DecimalFirst => {
            let d = read!(bus.read_byte(a, 0x10));
            (read!(bus.read_byte(a, 0x01)), d)
        }
    };
    let range = sbtsi::conversion::range_from_config(config);
    let t = sbtsi::conversion::temperature_in_range(int, dec, range);
    if dec & 0x1F == 0 && (0..=125_000).contains(&t.0) {
        Probe::Candidate {
            chip: "sbtsi",
            detail: format!(
                "answers like AMD SB-TSI (CPU temperature {t}); no ID register: confirm from board documentation"
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

    #[test]
    fn sbtsi_is_only_ever_a_candidate_read_in_its_latch_order() {
        // Config 0x20: decimal first (bit 5); 45.625 °C = integer 45, decimal 5 << 5.
        let fake =
            Fake::adapter(PIIX4).with_device(0x4C, &[(0x03, 0x20), (0x01, 45), (0x10, 5 << 5)]);
        let mut b = bus(&fake);
        match (detectors()[3].detect)(&mut b, 0x4C) {
            Probe::Candidate {
                chip: "sbtsi",
                detail,
            } => assert!(detail.contains("45.625 °C"), "{detail}"),
            other => panic!("{other:?}"),
        }
        let order: Vec<u8> = fake.0.borrow().transfers.iter().map(|t| t.1).collect();
        assert_eq!(order, vec![0x03, 0x10, 0x01]);
    }
}
