//! Control zones, curves, failsafe (being written).
