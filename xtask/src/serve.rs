//! A small static file server for the explorer: `web/` at `/`, and the repository's
//! `examples/` at `/examples/` (so the page can offer `helloworld.yaml`). GET and HEAD only,
//! one thread per connection, `Connection: close`, no caching (a rebuild is seen on reload).

use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Component, Path, PathBuf},
    thread,
};

use anyhow::{Context, Result};

/// A running server; it lives until the process ends.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// Serves `web` at `/` and `examples` at `/examples/` on `addr` (port 0: any free port).
pub fn start(addr: &str, web: PathBuf, examples: PathBuf) -> Result<Server> {
    let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (web, examples) = (web.clone(), examples.clone());
            thread::spawn(move || {
                // A client that hangs up mid-request is not our problem.
                let _ = handle(stream, &web, &examples);
            });
        }
    });
    Ok(Server { addr })
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("yaml" | "yml") => "text/yaml; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file a URL path names, or `None` if it tries to leave its directory.
fn resolve(url_path: &str, web: &Path, examples: &Path) -> Option<PathBuf> {
    let path = url_path.split(['?', '#']).next().unwrap_or("/");
    let (dir, rest) = match path.strip_prefix("/examples/") {
        Some(rest) => (examples, rest),
        None => (web, path.trim_start_matches('/')),
    };
    let rel = Path::new(rest);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut full = dir.join(rel);
    if rest.is_empty() || full.is_dir() {
        full = full.join("index.html");
    }
    Some(full)
}

fn handle(stream: TcpStream, web: &Path, examples: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Drain the headers; nothing in them matters here.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("/");
    let mut out = stream;
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut out,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n",
            true,
        );
    }
    match resolve(target, web, examples).and_then(|p| std::fs::read(&p).ok().map(|b| (p, b))) {
        Some((path, body)) => respond(&mut out, "200 OK", mime(&path), &body, method == "GET"),
        None => respond(
            &mut out,
            "404 Not Found",
            "text/plain",
            b"not found\n",
            true,
        ),
    }
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if with_body {
        out.write_all(body)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_their_directory() {
        let (web, ex) = (Path::new("/w"), Path::new("/e"));
        assert_eq!(
            resolve("/app.js?x=1", web, ex),
            Some(PathBuf::from("/w/app.js"))
        );
        assert_eq!(
            resolve("/examples/helloworld.yaml", web, ex),
            Some(PathBuf::from("/e/helloworld.yaml"))
        );
        assert_eq!(resolve("/", web, ex), Some(PathBuf::from("/w/index.html")));
        assert_eq!(resolve("/../etc/passwd", web, ex), None);
        assert_eq!(resolve("/examples/../../x", web, ex), None);
        assert_eq!(mime(Path::new("a/b.wasm")), "application/wasm");
    }
}
