//! The models: one small file each, all behind [`super::Model`].

pub mod multi_register;
pub mod mutex;
pub mod register;

pub use multi_register::MultiRegister;
pub use mutex::Mutex;
pub use register::Register;
