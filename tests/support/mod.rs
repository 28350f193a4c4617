//! Shared fixtures for the integration tests: real media made with ffmpeg.

pub mod corpus;
pub mod fit_media;
