//! Protocol tests: validation cases (kinds and JSON paths), legacy translation, merge, fuzzing.

mod fuzz;
mod legacy;
mod merge;
mod validation;
