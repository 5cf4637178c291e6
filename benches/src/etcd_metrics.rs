//! What etcd says it did, read from its `/metrics` endpoint: the load generators count the
//! store's write round trips with it.

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sum of etcd's `grpc_server_handled_total` for the KV write methods (Txn, Put, DeleteRange).
pub async fn etcd_writes(etcd: &str) -> Result<f64> {
    let host = etcd.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    Ok(body
        .lines()
        .filter(|l| l.starts_with("grpc_server_handled_total{"))
        .filter(|l| l.contains("grpc_service=\"etcdserverpb.KV\""))
        .filter(|l| {
            ["\"Txn\"", "\"Put\"", "\"DeleteRange\""]
                .iter()
                .any(|m| l.contains(&format!("grpc_method={m}")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// CPU time a process has used so far (user and system), in microseconds, from
/// `/proc/{pid}/stat`; `None` where that cannot be read.
pub fn cpu_micros(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // Linux reports these in clock ticks of 1/100 s (USER_HZ).
    Some(ticks * 10_000.0)
}

/// The peak resident memory of a process (`VmHWM`), in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
