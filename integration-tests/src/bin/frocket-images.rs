//! `frocket-images`: builds the project's container images that are missing or out of date
//! (`cargo xtask images` runs it after building the binaries; the container tests do the same
//! before they start). See `integration_tests::images` for what goes into each.
//!
//! `frocket-images [--prune]`: `--prune` also removes older content tags of the same images.

use integration_tests::images::{Binaries, ensure_all, prune_stale};
use std::process::ExitCode;

fn main() -> ExitCode {
    let prune = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--prune") => true,
        Some(other) => {
            eprintln!("frocket-images: unknown argument {other} (usage: frocket-images [--prune])");
            return ExitCode::from(2);
        }
    };
    let res = Binaries::of_this_build().and_then(|b| {
        ensure_all(&b, |image, built, took| {
            let what = if built { "built" } else { "up to date" };
            println!("{:<32} {what} ({:.1} s)", image.reference(), took.as_secs_f64());
        })
    });
    match res {
        Ok(images) => {
            if prune {
                match prune_stale(&images) {
                    Ok(removed) => removed.iter().for_each(|r| println!("{r:<32} removed (stale)")),
                    Err(e) => {
                        eprintln!("frocket-images: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            println!(
                "images ready (also tagged :local for the compose file): {}, {}, {}, {}",
                images.redis.reference(),
                images.s3.reference(),
                images.frocket.reference(),
                images.lambda.reference()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("frocket-images: {e}");
            ExitCode::FAILURE
        }
    }
}
