//! How a whole prefix is read from etcd: in pages, each pinned to the first page's revision
//! (one consistent view whatever its size), each sized from the one before. The daemon's loads
//! use it, and so does the restart benchmark's raw baseline, so both read alike.

use etcd_client::{GetOptions, GetResponse};

/// Keys in the first page of a prefix read. Later pages grow while they are small and shrink
/// when large ([`SMALL_PAGE`], [`LARGE_PAGE`]): etcd 3.4 walks the whole rest of the range
/// for every page before applying the limit, so a read costs pages × keys, and 500-key pages
/// made a million containers take minutes to load. A page over the client's 4 MiB message
/// limit (memberships of thousands of containers) is read again at half the size.
const FIRST_PAGE: i64 = 500;
/// The largest page, in keys.
const MAX_PAGE: i64 = 16_384;
/// A page smaller than this doubles the next one.
const SMALL_PAGE: usize = 256 * 1024;
/// A page larger than this halves the next one.
const LARGE_PAGE: usize = 1024 * 1024;

/// Where a paged read of a prefix stands: the next page's first key and size, and the revision
/// every page is read at.
#[derive(Clone, Debug)]
pub struct Pages {
    /// The first key of the next page.
    pub from: Vec<u8>,
    end: Vec<u8>,
    limit: i64,
    /// The revision of the read: as asked, or (0 asked) the first page's.
    pub revision: i64,
}

impl Pages {
    /// A read of every key under `prefix` at `revision` (0: whatever the first page sees).
    pub fn new(prefix: &str, revision: i64) -> Pages {
        Pages {
            from: prefix.as_bytes().to_vec(),
            end: prefix_end(prefix.as_bytes()),
            limit: FIRST_PAGE,
            revision,
        }
    }

    /// The range, size and revision of the next page.
    pub fn options(&self) -> GetOptions {
        let options = GetOptions::new()
            .with_range(self.end.clone())
            .with_limit(self.limit);
        if self.revision > 0 {
            options.with_revision(self.revision)
        } else {
            options
        }
    }

    /// The next page was too large for one message: halves it. `false` when it is one key
    /// already.
    pub fn halve(&mut self) -> bool {
        if self.limit <= 1 {
            return false;
        }
        self.limit = (self.limit / 2).max(1);
        true
    }

    /// Takes in the page just read: pins the revision, sizes the next page from this one's
    /// bytes, and moves past its last key. `false` when it was the last page.
    pub fn advance(&mut self, page: &GetResponse) -> bool {
        if self.revision == 0 {
            self.revision = page.header().map_or(0, |h| h.revision());
        }
        let bytes: usize = page
            .kvs()
            .iter()
            .map(|k| k.key().len() + k.value().len())
            .sum();
        self.limit = next_page(self.limit, bytes);
        match page.kvs().last() {
            Some(last) if page.more() => {
                self.from = last.key().to_vec();
                self.from.push(0);
                true
            }
            _ => false,
        }
    }
}

/// The keys of the page after one of `limit` keys that held `bytes` of keys and values.
fn next_page(limit: i64, bytes: usize) -> i64 {
    if bytes < SMALL_PAGE {
        (limit * 2).min(MAX_PAGE)
    } else if bytes > LARGE_PAGE {
        (limit / 2).max(1)
    } else {
        limit
    }
}

/// The end of the key range holding every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff (or the prefix is empty): to the end of the key space.
    vec![0]
}
