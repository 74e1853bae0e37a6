//! Drip's GenStage pipelines, built with `otp::gen_stage::Pipeline`: [`queue`] (the queue a
//! Starter pulls from, generic over its tasks), [`upload`] (with [`sealing`], and
//! [`outcome`] for the requests waiting on it) and [`download`].

pub mod download;
pub mod outcome;
pub mod queue;
pub mod sealing;
pub mod upload;
