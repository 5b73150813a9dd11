//! The SMBus-over-I2C adapter (`I2cSmbus`: framing, software PEC, two-step block reads)
//! and the `ReadOnly` wrapper around it, over a raw I2C bus whose answers come from the
//! input, with a fuzz-chosen sequence of SMBus calls (any address, command, buffer size,
//! PEC setting).
//!
//! Checked beyond "no panic": addresses above 0x7F are refused before the bus; a block
//! read returns a count within 1..=min(32, buffer); an I2C block read refuses an empty or
//! oversized buffer before the bus; writes through `ReadOnly` are refused before the
//! bus; with PEC on, every write frame ends with the PEC of the address and its bytes.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use sovereign_hal::smbus::{self, Error as _, ErrorKind, I2cSmbus, ReadOnly, Smbus};
use sovereign_hal_fuzz::{FuzzI2c, Tape};

type Log = RefCell<Vec<(u8, Vec<u8>)>>;

fn run<B: Smbus>(t: &Tape<'_>, log: &Log, bus: &mut B, read_only: bool) {
    let mut pec_on = [false; 128];
    while !t.is_empty() {
        let op = t.u8() % 9;
        // Mostly valid 7-bit addresses, sometimes anything.
        let address = if t.u8() < 0xF0 { t.u8() & 0x7F } else { t.u8() };
        let command = t.u8();
        let before = log.borrow().len();
        let result: Result<(), ErrorKind> = match op {
            0 => bus.read_byte_data(address, command).map(drop),
            1 => bus.read_word_data(address, command).map(drop),
            2 => bus.write_byte_data(address, command, t.u8()),
            3 => bus.write_word_data(address, command, t.u16()),
            4 => {
                let mut buf = vec![0u8; usize::from(t.u8() % 40)];
                match bus.read_block_data(address, command, &mut buf) {
                    Ok(n) => {
                        assert!((1..=smbus::BLOCK_MAX.min(buf.len())).contains(&n), "{n}");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            5 => {
                let mut buf = vec![0u8; usize::from(t.u8() % 40)];
                let r = bus.read_i2c_block_data(address, command, &mut buf);
                if buf.is_empty() || buf.len() > smbus::BLOCK_MAX {
                    assert_eq!(
                        r.as_ref().map_err(|e| e.kind()),
                        Err(ErrorKind::BadBlockLength)
                    );
                    assert_eq!(log.borrow().len(), before, "refused before the bus");
                }
                r
            }
            6 => bus.send_byte(address, command),
            7 => bus.receive_byte(address).map(drop),
            _ => {
                let on = t.bool();
                let r = bus.set_pec(address, on);
                if r.is_ok() {
                    pec_on[usize::from(address)] = on;
                }
                r
            }
        }
        .map_err(|e| e.kind());
        let after = log.borrow().len();
        if address > 0x7F {
            assert!(result.is_err(), "address {address:#x} accepted");
            assert_eq!(after, before, "address {address:#x} reached the bus");
            continue;
        }
        if read_only && matches!(op, 2 | 3 | 6) {
            assert_eq!(result, Err(ErrorKind::WriteRefused));
            assert_eq!(after, before, "a write went through ReadOnly");
        }
        // A plain write (byte, word, send byte) is one frame; with PEC on it ends with the
        // PEC over the write address and every byte before it.
        if !read_only && matches!(op, 2 | 3 | 6) && pec_on[usize::from(address)] {
            let log = log.borrow();
            let (a, frame) = log.last().expect("a write reached the bus");
            assert_eq!(*a, address);
            let (pec, body) = frame.split_last().expect("a frame has bytes");
            let mut wire = vec![address << 1];
            wire.extend_from_slice(body);
            assert_eq!(*pec, smbus::pec(&wire), "wrong PEC on {frame:x?}");
        }
        if let Err(kind) = result {
            let _ = kind.as_str();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t = Tape::new(data);
    let log = Log::default();
    let i2c = FuzzI2c::new(&t, &log);
    if t.bool() {
        let mut bus = ReadOnly::new(I2cSmbus::new(i2c));
        run(&t, &log, &mut bus, true);
    } else {
        let mut bus = I2cSmbus::new(i2c);
        run(&t, &log, &mut bus, false);
    }
    assert!(log.borrow().iter().all(|&(a, _)| a <= 0x7F));
});
