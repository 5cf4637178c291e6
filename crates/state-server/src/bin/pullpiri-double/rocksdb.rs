//! Pullpiri's RocksDB service in memory, answering as its `src/server/rocksdbservice` does:
//! keys and values as given; `Put` and `BatchPut` refuse an empty key, one over 1,024
//! characters or one holding `<>?{}` with INVALID_ARGUMENT; `Get` of a missing key is
//! `success: false, "Key not found"` with gRPC OK; `GetByPrefix` refuses an empty prefix,
//! ignores `limit` and scans in byte order; `Delete` of a missing key succeeds.

use std::{collections::BTreeMap, sync::Mutex};

use state_server::pb::rocksdbservice::{
    BatchPutRequest, BatchPutResponse, DeleteRequest, DeleteResponse, GetByPrefixRequest,
    GetByPrefixResponse, GetRequest, GetResponse, HealthRequest, HealthResponse, KeyValue,
    ListKeysRequest, ListKeysResponse, PutRequest, PutResponse,
    rocks_db_service_server::{RocksDbService, RocksDbServiceServer},
};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::said;

#[derive(Default)]
struct Db {
    kv: Mutex<BTreeMap<String, String>>,
}

fn check_key(key: &str) -> Result<(), Status> {
    if key.is_empty() {
        return Err(Status::invalid_argument("Key cannot be empty"));
    }
    if key.len() > 1024 {
        return Err(Status::invalid_argument(
            "Key exceeds maximum allowed length of 1024 characters",
        ));
    }
    if key.contains(['<', '>', '?', '{', '}']) {
        return Err(Status::invalid_argument(
            "Key contains invalid special characters",
        ));
    }
    Ok(())
}

impl Db {
    fn map(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, String>>, Status> {
        self.kv
            .lock()
            .map_err(|_| Status::internal("RocksDB lock poisoned"))
    }
}

#[tonic::async_trait]
impl RocksDbService for Db {
    async fn health(&self, _: Request<HealthRequest>) -> Result<Response<HealthResponse>, Status> {
        Ok(Response::new(HealthResponse {
            status: "healthy".into(),
            version: "1.0.0".into(),
            database_path: "/tmp/pullpiri_shared_rocksdb".into(),
        }))
    }

    async fn put(&self, r: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let r = r.into_inner();
        check_key(&r.key)?;
        said(serde_json::json!({"rpc": "Put", "key": r.key}));
        self.map()?.insert(r.key, r.value);
        Ok(Response::new(PutResponse {
            success: true,
            error: String::new(),
        }))
    }

    async fn get(&self, r: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let r = r.into_inner();
        if r.key.is_empty() {
            return Err(Status::invalid_argument("Key cannot be empty"));
        }
        Ok(Response::new(match self.map()?.get(&r.key) {
            Some(v) => GetResponse {
                success: true,
                value: v.clone(),
                message: "Key found".into(),
            },
            None => GetResponse {
                success: false,
                value: String::new(),
                message: "Key not found".into(),
            },
        }))
    }

    async fn delete(&self, r: Request<DeleteRequest>) -> Result<Response<DeleteResponse>, Status> {
        let r = r.into_inner();
        if r.key.is_empty() {
            return Err(Status::invalid_argument("Key cannot be empty"));
        }
        said(serde_json::json!({"rpc": "Delete", "key": r.key}));
        self.map()?.remove(&r.key);
        Ok(Response::new(DeleteResponse {
            success: true,
            error: String::new(),
        }))
    }

    async fn batch_put(
        &self,
        r: Request<BatchPutRequest>,
    ) -> Result<Response<BatchPutResponse>, Status> {
        let r = r.into_inner();
        for kv in &r.pairs {
            check_key(&kv.key)
                .map_err(|_| Status::invalid_argument(format!("Invalid key: {}", kv.key)))?;
        }
        let n = r.pairs.len();
        let mut map = self.map()?;
        for kv in r.pairs {
            map.insert(kv.key, kv.value);
        }
        Ok(Response::new(BatchPutResponse {
            success: true,
            processed_count: i32::try_from(n).unwrap_or(i32::MAX),
            error: String::new(),
        }))
    }

    async fn get_by_prefix(
        &self,
        r: Request<GetByPrefixRequest>,
    ) -> Result<Response<GetByPrefixResponse>, Status> {
        let r = r.into_inner();
        if r.prefix.is_empty() {
            return Err(Status::invalid_argument("Prefix cannot be empty"));
        }
        let pairs: Vec<KeyValue> = self
            .map()?
            .iter()
            .filter(|(k, _)| k.starts_with(&r.prefix))
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        Ok(Response::new(GetByPrefixResponse {
            total_count: i32::try_from(pairs.len()).unwrap_or(i32::MAX),
            pairs,
            error: String::new(),
        }))
    }

    async fn list_keys(
        &self,
        r: Request<ListKeysRequest>,
    ) -> Result<Response<ListKeysResponse>, Status> {
        let r = r.into_inner();
        let limit = usize::try_from(r.limit).ok().filter(|l| *l > 0);
        let keys: Vec<String> = self
            .map()?
            .keys()
            .filter(|k| k.starts_with(&r.prefix))
            .take(limit.unwrap_or(usize::MAX))
            .cloned()
            .collect();
        Ok(Response::new(ListKeysResponse {
            total_count: i32::try_from(keys.len()).unwrap_or(i32::MAX),
            keys,
            error: String::new(),
        }))
    }
}

pub async fn serve(
    mut server: tonic::transport::Server,
    incoming: TcpIncoming,
) -> Result<(), tonic::transport::Error> {
    server
        .add_service(RocksDbServiceServer::new(Db::default()))
        .serve_with_incoming(incoming)
        .await
}
