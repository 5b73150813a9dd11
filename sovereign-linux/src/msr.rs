//! `/dev/cpu/N/msr`: the Linux [`MsrReader`].
//!
//! One read is one `pread(2)` of 8 bytes at offset = MSR index into a stack buffer
//! (HARDWARE.md §9: the kernel takes the low 32 bits of the file position as the MSR
//! index). Each CPU's device file is opened on first use and kept open for the life of the
//! reader, so a control period costs one syscall per MSR and never an `open`.
//!
//! ## Every read is a cross-CPU call
//!
//! Reading `/dev/cpu/N/msr` makes the kernel run RDMSR *on CPU N* and wait for it
//! (`rdmsr_safe_on_cpu`, a cross-CPU function call; an inter-processor interrupt when N is
//! not the calling CPU — HARDWARE.md §9). On an inference server that means interrupting
//! a core that is busy with the workload. So by default a [`LinuxMsr`] reads only from its
//! *housekeeping* CPU, which is enough for package-scope MSRs (RAPL package energy, the
//! RAPL unit register, Intel's SMI count). Reading any other CPU (per-core energy,
//! APERF/MPERF) is opt-in per CPU list with [`LinuxMsr::allow_cpus`]; a read of a CPU not
//! on the list is refused before any syscall.
//!
//! ## Errors, for people
//!
//! | cause | [`ErrorKind`] | what the message says |
//! |---|---|---|
//! | no device node | `DeviceMissing` | run `modprobe msr` |
//! | EACCES / EPERM at open | `PermissionDenied` | needs root or CAP_SYS_RAWIO |
//! | EIO (RDMSR faulted: #GP) | `Unsupported` | this CPU does not implement that MSR |
//! | ENXIO (CPU absent/offline) | `NoSuchCpu` | |
//! | fewer than 8 bytes | `Io` | short read |
//!
//! The syscalls sit behind [`MsrSys`], so tests drive the error mapping with injected
//! errno values and count syscalls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sovereign_hal::msr::{self, ErrorKind, MsrReader};

/// The default root of the per-CPU MSR device nodes.
pub const DEFAULT_DEV_CPU: &str = "/dev/cpu";

/// The syscall layer under [`LinuxMsr`]: open one CPU's device file, read 8 bytes at an
/// offset. Real code uses [`RealMsrSys`]; tests substitute a fake to inject errno values
/// and count calls.
pub trait MsrSys {
    /// An open device file.
    type File;
    /// Opens `path` read-only.
    fn open(&mut self, path: &Path) -> io::Result<Self::File>;
    /// Reads up to 8 bytes at `offset` (one `pread`), returning how many were read.
    fn pread(&mut self, file: &Self::File, buf: &mut [u8; 8], offset: u64) -> io::Result<usize>;
}

/// The real syscalls: `open(2)` and `pread(2)` through `std`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealMsrSys;

impl MsrSys for RealMsrSys {
    type File = File;
    fn open(&mut self, path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }
    fn pread(&mut self, file: &File, buf: &mut [u8; 8], offset: u64) -> io::Result<usize> {
        file.read_at(buf, offset)
    }
}

/// Why a read failed, in more detail than [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MsrErrorDetail {
    /// The device node does not exist.
    Missing,
    /// The operating system refused (errno given).
    Permission(i32),
    /// RDMSR faulted on that CPU (EIO).
    NotImplemented,
    /// The CPU is absent or offline (ENXIO, or no node while CPU 0's node exists).
    NoCpu,
    /// The read returned `got` bytes instead of 8.
    ShortRead {
        /// Bytes actually read.
        got: usize,
    },
    /// The CPU is not on this reader's list (see [`LinuxMsr::allow_cpus`]); no syscall was made.
    NotAllowed {
        /// The housekeeping CPU, which is always allowed.
        housekeeping: u32,
    },
    /// Any other I/O error (errno given when there is one).
    Other(Option<i32>),
}

/// An MSR read error: what, where, and what to do about it (see `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsrError {
    kind: ErrorKind,
    detail: MsrErrorDetail,
    path: PathBuf,
    cpu: u32,
    msr: Option<u32>,
}

impl MsrError {
    /// The detail behind [`msr::Error::kind`].
    pub fn detail(&self) -> &MsrErrorDetail {
        &self.detail
    }
    /// The device path involved.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The logical CPU.
    pub fn cpu(&self) -> u32 {
        self.cpu
    }
}

impl msr::Error for MsrError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for MsrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        let msr = self
            .msr
            .map(|m| format!("MSR {m:#X}"))
            .unwrap_or_else(|| "MSR".into());
        match &self.detail {
            MsrErrorDetail::Missing => write!(f, "{p} is missing: run `modprobe msr`"),
            MsrErrorDetail::Permission(_) => {
                write!(f, "permission denied on {p}: needs root or CAP_SYS_RAWIO")
            }
            MsrErrorDetail::NotImplemented => write!(
                f,
                "{msr} is not implemented by CPU {} (the read faulted: EIO from {p})",
                self.cpu
            ),
            MsrErrorDetail::NoCpu => {
                write!(f, "CPU {} does not exist or is offline ({p})", self.cpu)
            }
            MsrErrorDetail::ShortRead { got } => {
                write!(f, "short read of {msr} from {p}: {got} of 8 bytes")
            }
            MsrErrorDetail::NotAllowed { housekeeping } => write!(
                f,
                "CPU {} is not on this reader's CPU list: reading {p} runs a cross-CPU call on \
                 CPU {} and interrupts its work; read package-scope MSRs from the housekeeping \
                 CPU {housekeeping}, or opt in with `LinuxMsr::allow_cpus`",
                self.cpu, self.cpu
            ),
            MsrErrorDetail::Other(Some(e)) => {
                write!(
                    f,
                    "reading {msr} from {p} failed: {}",
                    io::Error::from_raw_os_error(*e)
                )
            }
            MsrErrorDetail::Other(None) => write!(f, "reading {msr} from {p} failed"),
        }
    }
}

impl std::error::Error for MsrError {}

/// Reads MSRs through `/dev/cpu/N/msr` (see the module docs).
#[derive(Debug)]
pub struct LinuxMsr<S: MsrSys = RealMsrSys> {
    root: PathBuf,
    sys: S,
    housekeeping: u32,
    allowed: BTreeSet<u32>,
    files: BTreeMap<u32, S::File>,
}

impl LinuxMsr<RealMsrSys> {
    /// A reader on `/dev/cpu` that reads only from CPU `housekeeping`.
    pub fn new(housekeeping: u32) -> Self {
        Self::with_root(DEFAULT_DEV_CPU, housekeeping)
    }

    /// A reader on another device root (tests, containers), reading only from `housekeeping`.
    pub fn with_root(root: impl Into<PathBuf>, housekeeping: u32) -> Self {
        Self::with_sys(root, housekeeping, RealMsrSys)
    }
}

impl<S: MsrSys> LinuxMsr<S> {
    /// A reader on `root` with a custom syscall layer.
    pub fn with_sys(root: impl Into<PathBuf>, housekeeping: u32, sys: S) -> Self {
        Self {
            root: root.into(),
            sys,
            housekeeping,
            allowed: BTreeSet::new(),
            files: BTreeMap::new(),
        }
    }

    /// Allows reads on these CPUs too (per-core MSRs). Each such read interrupts that CPU
    /// (a cross-CPU call, HARDWARE.md §9): list only CPUs whose per-core values you need.
    #[must_use]
    pub fn allow_cpus(mut self, cpus: impl IntoIterator<Item = u32>) -> Self {
        self.allowed.extend(cpus);
        self
    }

    /// The housekeeping CPU.
    pub fn housekeeping_cpu(&self) -> u32 {
        self.housekeeping
    }

    /// The syscall layer (tests read their counters through this).
    pub fn sys(&self) -> &S {
        &self.sys
    }

    /// The device path of `cpu`: `<root>/<cpu>/msr`.
    pub fn device_path(&self, cpu: u32) -> PathBuf {
        self.root.join(cpu.to_string()).join("msr")
    }

    /// Opens `cpu`'s device now (normally done lazily on first read), so that a daemon
    /// can report a missing module or permission problem at start-up.
    pub fn open_cpu(&mut self, cpu: u32) -> Result<(), MsrError> {
        self.file(cpu, None).map(drop)
    }

    fn error(
        &self,
        cpu: u32,
        msr: Option<u32>,
        kind: ErrorKind,
        detail: MsrErrorDetail,
    ) -> MsrError {
        MsrError {
            kind,
            detail,
            path: self.device_path(cpu),
            cpu,
            msr,
        }
    }

    fn open_error(&self, cpu: u32, msr: Option<u32>, e: &io::Error) -> MsrError {
        let errno = e.raw_os_error();
        let (kind, detail) = match errno {
            Some(libc::ENOENT) => {
                // No node for this CPU while CPU 0 has one: the module is loaded, the CPU is not there.
                if cpu != 0 && self.device_path(0).exists() {
                    (ErrorKind::NoSuchCpu, MsrErrorDetail::NoCpu)
                } else {
                    (ErrorKind::DeviceMissing, MsrErrorDetail::Missing)
                }
            }
            Some(e @ (libc::EACCES | libc::EPERM)) => {
                (ErrorKind::PermissionDenied, MsrErrorDetail::Permission(e))
            }
            // HARDWARE.md §9: open of an offline CPU or one >= nr_cpu_ids is ENXIO; a CPU
            // without the MSR feature is EIO.
            Some(libc::ENXIO) => (ErrorKind::NoSuchCpu, MsrErrorDetail::NoCpu),
            Some(libc::EIO) => (ErrorKind::Unsupported, MsrErrorDetail::NotImplemented),
            other => (ErrorKind::Io, MsrErrorDetail::Other(other)),
        };
        self.error(cpu, msr, kind, detail)
    }

    fn file(&mut self, cpu: u32, msr: Option<u32>) -> Result<&S::File, MsrError> {
        if cpu != self.housekeeping && !self.allowed.contains(&cpu) {
            let h = self.housekeeping;
            return Err(self.error(
                cpu,
                msr,
                ErrorKind::Other,
                MsrErrorDetail::NotAllowed { housekeeping: h },
            ));
        }
        if !self.files.contains_key(&cpu) {
            let path = self.device_path(cpu);
            let file = self
                .sys
                .open(&path)
                .map_err(|e| self.open_error(cpu, msr, &e))?;
            self.files.insert(cpu, file);
        }
        self.files
            .get(&cpu)
            .ok_or_else(|| self.error(cpu, msr, ErrorKind::Other, MsrErrorDetail::Other(None)))
    }
}

impl<S: MsrSys> MsrReader for LinuxMsr<S> {
    type Error = MsrError;

    fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, MsrError> {
        self.file(cpu, Some(msr))?;
        let mut buf = [0u8; 8];
        let result = match self.files.get(&cpu) {
            Some(file) => self.sys.pread(file, &mut buf, u64::from(msr)),
            None => {
                return Err(self.error(
                    cpu,
                    Some(msr),
                    ErrorKind::Other,
                    MsrErrorDetail::Other(None),
                ));
            }
        };
        match result {
            Ok(8) => Ok(u64::from_ne_bytes(buf)),
            Ok(got) => Err(self.error(
                cpu,
                Some(msr),
                ErrorKind::Io,
                MsrErrorDetail::ShortRead { got },
            )),
            Err(e) => {
                let (kind, detail) = match e.raw_os_error() {
                    // HARDWARE.md §9: a faulting RDMSR (#GP, unsupported MSR) is EIO.
                    Some(libc::EIO) => (ErrorKind::Unsupported, MsrErrorDetail::NotImplemented),
                    Some(libc::ENXIO) => (ErrorKind::NoSuchCpu, MsrErrorDetail::NoCpu),
                    Some(e @ (libc::EACCES | libc::EPERM)) => {
                        (ErrorKind::PermissionDenied, MsrErrorDetail::Permission(e))
                    }
                    other => (ErrorKind::Io, MsrErrorDetail::Other(other)),
                };
                Err(self.error(cpu, Some(msr), kind, detail))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sovereign_hal::msr::Error as _;
    use std::cell::Cell;
    use std::fs;

    const RAPL_POWER_UNIT: u32 = 0xC001_0299; // HARDWARE.md §7, beyond 3 GiB as a file offset
    const PKG_ENERGY: u32 = 0xC001_029B;
    const SMI_COUNT: u32 = 0x34; // HARDWARE.md §8

    /// Writes `value` at offset `msr` of `<root>/<cpu>/msr` (a sparse file).
    fn put(root: &Path, cpu: u32, msr: u32, value: u64) {
        let dir = root.join(cpu.to_string());
        fs::create_dir_all(&dir).unwrap();
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("msr"))
            .unwrap();
        f.write_all_at(&value.to_ne_bytes(), u64::from(msr))
            .unwrap();
    }

    #[test]
    fn reads_values_at_their_msr_offsets_from_a_sparse_file() {
        // In a plain file neighbouring indices overlap (0xC0010299 and 0xC001029B are 2
        // bytes apart), unlike the real device; so the fixture keeps each CPU's MSRs at
        // least 8 apart and puts the package energy counter on another CPU's file.
        let t = tempfile::tempdir().unwrap();
        put(t.path(), 0, SMI_COUNT, 17);
        put(t.path(), 0, RAPL_POWER_UNIT, 0x000A_1003);
        put(t.path(), 1, PKG_ENERGY, 0x1234_5678_9ABC_DEF0);
        let mut r = LinuxMsr::with_root(t.path(), 0).allow_cpus([1]);
        assert_eq!(r.read_msr(0, RAPL_POWER_UNIT).unwrap(), 0x000A_1003);
        assert_eq!(r.read_msr(1, PKG_ENERGY).unwrap(), 0x1234_5678_9ABC_DEF0);
        assert_eq!(r.read_msr(0, SMI_COUNT).unwrap(), 17);
        // The same MSR again gives the same value (pread does not move a file position).
        assert_eq!(r.read_msr(0, SMI_COUNT).unwrap(), 17);
    }

    #[test]
    fn reading_past_the_end_is_a_short_read_io_error() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), 0, 0x10, 1);
        let mut r = LinuxMsr::with_root(t.path(), 0);
        let e = r.read_msr(0, 0x20).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.detail(), &MsrErrorDetail::ShortRead { got: 0 });
        assert!(e.to_string().contains("0 of 8 bytes"), "{e}");
    }

    #[test]
    fn missing_node_says_modprobe_msr() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("0")).unwrap(); // like /dev/cpu/0 holding only `cpuid`
        let mut r = LinuxMsr::with_root(t.path(), 0);
        let e = r.read_msr(0, SMI_COUNT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DeviceMissing);
        assert!(e.to_string().contains("run `modprobe msr`"), "{e}");
        assert!(e.to_string().contains("/0/msr"), "{e}");
    }

    #[test]
    fn missing_node_of_one_cpu_while_cpu0_has_one_is_no_such_cpu() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), 0, SMI_COUNT, 1);
        let mut r = LinuxMsr::with_root(t.path(), 0).allow_cpus([9]);
        assert_eq!(
            r.read_msr(9, SMI_COUNT).unwrap_err().kind(),
            ErrorKind::NoSuchCpu
        );
    }

    #[test]
    fn other_cpus_are_refused_without_a_syscall_unless_listed() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), 0, SMI_COUNT, 1);
        put(t.path(), 3, SMI_COUNT, 3);
        let mut r = LinuxMsr::with_sys(t.path(), 0, Counting::default());
        let e = r.read_msr(3, SMI_COUNT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Other);
        assert!(e.to_string().contains("cross-CPU call"), "{e}");
        assert_eq!((r.sys().opens.get(), r.sys().preads.get()), (0, 0));
        let mut r = LinuxMsr::with_root(t.path(), 0).allow_cpus([3]);
        assert_eq!(r.read_msr(3, SMI_COUNT).unwrap(), 3);
    }

    /// Real files, counted syscalls.
    #[derive(Debug, Default)]
    struct Counting {
        opens: Cell<u32>,
        preads: Cell<u32>,
    }
    impl MsrSys for Counting {
        type File = File;
        fn open(&mut self, path: &Path) -> io::Result<File> {
            self.opens.set(self.opens.get() + 1);
            RealMsrSys.open(path)
        }
        fn pread(&mut self, f: &File, b: &mut [u8; 8], o: u64) -> io::Result<usize> {
            self.preads.set(self.preads.get() + 1);
            RealMsrSys.pread(f, b, o)
        }
    }

    #[test]
    fn one_pread_per_read_and_one_open_per_cpu_for_the_readers_life() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), 0, PKG_ENERGY, 5);
        put(t.path(), 1, PKG_ENERGY, 6);
        let mut r = LinuxMsr::with_sys(t.path(), 0, Counting::default()).allow_cpus([1]);
        for _ in 0..100 {
            assert_eq!(r.read_msr(0, PKG_ENERGY).unwrap(), 5);
            assert_eq!(r.read_msr(1, PKG_ENERGY).unwrap(), 6);
        }
        assert_eq!(r.sys().opens.get(), 2);
        assert_eq!(r.sys().preads.get(), 200);
    }

    /// A fake device layer that fails with a chosen errno at open or at read.
    #[derive(Debug, Default)]
    struct Failing {
        open_errno: Option<i32>,
        read_errno: Option<i32>,
        short: Option<usize>,
    }
    impl MsrSys for Failing {
        type File = ();
        fn open(&mut self, _: &Path) -> io::Result<()> {
            match self.open_errno {
                Some(e) => Err(io::Error::from_raw_os_error(e)),
                None => Ok(()),
            }
        }
        fn pread(&mut self, _: &(), buf: &mut [u8; 8], _: u64) -> io::Result<usize> {
            if let Some(e) = self.read_errno {
                return Err(io::Error::from_raw_os_error(e));
            }
            buf.fill(0xAB);
            Ok(self.short.unwrap_or(8))
        }
    }

    fn fail(f: Failing) -> MsrError {
        LinuxMsr::with_sys("/nonexistent", 0, f)
            .read_msr(0, RAPL_POWER_UNIT)
            .unwrap_err()
    }

    #[test]
    fn eio_on_read_is_an_unsupported_msr() {
        let e = fail(Failing {
            read_errno: Some(libc::EIO),
            ..Default::default()
        });
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(
            e.to_string()
                .contains("MSR 0xC0010299 is not implemented by CPU 0"),
            "{e}"
        );
    }

    #[test]
    fn eacces_and_eperm_at_open_need_root_or_cap_sys_rawio() {
        for errno in [libc::EACCES, libc::EPERM] {
            let e = fail(Failing {
                open_errno: Some(errno),
                ..Default::default()
            });
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
            assert!(e.to_string().contains("needs root or CAP_SYS_RAWIO"), "{e}");
        }
    }

    #[test]
    fn enxio_is_no_such_cpu_at_open_and_at_read() {
        let e = fail(Failing {
            open_errno: Some(libc::ENXIO),
            ..Default::default()
        });
        assert_eq!(e.kind(), ErrorKind::NoSuchCpu);
        let e = fail(Failing {
            read_errno: Some(libc::ENXIO),
            ..Default::default()
        });
        assert_eq!(e.kind(), ErrorKind::NoSuchCpu);
    }

    #[test]
    fn a_short_read_from_the_device_is_io_and_never_a_value() {
        let e = fail(Failing {
            short: Some(4),
            ..Default::default()
        });
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.detail(), &MsrErrorDetail::ShortRead { got: 4 });
    }

    #[test]
    fn a_failed_open_is_retried_on_the_next_read() {
        // After `modprobe msr` the reader recovers without being rebuilt.
        let t = tempfile::tempdir().unwrap();
        let mut r = LinuxMsr::with_root(t.path(), 0);
        assert_eq!(
            r.read_msr(0, SMI_COUNT).unwrap_err().kind(),
            ErrorKind::DeviceMissing
        );
        put(t.path(), 0, SMI_COUNT, 42);
        assert_eq!(r.read_msr(0, SMI_COUNT).unwrap(), 42);
    }
}
