//! `cargo xtask dist [--check] [--arch amd64|arm64]`: what a Pullpiri installation takes, for
//! amd64 and arm64 as Pullpiri ships its own image (`docs/pullpiri.md`):
//!
//! - static (musl) `state-server` and `statectl` built with `[profile.dist]`, arm64 across
//!   with Debian's aarch64 toolchain (ring and mimalloc compile C);
//! - a container image FROM scratch (`deploy/container/Containerfile`), saved as an archive
//!   `podman load` takes: no registry is needed to build or to install it;
//! - a Debian package with the systemd unit, for hosts without podman.
//!
//! Everything lands in `target/dist/`. With `--check`, `dist_check` then runs what this
//! machine can run: each binary, the amd64 image under podman, each package's contents.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{
    provision::{self, cargo},
    util::{info, output, root, run, step},
};

/// The version every artifact carries: the workspace's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The image's name in local storage.
pub const IMAGE: &str = "localhost/statemanager";

/// One target architecture.
#[derive(Clone, Copy, Debug)]
pub struct Arch {
    /// Debian's and the OCI platform's name.
    pub name: &'static str,
    pub triple: &'static str,
    /// The C compiler for the crates that build C.
    cc: &'static str,
    ar: &'static str,
    /// The linker, where rustc's own for the target cannot link it here. (musl-gcc as the
    /// amd64 linker makes a dynamically linked binary that crashes: rustc's default links
    /// it statically with its own musl.)
    linker: Option<&'static str>,
    /// How to run its binaries here (`None`: natively).
    pub emulator: Option<&'static str>,
}

pub const ARCHES: [Arch; 2] = [
    Arch {
        name: "amd64",
        triple: "x86_64-unknown-linux-musl",
        cc: "musl-gcc",
        ar: "ar",
        linker: None,
        emulator: None,
    },
    Arch {
        name: "arm64",
        triple: "aarch64-unknown-linux-musl",
        cc: "aarch64-linux-gnu-gcc",
        ar: "aarch64-linux-gnu-ar",
        linker: Some("aarch64-linux-gnu-gcc"),
        emulator: Some("qemu-aarch64"),
    },
];

/// The binaries shipped.
pub const BINARIES: [&str; 2] = ["state-server", "statectl"];

impl Arch {
    /// Where its built binaries are.
    pub fn bin_dir(&self) -> PathBuf {
        root().join("target").join(self.triple).join("dist")
    }

    /// Its image's tag.
    pub fn image(&self) -> String {
        format!("{IMAGE}:{VERSION}-{}", self.name)
    }

    /// Its Debian package.
    pub fn deb(&self) -> PathBuf {
        out_dir().join(format!("statemanager_{VERSION}_{}.deb", self.name))
    }

    /// Its image archive.
    pub fn archive(&self) -> PathBuf {
        out_dir().join(format!("statemanager-{VERSION}-{}.tar", self.name))
    }
}

/// `target/dist/`.
pub fn out_dir() -> PathBuf {
    root().join("target").join("dist")
}

/// Builds everything for `only` (else both architectures); returns what it built for.
pub fn dist(check: bool, only: Option<&str>) -> Result<Vec<Arch>> {
    let arches: Vec<Arch> = match only {
        None => ARCHES.to_vec(),
        Some(name) => vec![
            *ARCHES
                .iter()
                .find(|a| a.name == name)
                .with_context(|| format!("--arch {name:?}: amd64 or arm64"))?,
        ],
    };
    step("provisioning tools");
    tools(&arches, check)?;
    fs::create_dir_all(out_dir())?;
    for arch in &arches {
        step(&format!(
            "{}: static binaries ([profile.dist], {})",
            arch.name, arch.triple
        ));
        build(arch)?;
        step(&format!("{}: container image FROM scratch", arch.name));
        image(arch)?;
        step(&format!("{}: Debian package", arch.name));
        deb(arch)?;
    }
    step("built");
    for arch in &arches {
        info(&arch.archive().display().to_string());
        info(&arch.deb().display().to_string());
    }
    Ok(arches)
}

fn tools(arches: &[Arch], check: bool) -> Result<()> {
    let mut want: Vec<(&str, &str)> = vec![("podman", "podman"), ("dpkg-deb", "dpkg")];
    for arch in arches {
        want.push((
            arch.cc,
            if arch.name == "amd64" {
                "musl-tools"
            } else {
                "gcc-aarch64-linux-gnu"
            },
        ));
        if let (true, Some(emulator)) = (check, arch.emulator) {
            want.push((emulator, "qemu-user"));
        }
    }
    for (binary, package) in want {
        if output("which", &[binary]).is_none() {
            provision::apt_install(binary, &[package])?;
        } else {
            info(&format!("{binary}: found"));
        }
    }
    for arch in arches {
        let mut add = Command::new("rustup");
        add.args(["target", "add", arch.triple]);
        run(add).with_context(|| {
            format!("install the target with: rustup target add {}", arch.triple)
        })?;
    }
    Ok(())
}

fn build(arch: &Arch) -> Result<()> {
    let mut args = vec![
        "build",
        "--locked",
        "--profile",
        "dist",
        "--target",
        arch.triple,
    ];
    args.extend(["-p", "state-server"]);
    for b in BINARIES {
        args.extend(["--bin", b]);
    }
    let mut cmd = cargo(&args);
    let var = arch.triple.replace('-', "_");
    cmd.env(format!("CC_{var}"), arch.cc)
        .env(format!("AR_{var}"), arch.ar);
    if let Some(linker) = arch.linker {
        cmd.env(
            format!("CARGO_TARGET_{}_LINKER", var.to_ascii_uppercase()),
            linker,
        );
    }
    run(cmd)?;
    // A static binary is what an image FROM scratch can run.
    for b in BINARIES {
        let path = arch.bin_dir().join(b);
        if let Some(kind) = output("file", &[&path.to_string_lossy()])
            && !kind.contains("static")
        {
            bail!(
                "{} is not statically linked: {}",
                path.display(),
                kind.trim()
            );
        }
    }
    for b in BINARIES {
        let path = arch.bin_dir().join(b);
        let size = fs::metadata(&path)
            .with_context(|| format!("{} was not built", path.display()))?
            .len();
        info(&format!("{b}: {:.1} MiB", size as f64 / (1024.0 * 1024.0)));
    }
    Ok(())
}

/// Copies `from` to `to`, creating `to`'s folder, with `mode`.
fn place(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::copy(from, to).with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn image(arch: &Arch) -> Result<()> {
    let deploy = root().join("deploy/container");
    let context = out_dir().join(format!("image-{}", arch.name));
    let _ = fs::remove_dir_all(&context);
    for b in BINARIES {
        place(
            &arch.bin_dir().join(b),
            &context.join("rootfs/usr/bin").join(b),
            0o755,
        )?;
    }
    for f in ["passwd", "group"] {
        place(&deploy.join(f), &context.join("rootfs/etc").join(f), 0o644)?;
    }
    fs::create_dir_all(context.join("data"))?;
    let mut build = Command::new("podman");
    build
        .args(["build", "--platform", &format!("linux/{}", arch.name)])
        .args(["-t", &arch.image(), "-f"])
        .arg(deploy.join("Containerfile"))
        .arg(&context);
    run(build)?;
    // The archive names the image as the install expects it, whatever the host's arch.
    let names = [format!("{IMAGE}:{VERSION}"), format!("{IMAGE}:latest")];
    for name in &names {
        let mut tag = Command::new("podman");
        tag.args(["tag", &arch.image(), name]);
        run(tag)?;
    }
    let _ = fs::remove_file(arch.archive());
    let mut save = Command::new("podman");
    save.args(["save", "--format", "docker-archive", "-o"])
        .arg(arch.archive())
        .args(&names);
    run(save)?;
    let mut untag = Command::new("podman");
    untag.args(["untag", &arch.image()]).args(&names);
    run(untag)
}

fn deb(arch: &Arch) -> Result<()> {
    let deploy = root().join("deploy");
    let tree = out_dir().join(format!("deb-{}", arch.name));
    let _ = fs::remove_dir_all(&tree);
    for b in BINARIES {
        place(
            &arch.bin_dir().join(b),
            &tree.join("usr/bin").join(b),
            0o755,
        )?;
    }
    place(
        &deploy.join("systemd/statemanager.service"),
        &tree.join("lib/systemd/system/statemanager.service"),
        0o644,
    )?;
    place(
        &deploy.join("debian/default"),
        &tree.join("etc/default/statemanager"),
        0o644,
    )?;
    for doc in ["README.md", "docs/pullpiri.md", "docs/contract.md"] {
        let name = Path::new(doc).file_name().context("doc name")?;
        place(
            &root().join(doc),
            &tree.join("usr/share/doc/statemanager").join(name),
            0o644,
        )?;
    }
    for script in ["postinst", "prerm"] {
        place(
            &deploy.join("debian").join(script),
            &tree.join("DEBIAN").join(script),
            0o755,
        )?;
    }
    fs::write(tree.join("DEBIAN/conffiles"), "/etc/default/statemanager\n")?;
    let installed_kib: u64 = BINARIES
        .iter()
        .filter_map(|b| fs::metadata(arch.bin_dir().join(b)).ok())
        .map(|m| m.len().div_ceil(1024))
        .sum();
    let control = format!(
        "Package: statemanager\n\
         Version: {VERSION}\n\
         Architecture: {}\n\
         Maintainer: statemanager-rs developers <statemanager-rs@eclipse.org>\n\
         Section: net\n\
         Priority: optional\n\
         Installed-Size: {installed_kib}\n\
         Depends: adduser\n\
         Homepage: https://github.com/eclipse-pullpiri/statemanager-rs\n\
         Description: StateManager for the Eclipse Pullpiri vehicle orchestrator\n \
         Derives model and package states from the NodeAgents' container lists, stores\n \
         them in etcd or an embedded store, tracks scenario lifecycles and asks the\n \
         ActionController to reconcile a package in error. Static binaries\n \
         (state-server, statectl) and a systemd unit, in Pullpiri mode by default.\n",
        arch.name
    );
    fs::write(tree.join("DEBIAN/control"), control)?;
    let mut pack = Command::new("dpkg-deb");
    pack.args(["--build", "--root-owner-group"])
        .arg(&tree)
        .arg(arch.deb());
    run(pack)?;
    if !arch.deb().exists() {
        bail!("dpkg-deb wrote no {}", arch.deb().display());
    }
    Ok(())
}
