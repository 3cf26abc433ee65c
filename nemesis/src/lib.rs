//! nemesis: Gauntlet's leak-proof sandbox and the faults it injects.
//!
//! Each node of a cluster runs in its own network namespace, joined by a veth to a bridge
//! that lives in a private *controller* namespace the process entered at start. Partitions
//! are silent per-pair, per-direction drops; loss is random per-pair drops; slow links are
//! a token bucket on a node's egress; clock faults move a node's wall clock through
//! libfaketime; kills and pauses are signals to pids the sandbox started. Every fault is checked after it is applied. Nothing outside the
//! namespaces the sandbox made is touched, and nothing outlives the controller process:
//! node namespaces are held only by fds and by the nodes, and the nodes die with the
//! controller (parent-death signal).
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`fault`] | [`Fault`] and [`NodeId`]: faults as data (serde) |
//! | [`grudge`] | [`Grudge`] and the pure grudge functions (isolate-one, halves, ...) |
//! | [`sandbox`] | [`Sandbox`]: up/down, node processes, `apply`, `heal_all` |
//! | [`guard`] | [`FaultGuard`]: heal explicitly, or on drop as a backstop |
//! | [`partition`] | the two partition backends (kernel-only routes, iptables); loss rules share the iptables table |
//! | `shaping` | `tc` qdiscs on a node's `eth0`: tbf (slow links), netem where the kernel has it |
//! | [`clock`] | libfaketime per node: the preload, the timestamp files, strobe threads |
//! | [`process`] | node process specs and states; the spawner thread |
//! | [`clean`] | [`clean::clean`]: removes what a crashed older run could have left |
//! | `net`, `netns`, `ifconfig`, `probe` | namespace plumbing; connectivity probes used for verification |
//!
//! # Example
//!
//! ```no_run
//! use nemesis::{enter_controller_namespace, Fault, NodeId, NodeSpec, Sandbox, SandboxConfig};
//! use rand::SeedableRng;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // First thing in main, while the process has one thread (before tokio starts).
//!     enter_controller_namespace()?;
//!     let nodes = NodeId::cluster(5);
//!     let sandbox = Sandbox::up(SandboxConfig::new(nodes.clone()))?;
//!     for n in &nodes {
//!         let addr = sandbox.node_addr(n)?;
//!         let spec = NodeSpec::new("gauntlet-node", ["--listen".to_string(), format!("{addr}:7000")],
//!                                  format!("/tmp/{n}.log"));
//!         sandbox.spawn(n, spec)?;
//!     }
//!     let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//!     let grudge = nemesis::grudge::majorities_ring(&nodes, &mut rng);
//!     let cut = sandbox.apply(&Fault::Partition { grudge })?;   // verified when it returns
//!     let kill = sandbox.apply(&Fault::Kill { nodes: vec![nodes[0].clone()] })?;
//!     println!("partition in force since {:?}", cut.effective_at());
//!     kill.heal()?;            // restarts n1 into the same namespace, same args
//!     cut.heal()?;             // full connectivity again, verified
//!     sandbox.down()?;
//!     Ok(())
//! }
//! ```

pub mod clean;
pub mod clock;
pub mod error;
pub mod fault;
pub mod grudge;
pub mod guard;
pub(crate) mod ifconfig;
pub(crate) mod net;
pub(crate) mod netns;
pub mod partition;
pub(crate) mod probe;
pub mod process;
pub mod sandbox;
pub(crate) mod shaping;

pub use error::{Error, Result};
pub use fault::{Fault, Link, NodeId};
pub use grudge::{Grudge, GrudgeKind};
pub use guard::{FaultGuard, Observed};
pub use netns::{
    controller_namespace_entered, controller_uses_user_namespace, enter_controller_namespace,
    find_in_path,
};
pub use partition::{BackendChoice, PartitionBackend};
pub use process::{NodeSpec, NodeState};
pub use sandbox::{NetMode, Sandbox, SandboxConfig};
