//! A fake `/dev/i2c-N` for tests: devices with 256 registers each (auto-increment for
//! words and blocks), errno injection, and counters of opens and ioctls.

use super::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Models devices behind an adapter: 256 registers per address with auto-increment for
/// words and blocks, like a simple sensor. Errors are injected by errno.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) funcs: u64,
    pub(crate) regs: HashMap<u16, [u8; 256]>,
    pub(crate) fd_address: Vec<Option<u16>>,
    pub(crate) open_errno: Option<i32>,
    pub(crate) slave_errno: Option<i32>,
    pub(crate) next_transfer_errno: Option<i32>,
    /// (read_write, command, size) of every I2C_SMBUS ioctl.
    pub(crate) transfers: Vec<(u8, u8, SmbusSize)>,
    pub(crate) opens: u32,
    pub(crate) ioctls: u32,
    pub(crate) forced: Vec<u16>,
    pub(crate) pec_on: bool,
    /// Word registers that are not two byte registers (JC-42.4, LM75): SMBus word per (address, command).
    pub(crate) words: HashMap<(u16, u8), u16>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Fake(pub(crate) Rc<RefCell<State>>);

impl Fake {
    pub(crate) fn adapter(funcs: u64) -> Self {
        let f = Self::default();
        f.0.borrow_mut().funcs = funcs;
        f
    }
    pub(crate) fn with_device(self, address: u16, regs: &[(u8, u8)]) -> Self {
        let mut map = [0u8; 256];
        for &(r, v) in regs {
            map[usize::from(r)] = v;
        }
        self.0.borrow_mut().regs.insert(address, map);
        self
    }
    /// Adds 16-bit registers sent MSB first on the wire (JC-42.4 style), given as the
    /// chip's register values.
    pub(crate) fn with_be_words(self, address: u16, words: &[(u8, u16)]) -> Self {
        {
            let mut s = self.0.borrow_mut();
            s.regs.entry(address).or_insert([0u8; 256]);
            for &(r, v) in words {
                // HARDWARE.md §10: SMBus word = first wire byte | second << 8.
                s.words.insert((address, r), v.swap_bytes());
            }
        }
        self
    }
    pub(crate) fn ioctls(&self) -> u32 {
        self.0.borrow().ioctls
    }
    pub(crate) fn fail_next(&self, errno: i32) {
        self.0.borrow_mut().next_transfer_errno = Some(errno);
    }
    pub(crate) fn last_transfer(&self) -> Option<(u8, u8, SmbusSize)> {
        self.0.borrow().transfers.last().copied()
    }
    pub(crate) fn reg(&self, address: u16, reg: u8) -> u8 {
        self.0.borrow().regs[&address][usize::from(reg)]
    }
}

pub(crate) fn err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

impl I2cSys for Fake {
    type Fd = usize;
    fn open(&mut self, _: &Path) -> io::Result<usize> {
        let mut s = self.0.borrow_mut();
        if let Some(e) = s.open_errno {
            return Err(err(e));
        }
        s.opens += 1;
        s.fd_address.push(None);
        Ok(s.fd_address.len() - 1)
    }
    fn functionality(&mut self, _: &usize) -> io::Result<u64> {
        let mut s = self.0.borrow_mut();
        s.ioctls += 1;
        Ok(s.funcs)
    }
    fn set_address(&mut self, fd: &usize, address: u16, force: bool) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.ioctls += 1;
        if let (Some(e), false) = (s.slave_errno, force) {
            return Err(err(e));
        }
        if force {
            s.forced.push(address);
        }
        s.fd_address[*fd] = Some(address);
        Ok(())
    }
    fn set_pec(&mut self, _: &usize, enabled: bool) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.ioctls += 1;
        s.pec_on = enabled;
        Ok(())
    }
    fn smbus(
        &mut self,
        fd: &usize,
        rw: u8,
        command: u8,
        size: SmbusSize,
        data: &mut SmbusData,
    ) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.ioctls += 1;
        s.transfers.push((rw, command, size));
        if let Some(e) = s.next_transfer_errno.take() {
            return Err(err(e));
        }
        let addr = s.fd_address[*fd].ok_or_else(|| err(libc::EINVAL))?;
        let s = &mut *s;
        let words = &s.words;
        let regs = s.regs.get_mut(&addr).ok_or_else(|| err(libc::ENXIO))?;
        let c = usize::from(command);
        let at = |i: usize| (c + i) % 256;
        match (rw, size) {
            (_, SmbusSize::Quick) => {}
            (SMBUS_READ, SmbusSize::Byte) => data.block[0] = regs[0],
            (SMBUS_WRITE, SmbusSize::Byte) => regs[0] = command,
            (SMBUS_READ, SmbusSize::ByteData) => data.block[0] = regs[c],
            (SMBUS_WRITE, SmbusSize::ByteData) => regs[c] = data.block[0],
            (SMBUS_READ, SmbusSize::WordData) => {
                let w = words.get(&(addr, command)).copied();
                data.set_word(w.unwrap_or_else(|| u16::from_le_bytes([regs[c], regs[at(1)]])))
            }
            (SMBUS_WRITE, SmbusSize::WordData) => {
                let [lo, hi] = data.word().to_le_bytes();
                regs[c] = lo;
                regs[at(1)] = hi;
            }
            (SMBUS_READ, SmbusSize::BlockData) => {
                let n = usize::from(regs[c]);
                if n > 32 {
                    return Err(err(libc::EPROTO)); // the kernel refuses counts above 32
                }
                data.block[0] = regs[c];
                for i in 0..n {
                    data.block[1 + i] = regs[at(1 + i)];
                }
            }
            (SMBUS_READ, SmbusSize::I2cBlockData) => {
                for i in 0..usize::from(data.block[0]) {
                    data.block[1 + i] = regs[at(i)];
                }
            }
            (SMBUS_WRITE, SmbusSize::I2cBlockData) => {
                for i in 0..usize::from(data.block[0]) {
                    regs[at(i)] = data.block[1 + i];
                }
            }
            _ => return Err(err(libc::EINVAL)),
        }
        Ok(())
    }
}
