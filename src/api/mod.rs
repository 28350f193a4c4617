//! Layers and Loops HTTP surface: the wire types shared by the client and `layers-sandbox`.

pub mod types;
