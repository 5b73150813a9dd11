//! Read-only module identity: SPD and IPMI FRU (being written).
