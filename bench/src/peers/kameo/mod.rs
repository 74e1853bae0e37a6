//! The programs in kameo.

pub mod counter;
pub mod pipeline;
