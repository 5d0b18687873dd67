//! The project's container images, built with no registry (docs/testing.md "Containers").
//!
//! Why this way: the machines (and CI) have a Docker Engine but no image registry, so no base
//! image can be pulled and BuildKit cannot fetch a frontend. Each image is a root filesystem
//! the project assembles itself — its binaries, the shared libraries `ldd` names for them, the
//! dynamic loader, `/tmp`, `/etc/passwd`, CA certificates where a program speaks TLS — streamed
//! as a tar into `docker import`, which needs nothing from outside.
//!
//! | image | contents | entrypoint |
//! |---|---|---|
//! | `frocket-redis` | Debian's `redis-server` | `redis-server` (CMD: no protected mode, `/data`) |
//! | `frocket-s3` | `frocket-s3` (s3s over a directory) | `frocket-s3 --host 0.0.0.0 --port 9000 --root /data` |
//! | `frocket` | the `frocket` CLI (worker, API server, invoker) | `frocket` (CMD `worker`) |
//! | `frocket-lambda` | the Lambda emulator + `frocket-lambda` as `/var/task/bootstrap` | `lambda-emulator --listen 0.0.0.0:9001` |
//!
//! Every image runs as `nobody` (65534), owning only its data directories (`/data`,
//! `/var/lib/frocket`); binaries and libraries belong to root.
//!
//! Invariants: an image's tag is the first 16 hex digits of a SHA-256 over everything that goes
//! into it (every path and byte, the entrypoint, the default command and environment), so an
//! image is rebuilt exactly when an input changed and reused otherwise (`ensure` only inspects
//! then). Each is also tagged `:local`, the name the compose file uses. Binaries come from the
//! caller's build (debug for the tests, as `cargo xtask images` builds them).

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why an image could not be had, by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No Docker Engine answers: skip container tests (or fail them under CI).
    #[error("no Docker Engine reachable: {0}")]
    NoEngine(String),
    /// An input is missing or unreadable (build the binaries; install redis-server).
    #[error("{0}")]
    Input(String),
    /// The engine refused the import.
    #[error("docker import of {image}: {message}")]
    Import { image: String, message: String },
}

/// The label every image of the project carries (value: its repository), so that pruning finds
/// the untagged leftovers too.
pub const LABEL: &str = "org.frocket.image";

/// Every image runs its program as this user and group (`nobody`), never as root; the
/// directories an [`ImageDef`] lists are theirs.
pub const NOBODY: u32 = 65534;

/// The loader every dynamically linked x86-64 / arm64 program needs.
const LOADERS: &[&str] = &["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"];

/// One image: what goes into its root and how it starts.
#[derive(Debug, Clone)]
pub struct ImageDef {
    pub repo: String,
    /// (file on this machine, path in the image): executables, with their libraries added.
    pub binaries: Vec<(PathBuf, String)>,
    /// Empty directories the program writes, owned by [`NOBODY`] (`/tmp`: root, mode 1777).
    pub dirs: Vec<String>,
    pub ca_certs: bool,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// An image in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub repo: String,
    pub tag: String,
}

impl Image {
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }
}

/// The binaries the images are made of.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub frocket: PathBuf,
    pub lambda_worker: PathBuf,
    pub lambda_emulator: PathBuf,
    pub s3_server: PathBuf,
    pub redis_server: PathBuf,
}

impl Binaries {
    /// This build's binaries (built first when missing) and the `redis-server` on `PATH`.
    pub fn of_this_build() -> Result<Binaries, ImageError> {
        let redis = crate::redis_server_bin();
        let redis_server = which(&redis).ok_or_else(|| {
            ImageError::Input(format!(
                "{redis} not found (install Debian's redis-server: `apt-get install redis-server`)"
            ))
        })?;
        Ok(Binaries {
            frocket: crate::lambda_stack::workspace_binary("frocket", "frocket"),
            lambda_worker: crate::lambda_stack::workspace_binary("frocket-lambda", "worker"),
            lambda_emulator: crate::lambda_stack::workspace_binary("lambda-emulator", "integration-tests"),
            s3_server: crate::lambda_stack::workspace_binary("frocket-s3", "integration-tests"),
            redis_server,
        })
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Some(PathBuf::from(cmd)).filter(|p| p.is_file());
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(cmd)).find(|p| p.is_file())
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The four images of the suite and the compose file.
pub fn definitions(b: &Binaries) -> Vec<ImageDef> {
    vec![
        ImageDef {
            repo: "frocket-redis".into(),
            binaries: vec![(b.redis_server.clone(), "/usr/bin/redis-server".into())],
            dirs: strs(&["/data", "/tmp"]),
            ca_certs: false,
            entrypoint: strs(&["/usr/bin/redis-server"]),
            cmd: strs(&["--protected-mode", "no", "--dir", "/data"]),
            env: vec![],
        },
        ImageDef {
            repo: "frocket-s3".into(),
            binaries: vec![(b.s3_server.clone(), "/usr/bin/frocket-s3".into())],
            dirs: strs(&["/data", "/tmp"]),
            ca_certs: false,
            entrypoint: strs(&["/usr/bin/frocket-s3", "--host", "0.0.0.0", "--port", "9000", "--root", "/data"]),
            cmd: vec![],
            env: vec![],
        },
        ImageDef {
            repo: "frocket".into(),
            binaries: vec![(b.frocket.clone(), "/usr/bin/frocket".into())],
            dirs: strs(&["/tmp", "/var/lib/frocket"]),
            ca_certs: true,
            entrypoint: strs(&["/usr/bin/frocket"]),
            cmd: strs(&["worker"]),
            env: vec![("FROCKET_HOME".into(), "/var/lib/frocket".into())],
        },
        ImageDef {
            repo: "frocket-lambda".into(),
            binaries: vec![
                (b.lambda_emulator.clone(), "/usr/bin/lambda-emulator".into()),
                (b.lambda_worker.clone(), "/var/task/bootstrap".into()),
            ],
            dirs: strs(&["/tmp"]),
            ca_certs: true,
            entrypoint: strs(&[
                "/usr/bin/lambda-emulator",
                "--listen",
                "0.0.0.0:9001",
                "--bootstrap",
                "/var/task/bootstrap",
            ]),
            cmd: vec![],
            env: vec![],
        },
    ]
}

/// Checks that a Docker Engine answers (`docker version`).
pub fn engine_reachable() -> Result<(), ImageError> {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map_err(|e| ImageError::NoEngine(format!("run docker: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ImageError::NoEngine(String::from_utf8_lossy(&out.stderr).trim().to_string()))
    }
}

/// A file of the root: its path in the image, bytes and mode.
struct Entry {
    path: String,
    bytes: Vec<u8>,
    mode: u32,
}

/// The shared libraries (and loader) `ldd` names for `bin`, as absolute paths.
fn libraries(bin: &Path) -> Result<Vec<String>, ImageError> {
    let out = Command::new("ldd").arg(bin).output().map_err(|e| ImageError::Input(format!("run ldd: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // A static binary: nothing to add.
        return if text.contains("not a dynamic executable")
            || String::from_utf8_lossy(&out.stderr).contains("not a dynamic")
        {
            Ok(vec![])
        } else {
            Err(ImageError::Input(format!("ldd {}: {}", bin.display(), String::from_utf8_lossy(&out.stderr).trim())))
        };
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("=> not found") {
            return Err(ImageError::Input(format!("{}: library missing: {line}", bin.display())));
        }
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim().split(' ').next().unwrap_or(""),
            None => line.split(' ').next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.push(path.to_string());
        }
    }
    Ok(libs)
}

fn read(path: &Path) -> Result<Vec<u8>, ImageError> {
    std::fs::read(path).map_err(|e| ImageError::Input(format!("read {}: {e}", path.display())))
}

/// The files of `def`'s root, sorted by path (so the hash does not depend on discovery order).
fn root_files(def: &ImageDef) -> Result<Vec<Entry>, ImageError> {
    let mut files: Vec<Entry> = Vec::new();
    let add = |files: &mut Vec<Entry>, path: String, bytes: Vec<u8>, mode: u32| {
        if !files.iter().any(|f| f.path == path) {
            files.push(Entry { path, bytes, mode });
        }
    };
    for (host, in_image) in &def.binaries {
        if !host.is_file() {
            return Err(ImageError::Input(format!("{} missing (build it first)", host.display())));
        }
        add(&mut files, in_image.clone(), read(host)?, 0o755);
        for lib in libraries(host)? {
            add(&mut files, lib.clone(), read(Path::new(&lib))?, 0o755);
        }
    }
    for loader in LOADERS {
        if files.iter().any(|f| f.path == *loader) {
            continue;
        }
        // Programs name the loader by this path even when ldd printed another spelling.
        if let Some(real) = files.iter().find(|f| f.path.ends_with(loader.rsplit('/').next().unwrap_or(""))) {
            let bytes = real.bytes.clone();
            add(&mut files, loader.to_string(), bytes, 0o755);
        }
    }
    add(
        &mut files,
        "/etc/passwd".into(),
        b"root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".to_vec(),
        0o644,
    );
    add(&mut files, "/etc/group".into(), b"root:x:0:\nnogroup:x:65534:\n".to_vec(), 0o644);
    add(&mut files, "/etc/nsswitch.conf".into(), b"hosts: files dns\n".to_vec(), 0o644);
    if def.ca_certs {
        let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
        if bundle.is_file() {
            add(&mut files, bundle.display().to_string(), read(bundle)?, 0o644);
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The content tag: SHA-256 over the definition and every file.
fn content_tag(def: &ImageDef, files: &[Entry]) -> String {
    let mut h = Sha256::new();
    h.update(b"frocket-image-v3\0");
    for part in [&def.entrypoint, &def.cmd, &def.dirs] {
        h.update(part.join("\0").as_bytes());
        h.update(b"\x01");
    }
    for (k, v) in &def.env {
        h.update(format!("{k}={v}\0").as_bytes());
    }
    for f in files {
        h.update(f.path.as_bytes());
        h.update(format!("\0{:o}\0{}\0", f.mode, f.bytes.len()).as_bytes());
        h.update(&f.bytes);
    }
    hex::encode(h.finalize())[..16].to_string()
}

fn image_exists(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The tar of the root: parent directories first, then the files.
fn write_tar(out: impl Write, def: &ImageDef, files: &[Entry]) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut dirs: Vec<String> = def.dirs.clone();
    for f in files {
        let mut p = Path::new(&f.path).parent();
        while let Some(d) = p.filter(|d| *d != Path::new("/")) {
            dirs.push(d.display().to_string());
            p = d.parent();
        }
    }
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if d == "/tmp" { 0o1777 } else { 0o755 });
        // The program's own directories belong to the user it runs as; the rest to root.
        let owner = if d != "/tmp" && def.dirs.contains(d) { NOBODY } else { 0 };
        h.set_uid(owner.into());
        h.set_gid(owner.into());
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, d.trim_start_matches('/'), std::io::empty())?;
    }
    for f in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(f.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(f.bytes.len() as u64);
        h.set_mtime(0);
        tar.append_data(&mut h, f.path.trim_start_matches('/'), f.bytes.as_slice())?;
    }
    tar.into_inner()?.flush()
}

/// `def`'s image: reused when its content tag exists, else imported; also tagged `:local`.
/// Returns the image and whether it was built now.
pub fn ensure(def: &ImageDef) -> Result<(Image, bool), ImageError> {
    let files = root_files(def)?;
    let image = Image { repo: def.repo.clone(), tag: content_tag(def, &files) };
    let reference = image.reference();
    let built = !image_exists(&reference);
    if built {
        let json = |v: &[String]| serde_json::to_string(v).expect("strings serialize");
        let mut cmd = Command::new("docker");
        cmd.arg("import").arg("--change").arg(format!("ENTRYPOINT {}", json(&def.entrypoint)));
        cmd.arg("--change").arg(format!("LABEL {LABEL}={}", def.repo));
        cmd.arg("--change").arg(format!("USER {NOBODY}:{NOBODY}"));
        if !def.cmd.is_empty() {
            cmd.arg("--change").arg(format!("CMD {}", json(&def.cmd)));
        }
        for (k, v) in &def.env {
            cmd.arg("--change").arg(format!("ENV {k}={v}"));
        }
        cmd.args(["-", &reference]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| ImageError::NoEngine(format!("run docker import: {e}")))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let written = write_tar(std::io::BufWriter::with_capacity(1 << 20, stdin), def, &files);
        let out = child
            .wait_with_output()
            .map_err(|e| ImageError::Import { image: reference.clone(), message: e.to_string() })?;
        if !out.status.success() || written.is_err() {
            let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if let Err(e) = written {
                message.push_str(&format!(" (writing the root: {e})"));
            }
            return Err(ImageError::Import { image: reference, message });
        }
    }
    let local = format!("{}:local", def.repo);
    let st = Command::new("docker")
        .args(["tag", &reference, &local])
        .status()
        .map_err(|e| ImageError::NoEngine(format!("run docker tag: {e}")))?;
    if !st.success() {
        return Err(ImageError::Import { image: local, message: "docker tag failed".into() });
    }
    Ok((image, built))
}

/// Every image of [`definitions`], by repository name.
#[derive(Debug, Clone)]
pub struct Images {
    pub redis: Image,
    pub s3: Image,
    pub frocket: Image,
    pub lambda: Image,
}

/// Builds what is missing (`cargo xtask images`, and the container tests before they start).
pub fn ensure_all(
    b: &Binaries,
    mut progress: impl FnMut(&Image, bool, std::time::Duration),
) -> Result<Images, ImageError> {
    engine_reachable()?;
    // Tests run in parallel processes: one builds, the others wait and then find the images
    // (two imports of one tag would leave an untagged duplicate behind).
    let lock_path = b.frocket.with_file_name("frocket-images.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| ImageError::Input(format!("create {}: {e}", lock_path.display())))?;
    lock.lock().map_err(|e| ImageError::Input(format!("lock {}: {e}", lock_path.display())))?;
    let mut out = Vec::new();
    for def in definitions(b) {
        let t = std::time::Instant::now();
        let (image, built) = ensure(&def)?;
        progress(&image, built, t.elapsed());
        out.push(image);
    }
    let mut it = out.into_iter();
    let mut next = || it.next().expect("four definitions");
    Ok(Images { redis: next(), s3: next(), frocket: next(), lambda: next() })
}

/// Removes the other content tags of `images`' repositories (older builds), keeping the
/// current ones and `:local`; an image a container still uses is kept (the engine refuses).
/// Returns the references removed. Not done by the test harness: another checkout on the same
/// engine may be about to use an older tag.
pub fn prune_stale(images: &Images) -> Result<Vec<String>, ImageError> {
    let mut removed = Vec::new();
    for keep in [&images.redis, &images.s3, &images.frocket, &images.lambda] {
        let out = Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}", &keep.repo])
            .output()
            .map_err(|e| ImageError::NoEngine(format!("run docker images: {e}")))?;
        for reference in String::from_utf8_lossy(&out.stdout).lines() {
            let tag = reference.rsplit(':').next().unwrap_or("");
            if tag == keep.tag || tag == "local" || tag.len() != 16 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let rm =
                Command::new("docker").args(["rmi", reference]).stdout(Stdio::null()).stderr(Stdio::null()).status();
            if rm.is_ok_and(|s| s.success()) {
                removed.push(reference.to_string());
            }
        }
    }
    // Untagged leftovers of the project's images (an interrupted or superseded import).
    let dangling = Command::new("docker")
        .args(["images", "-q", "--filter", "dangling=true", "--filter", &format!("label={LABEL}")])
        .output()
        .map_err(|e| ImageError::NoEngine(format!("run docker images: {e}")))?;
    for id in String::from_utf8_lossy(&dangling.stdout).lines().filter(|l| !l.is_empty()) {
        let rm = Command::new("docker").args(["rmi", id]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if rm.is_ok_and(|s| s.success()) {
            removed.push(format!("untagged {id}"));
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(cmd: &[&str]) -> ImageDef {
        ImageDef {
            repo: "t".into(),
            binaries: vec![],
            dirs: strs(&["/tmp"]),
            ca_certs: false,
            entrypoint: strs(&["/x"]),
            cmd: strs(cmd),
            env: vec![],
        }
    }

    fn entry(path: &str, bytes: &[u8]) -> Entry {
        Entry { path: path.into(), bytes: bytes.to_vec(), mode: 0o755 }
    }

    #[test]
    fn the_tag_changes_with_any_input_and_only_then() {
        let files = vec![entry("/x", b"abc")];
        let base = content_tag(&def(&["a"]), &files);
        assert_eq!(base, content_tag(&def(&["a"]), &[entry("/x", b"abc")]));
        assert_ne!(base, content_tag(&def(&["b"]), &files), "command");
        assert_ne!(base, content_tag(&def(&["a"]), &[entry("/x", b"abd")]), "bytes");
        assert_ne!(base, content_tag(&def(&["a"]), &[entry("/y", b"abc")]), "path");
        let mut with_env = def(&["a"]);
        with_env.env.push(("K".into(), "V".into()));
        assert_ne!(base, content_tag(&with_env, &files), "environment");
        assert_eq!(base.len(), 16);
    }

    #[test]
    fn the_root_tar_holds_parents_tmp_and_files_and_only_data_dirs_belong_to_nobody() {
        let mut buf = Vec::new();
        let mut d = def(&[]);
        d.dirs.push("/data".into());
        write_tar(&mut buf, &d, &[entry("/usr/bin/x", b"bin"), entry("/lib64/ld.so", b"ld")]).unwrap();
        let mut ar = tar::Archive::new(buf.as_slice());
        let mut seen: Vec<(String, u32)> = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            seen.push((e.path().unwrap().display().to_string(), e.header().mode().unwrap()));
        }
        let names: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["data", "lib64", "tmp", "usr", "usr/bin", "usr/bin/x", "lib64/ld.so"]);
        assert_eq!(seen[2].1, 0o1777, "/tmp is world-writable and sticky");
        let mut ar = tar::Archive::new(buf.as_slice());
        let owners: Vec<(String, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().display().to_string(), e.header().uid().unwrap())
            })
            .collect();
        assert!(owners.iter().all(|(p, uid)| *uid == 0 || p == "data"), "{owners:?}");
        assert!(owners.contains(&("data".to_string(), u64::from(NOBODY))), "{owners:?}");
    }

    #[test]
    fn libraries_of_a_dynamic_binary_include_libc_and_the_loader() {
        let libs = libraries(Path::new("/bin/ls")).unwrap();
        assert!(libs.iter().any(|l| l.contains("libc.so")), "{libs:?}");
        assert!(libs.iter().any(|l| l.contains("ld-linux")), "{libs:?}");
    }
}
