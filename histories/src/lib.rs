//! histories: see the crate docs (to be written by its owner).
