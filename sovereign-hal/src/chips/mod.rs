//! Chip drivers, one module per chip family.
//!
//! Every driver is generic over [`crate::smbus::Smbus`], owns the bus handle it is given
//! (`new(bus, address)`) and gives it back with `release()`. Drivers of sensors whose job
//! is only to be read (DIMM sensors, board sensors, SB-TSI) never write a register; fan
//! controllers write their drive registers because that is their job.
//!
//! Register maths lives in pure functions next to each driver and is tested on its own
//! against the Linux driver's behaviour (HARDWARE.md), rounding included.

use core::fmt;

use crate::decode::DecodeError;
use crate::smbus;

pub mod emc230x;
pub mod jc42;
pub mod lm75;
pub mod max31790;
pub mod pmbus;
pub mod sbtsi;
pub mod spd5118;

/// Error of every chip driver: the bus's own error, kept whole, or a driver-level one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The bus transfer failed.
    Bus(E),
    /// The chip answered with a value that cannot be decoded.
    Decode(DecodeError),
    /// The identification registers do not match the chip this driver is for.
    WrongDevice,
    /// The caller asked for something out of range (a channel the chip does not have, a
    /// limit outside the chip's range).
    InvalidArgument,
    /// The chip is in a mode this driver cannot serve on this bus; the text says what to
    /// do instead (e.g. "SPD5118 hub in 16-bit addressing mode: read it through the
    /// kernel's spd5118 hwmon device").
    Unsupported(&'static str),
}

/// What kind of driver error, for callers to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bus failed, with the bus-level kind.
    Bus(smbus::ErrorKind),
    /// A value could not be decoded.
    Decode(DecodeError),
    /// The device is not the chip the driver expected.
    WrongDevice,
    /// A caller argument was out of range.
    InvalidArgument,
    /// The chip's mode cannot be served by this driver on this bus.
    Unsupported,
}

impl<E: smbus::Error> Error<E> {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Bus(e) => ErrorKind::Bus(e.kind()),
            Self::Decode(d) => ErrorKind::Decode(*d),
            Self::WrongDevice => ErrorKind::WrongDevice,
            Self::InvalidArgument => ErrorKind::InvalidArgument,
            Self::Unsupported(_) => ErrorKind::Unsupported,
        }
    }
}

impl<E> From<DecodeError> for Error<E> {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bus(e) => write!(f, "bus error: {e:?}"),
            Self::Decode(d) => write!(f, "cannot decode register value: {d}"),
            Self::WrongDevice => f.write_str(
                "identification registers do not match this chip: check the bus address and \
                 the chip type in the board description",
            ),
            Self::InvalidArgument => f.write_str(
                "argument out of range for this chip (fan or channel index, PMBus page, \
                 address or limit): check it against the chip's datasheet",
            ),
            Self::Unsupported(why) => f.write_str(why),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::ToString;

    type E = Error<smbus::ErrorKind>;

    #[test]
    fn driver_errors_say_what_to_check() {
        let wrong = E::WrongDevice.to_string();
        assert!(wrong.contains("address"), "{wrong}");
        let arg = E::InvalidArgument.to_string();
        assert!(
            arg.contains("channel") && arg.contains("datasheet"),
            "{arg}"
        );
    }
}
