//! `frocket-s3`: an S3-compatible server over a directory, for the project's container images
//! (the container suite and the compose file; docs/testing.md "Containers"). The protocol is
//! the `s3s` crate's and the storage `s3s-fs`'s (a bucket is a directory under the root, an
//! object a file); this program only binds, authenticates and announces itself.
//!
//! `frocket-s3 [--host 0.0.0.0] [--port 9000] [--root /data]` with the credentials clients sign
//! with in `FROCKET_S3_ACCESS_KEY` / `FROCKET_S3_SECRET_KEY` (default `testing` / `testing`, the
//! harness's). Prints `frocket-s3 listening on http://ADDR` once it accepts connections.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::path::PathBuf;
use std::process::ExitCode;

struct Args {
    host: String,
    port: u16,
    root: PathBuf,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args { host: "0.0.0.0".into(), port: 9000, root: PathBuf::from("/data") };
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().ok_or(format!("{a} needs {what}"));
        match a.as_str() {
            "--host" => args.host = value("a host")?,
            "--port" => args.port = value("a port")?.parse().map_err(|e| format!("--port: {e}"))?,
            "--root" => args.root = PathBuf::from(value("a directory")?),
            other => {
                return Err(format!("unknown argument {other} (usage: frocket-s3 [--host H] [--port P] [--root DIR])"));
            }
        }
    }
    Ok(args)
}

async fn run(args: Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.root).map_err(|e| format!("create {}: {e}", args.root.display()))?;
    let fs = s3s_fs::FileSystem::new(&args.root).map_err(|e| format!("open {}: {e:?}", args.root.display()))?;
    let key = |var: &str| std::env::var(var).unwrap_or_else(|_| "testing".into());
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(key("FROCKET_S3_ACCESS_KEY"), key("FROCKET_S3_SECRET_KEY")));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| format!("bind {}:{}: {e}", args.host, args.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("frocket-s3 listening on http://{addr}, root {}", args.root.display());
    let http = ConnBuilder::new(TokioExecutor::new());
    // As PID 1 of a container it must end on SIGTERM itself (no default handler there).
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    loop {
        let socket = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("frocket-s3: accept: {e}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        };
        let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("frocket-s3: {e}");
            return ExitCode::from(2);
        }
    };
    integration_tests::run_main(run(args))
}
