//! Read-only module identity: DDR4/DDR5 SPD and IPMI FRU records, parsed from bytes the
//! caller supplies. Nothing here can write an EEPROM.

pub mod fru;
pub mod spd;
