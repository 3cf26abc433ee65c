//! What a register operation decides once the promise quorum has shown the current value.

use super::message::Value;

/// The result of applying an operation to the current value of a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write this new value; once a majority accepted it, the operation's outcome is `Outcome`.
    Write(Value, Outcome),
    /// Leave the register as it is; the operation's outcome is `Outcome`.
    Keep(Outcome),
    /// The operation conflicts with the current value (lock held, not the holder, ...).
    Reject(String),
}

/// The successful outcome of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Lock granted with this fencing token.
    Granted(u64),
    Released,
    Submitted,
    Read(Option<Value>),
    /// Task claimed by this node with this claim epoch.
    Claimed(u64),
    /// Claim renewed; the new claim epoch.
    Renewed(u64),
    Finished,
    /// A key-value operation's outcome.
    Kv(super::kv::KvOutcome),
    /// Nothing to do (task already done, claimed by a live node, ...).
    Skipped(String),
}
