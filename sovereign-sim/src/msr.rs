//! msr (being written).
