//! Ring-0 [`MsrReader`] on the raw RDMSR instruction (feature `x86-rdmsr`, x86/x86_64
//! only), for firmware, kernels and hypervisor-less bare-metal ports.
//!
//! RDMSR is privileged: executed in user space it raises #GP, which Linux delivers as
//! SIGSEGV. On Linux use the binding's `/dev/cpu/N/msr` reader instead. RDMSR also only
//! reads the CPU it executes on, so an [`RdmsrReader`] is bound to one CPU and answers
//! [`ErrorKind::NoSuchCpu`] for any other. An MSR the CPU does not implement raises #GP
//! in ring 0 too; this reader cannot turn that into [`ErrorKind::Unsupported`], so the
//! caller must only read MSRs it knows exist (check CPUID first).
//!
//! This is the one place in the crate with `unsafe`. It cannot be exercised by the test
//! suite (tests run in user space); only the CPU-mismatch path, which never executes
//! RDMSR, is tested.
#![allow(unsafe_code)]

use core::marker::PhantomData;

use super::{ErrorKind, MsrReader};

/// Reads MSRs with RDMSR on the CPU it was created for.
///
/// Neither `Send` nor `Sync`: a reader is bound to the CPU (and so the thread or
/// context) that created it, and safe code must not be able to move it elsewhere.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RdmsrReader {
    cpu: u32,
    _bound_to_this_context: PhantomData<*const ()>,
}

impl RdmsrReader {
    /// A reader for logical CPU `executing_cpu`, the CPU the caller runs on.
    ///
    /// # Safety
    ///
    /// For every later [`MsrReader::read_msr`] call on this reader with `cpu ==
    /// executing_cpu`, the caller guarantees that:
    /// - the code runs in ring 0 (CPL 0);
    /// - it runs on logical CPU `executing_cpu` (pinned, no migration in between);
    /// - the MSR asked for is implemented by this CPU, or a #GP handler is in place.
    ///
    /// Calls for any other `cpu` execute nothing and are always safe.
    pub const unsafe fn new(executing_cpu: u32) -> Self {
        Self {
            cpu: executing_cpu,
            _bound_to_this_context: PhantomData,
        }
    }

    /// The CPU this reader reads.
    pub const fn cpu(&self) -> u32 {
        self.cpu
    }
}

impl MsrReader for RdmsrReader {
    type Error = ErrorKind;

    fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, ErrorKind> {
        if cpu != self.cpu {
            // RDMSR cannot reach another CPU; a cross-CPU call is the port's job.
            return Err(ErrorKind::NoSuchCpu);
        }
        // SAFETY: `RdmsrReader::new`'s contract guarantees ring 0, execution on `self.cpu`
        // (== `cpu`), and that `msr` is implemented or #GP is handled.
        let value = unsafe { ::x86::msr::rdmsr(msr) };
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_cpu_is_no_such_cpu_without_executing_rdmsr() {
        // SAFETY: this reader is only asked for CPU 1, never for CPU 0, so RDMSR is never
        // executed; the contract of `new` covers reads of CPU 0 only.
        let mut r = unsafe { RdmsrReader::new(0) };
        assert_eq!(r.read_msr(1, 0x10), Err(ErrorKind::NoSuchCpu));
        assert_eq!(r.cpu(), 0);
    }
}
