//! Test code shared by the `it` and `containers` test binaries.
#![allow(dead_code)]

#[path = "../../../engine/tests/it/data.rs"]
pub mod data;
#[path = "../../../engine/tests/it/expect.rs"]
pub mod expect;

pub mod cases;
