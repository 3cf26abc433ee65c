//! The fault vocabulary the plan and the run use: the `nemesis` crate's faults as data.

pub use nemesis::grudge;
pub use nemesis::{Fault, Grudge, GrudgeKind, NodeId};
