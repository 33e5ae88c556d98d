//! One file per strategy. Each holds its `INFO` (what it is, its hyperparameters with their
//! defaults and ranges, whether it takes representation gradients), its `build` (which reads
//! the defaults from `INFO`), the strategy itself and its unit tests. The registry in
//! [`super`] lists them.

pub mod aligned_mtl;
pub mod cagrad;
pub mod config;
pub mod db_mtl;
pub mod dualproj;
pub mod dwa;
pub mod epo;
pub mod ew;
pub mod excess_mtl;
pub mod fairgrad;
pub mod famo;
pub mod gls;
pub mod graddrop;
pub mod gradnorm;
pub mod gradvac;
pub mod imtl;
pub mod manual;
pub mod mgda;
pub mod moco;
pub mod modo;
pub mod nash_mtl;
pub mod pcgrad;
pub mod rlw;
pub mod sdmgrad;
pub mod stch;
pub mod upgrad;
pub mod uw;
