//! The rest of the gRPC surface: queries and offloading, malformed protobuf refused by the gRPC
//! layer without harm, and server reflection (`docs/contract.md#queries`,
//! `docs/contract.md#triggeroffloading-and-sendaction`, `docs/contract.md#wire-services`).

use state_server::pb::statemanager::{OffloadingRequest, ResourceType};

use crate::harness::{HELLOWORLD, Harness, running};

#[tokio::test]
async fn queries_and_offloading() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![running("helloworld_a"), running("other_b")])
        .await;
    let got = h.get(ResourceType::Model, "helloworld").await.expect("get");
    assert_eq!(got.state, "MODEL_STATE_RUNNING");
    let e = h
        .get(ResourceType::Package, "nope")
        .await
        .expect_err("absent");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let names = h.list(ResourceType::Model, "running").await.expect("list");
    assert_eq!(names, ["helloworld", "other"]);
    let off = h
        .client
        .trigger_offloading(OffloadingRequest {
            scenario_name: "helloworld".into(),
            package_name: "helloworld".into(),
            model_name: "helloworld".into(),
            source_node: "HPC".into(),
            target_node: "ZONE".into(),
            policy_name: "p".into(),
            reason: "test".into(),
        })
        .await
        .expect("offload")
        .into_inner();
    assert!(off.accepted, "{off:?}");
    h.stop().await;
}

/// Passes raw bytes through gRPC, to send messages no generated client would.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let bytes = src.chunk().to_vec();
        src.advance(bytes.len());
        Ok(Some(bytes))
    }
}

#[tokio::test]
async fn malformed_protobuf_is_refused_and_the_daemon_carries_on() {
    let mut h = Harness::start().await;
    let channel = tonic::transport::Endpoint::from_shared(h.daemon.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    for (method, garbage) in [
        (
            "SendChangedContainerList",
            vec![0x12, 0xff, 0xff, 0xff, 0x0f, 0x01],
        ),
        ("SendStateChange", vec![0x0a, 0x05, b'a']),
        ("SendChangedContainerList", vec![0xff; 16]),
    ] {
        grpc.ready().await.expect("ready");
        let path = tonic::codegen::http::uri::PathAndQuery::try_from(format!(
            "/statemanager.StateManagerConnection/{method}"
        ))
        .expect("path");
        let e = grpc
            .unary(tonic::Request::new(garbage), path, RawCodec)
            .await
            .expect_err("malformed message refused");
        assert!(
            matches!(
                e.code(),
                tonic::Code::Internal | tonic::Code::InvalidArgument
            ),
            "{method}: {e:?}"
        );
        assert!(e.message().contains("decode"), "{method}: {}", e.message());
    }
    // Still serving, and nothing was written.
    assert!(h.etcd.dump().await.is_empty());
    h.report("n1", vec![running("m_a")]).await;
    h.assert_stored("/container/m_a/state", "running").await;
    h.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let h = Harness::start().await;
    let channel = tonic::transport::Endpoint::from_shared(h.daemon.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let resp = stream
        .message()
        .await
        .expect("answer")
        .expect("one message");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer {resp:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"statemanager.StateManagerConnection"),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    h.stop().await;
}
