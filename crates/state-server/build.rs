//! Compiles the project's `.proto` files (in `proto/`). Needs `protoc` on PATH or in `PROTOC`;
//! `cargo xtask` provides one.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto = manifest.join("../../proto");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let files: Vec<PathBuf> = [
        "statemanager.proto",
        "monitoringserver.proto",
        "actioncontroller.proto",
        // Pullpiri mode's peers: its artifact store, Timpani's faults, the PolicyManager.
        "rocksdbservice.proto",
        "timpani/schedinfo.proto",
        "policymanager.proto",
    ]
    .iter()
    .map(|f| proto.join(f))
    .collect();
    tonic_prost_build::configure()
        .btree_map(".")
        .file_descriptor_set_path(out.join("statemanager_descriptor.bin"))
        .compile_protos(&files, std::slice::from_ref(&proto))?;
    println!("cargo:rerun-if-changed={}", proto.display());
    Ok(())
}
