//! `frocket-images`: builds the project's container images that are missing or out of date
//! (`cargo xtask images` runs it after building the binaries; the container tests do the same
//! before they start). See `integration_tests::images` for what goes into each.

use integration_tests::images::{Binaries, ensure_all};
use std::process::ExitCode;

fn main() -> ExitCode {
    let res = Binaries::of_this_build().and_then(|b| {
        ensure_all(&b, |image, built, took| {
            let what = if built { "built" } else { "up to date" };
            println!("{:<32} {what} ({:.1} s)", image.reference(), took.as_secs_f64());
        })
    });
    match res {
        Ok(images) => {
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
