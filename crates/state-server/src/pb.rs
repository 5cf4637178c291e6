//! Generated protobuf types and services. Only the edge of the server uses them; they are
//! converted into state-core types in `convert`.
#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]

pub mod statemanager {
    tonic::include_proto!("statemanager");
}
pub mod monitoringserver {
    tonic::include_proto!("monitoringserver");
}
pub mod actioncontroller {
    tonic::include_proto!("actioncontroller");
}
pub mod rocksdbservice {
    tonic::include_proto!("rocksdbservice");
}
pub mod schedinfo {
    tonic::include_proto!("schedinfo.v1");
}
pub mod policymanager {
    tonic::include_proto!("policymanager");
}

/// Encoded descriptors of the packages, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("statemanager_descriptor");
