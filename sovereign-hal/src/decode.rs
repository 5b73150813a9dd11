//! The error of every pure decoder in this crate.
//!
//! Decoders take raw register values and return a value in [`crate::units`] or a
//! [`DecodeError`]; they never panic, whatever the input.

use core::fmt;

/// Why a raw register value could not be turned into a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The value is well-formed but does not fit the unit type (e.g. a PMBus LINEAR11
    /// value beyond `i32` milli-units).
    OutOfRange,
    /// The register selects a format this decoder does not implement (e.g. PMBus
    /// VOUT_MODE that is not LINEAR), or a field holds a reserved value.
    UnsupportedFormat,
    /// The value cannot be a valid reading (e.g. an EMC230x tach count of zero, a
    /// Tccd without its valid bit).
    Invalid,
    /// A checksum over a record (SPD CRC-16, FRU zero checksum) did not match.
    ChecksumMismatch,
    /// The record is shorter than its header says.
    Truncated,
}

impl DecodeError {
    /// Short description, the same text as `Display`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OutOfRange => "value out of range for its unit",
            Self::UnsupportedFormat => "unsupported or reserved register format",
            Self::Invalid => "value cannot be a valid reading",
            Self::ChecksumMismatch => "checksum mismatch",
            Self::Truncated => "record truncated",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for DecodeError {}
