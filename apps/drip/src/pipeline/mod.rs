//! Drip's GenStage pipelines, built with `otp::gen_stage::Pipeline`: [`queue`] (the queue a
//! Starter pulls from, generic over its tasks), [`upload`] and [`download`].

pub mod download;
pub mod queue;
pub mod upload;
