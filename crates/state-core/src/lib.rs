//! Pure state evaluation and cascade planning for the Pullpiri StateManager.
//!
//! This crate holds every rule of the StateManager and nothing else: the state enums and their
//! spellings ([`state`]), validated names and store keys ([`name`], [`key`]), container state
//! and membership ([`container`]), the model and package decision tables ([`eval`], over the
//! generic tables of [`table`]), the scenario transition table ([`scenario`]),
//! the stateful kinds as one type ([`kind`]), `SendStateChange` semantics ([`change`]), the
//! incremental cascade planner ([`fleet`]) and the store writes of a plan ([`writes`]).
//!
//! Its rules are the ones `docs/contract.md` states; items cite that file by section anchor.
//!
//! It knows nothing of tokio, tonic, etcd, protobuf or JavaScript: no I/O, no async. It is
//! `#![no_std]` with `alloc`.
//!
//! # Features
//!
//! - `std` (default): implements `std::error::Error` for the error types. Nothing else.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod change;
pub mod container;
pub mod episode;
pub mod error;
pub mod eval;
pub mod fleet;
pub mod history;
pub mod key;
pub mod kind;
pub mod lifecycle;
pub mod members;
pub mod name;
pub mod scenario;
pub mod state;
pub mod table;
pub mod writes;

pub use state::{ContainerState, ModelState, PackageState, PodStatus, ResourceType, ScenarioState};
