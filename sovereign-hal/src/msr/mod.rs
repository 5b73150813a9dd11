//! Model-specific registers: the [`MsrReader`] trait, register maps and pure decoders.
//!
//! ## For port authors
//!
//! [`MsrReader::read_msr`] reads one 64-bit MSR on one logical CPU. The Linux binding
//! does it with `pread` on `/dev/cpu/N/msr` (offset = MSR index), the simulator from its
//! model, and ring-0 code with the raw RDMSR instruction (feature `x86-rdmsr`).
//! Map "this CPU does not implement that MSR" (#GP, EIO on Linux) to
//! [`ErrorKind::Unsupported`]: callers use it to fall back (e.g. no RAPL ⇒ no power).
//!
//! ## What is *not* here
//!
//! AMD CPU temperature is not an MSR (HARDWARE.md §6, "Where common write-ups are wrong"
//! 1): 0xC0010299 is the RAPL unit register. Read Tctl from k10temp's hwmon files, or
//! from SB-TSI, or decode an SMN value with [`crate::amd_tctl`]. AMD has no SMI-count
//! MSR (HARDWARE.md §8): count the core PMU event `ls_smi_rx` instead.

use core::fmt;

/// Why an MSR could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The CPU does not implement this MSR (#GP on RDMSR; EIO from `/dev/cpu/N/msr`).
    Unsupported,
    /// No such logical CPU, or it is offline.
    NoSuchCpu,
    /// The MSR device is not there (Linux: the `msr` module is not loaded).
    DeviceMissing,
    /// Access refused (Linux: needs root or CAP_SYS_RAWIO).
    PermissionDenied,
    /// The read returned fewer than 8 bytes, or another I/O failure.
    Io,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Short description, the same text as `Display`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unsupported => "MSR not implemented by this CPU",
            Self::NoSuchCpu => "no such CPU, or CPU offline",
            Self::DeviceMissing => "MSR device missing",
            Self::PermissionDenied => "permission denied reading MSR",
            Self::Io => "I/O error reading MSR",
            Self::Other => "other MSR error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An MSR error a caller can branch on.
pub trait Error: fmt::Debug {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl Error for ErrorKind {
    #[inline]
    fn kind(&self) -> ErrorKind {
        *self
    }
}

impl core::error::Error for ErrorKind {}

/// Reads one 64-bit model-specific register on one logical CPU.
pub trait MsrReader {
    /// Error of every read.
    type Error: Error;

    /// Reads MSR `msr` on logical CPU `cpu`.
    fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, Self::Error>;
}

impl<T: MsrReader + ?Sized> MsrReader for &mut T {
    type Error = T::Error;
    #[inline]
    fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, Self::Error> {
        T::read_msr(self, cpu, msr)
    }
}

pub mod amd;
pub mod aperf;
pub mod energy;
pub mod intel;
#[cfg(feature = "x86-rdmsr")]
pub mod x86;
