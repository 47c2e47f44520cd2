//! Paging over a sorted key space with prefix, delimiter (common prefixes) and a resume marker:
//! the part of ListObjects (v1 and v2) and ListMultipartUploads that does not touch disk.

/// One entry of a page: an item, or a common prefix standing for every key below it.
#[derive(Debug)]
pub(crate) enum Entry<'a, T> {
    Item(&'a T),
    Prefix(String),
}

#[derive(Debug)]
pub(crate) struct Page<'a, T> {
    pub entries: Vec<Entry<'a, T>>,
    pub truncated: bool,
}

impl<T> Page<'_, T> {
    /// Where the next page resumes: the last key or common prefix returned, if truncated.
    pub(crate) fn next_marker(&self, key: impl Fn(&T) -> &str) -> Option<String> {
        if !self.truncated {
            return None;
        }
        self.entries.last().map(|e| match e {
            Entry::Item(t) => key(t).to_owned(),
            Entry::Prefix(p) => p.clone(),
        })
    }
}

/// Index of the first key strictly after `marker` (or the first at all).
pub(crate) fn start_after<T>(items: &[T], key: impl Fn(&T) -> &str, marker: Option<&str>) -> usize {
    marker.map_or(0, |m| items.partition_point(|t| key(t) <= m))
}

/// Up to `max` entries from `items[start..]` (sorted by `key`) whose key starts with `prefix`.
///
/// With a non-empty `delimiter`, keys containing it after the prefix are rolled up into one
/// common prefix each (which counts as one entry, as in S3). A common prefix that is not after
/// `marker` was returned on an earlier page and is skipped, with all keys below it.
pub(crate) fn paginate<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> &str,
    start: usize,
    prefix: &str,
    delimiter: Option<&str>,
    marker: Option<&str>,
    max: usize,
) -> Page<'a, T> {
    let mut entries = Vec::new();
    let mut truncated = false;
    // `max-keys=0` asks for nothing; reporting "truncated" with no marker would make a
    // client that follows markers loop forever.
    if max == 0 {
        return Page { entries, truncated };
    }
    let delimiter = delimiter.filter(|d| !d.is_empty());
    // Keys with the prefix form one contiguous run in sorted order.
    let mut i = start.max(items.partition_point(|t| key(t) < prefix));
    while i < items.len() {
        let k = key(&items[i]);
        if !k.starts_with(prefix) {
            break;
        }
        // `prefix` is a prefix of `k`, so `prefix.len()` is a char boundary of `k`.
        let rest = &k[prefix.len()..];
        let common =
            delimiter.and_then(|d| rest.find(d).map(|at| &k[..prefix.len() + at + d.len()]));
        match common {
            Some(cp) => {
                if marker.is_none_or(|m| cp > m) {
                    if entries.len() == max {
                        truncated = true;
                        break;
                    }
                    entries.push(Entry::Prefix(cp.to_owned()));
                }
                // Skip the whole run of keys under this common prefix.
                i += items[i..].partition_point(|t| key(t).starts_with(cp));
            }
            None => {
                if entries.len() == max {
                    truncated = true;
                    break;
                }
                entries.push(Entry::Item(&items[i]));
                i += 1;
            }
        }
    }
    Page { entries, truncated }
}

/// `encoding-type=url` for listing results: percent-encode everything but RFC 3986 unreserved
/// characters and `/`, which is what S3 (and the SDKs' decoders) expect.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    }

    fn render(p: &Page<'_, String>) -> Vec<String> {
        p.entries
            .iter()
            .map(|e| match e {
                Entry::Item(k) => (*k).clone(),
                Entry::Prefix(p) => format!("[{p}]"),
            })
            .collect()
    }

    fn run(
        items: &[String],
        prefix: &str,
        delim: Option<&str>,
        marker: Option<&str>,
        max: usize,
    ) -> (Vec<String>, Option<String>) {
        let start = start_after(items, String::as_str, marker);
        let p = paginate(items, String::as_str, start, prefix, delim, marker, max);
        (render(&p), p.next_marker(String::as_str))
    }

    #[test]
    fn delimiter_and_paging() {
        let items = keys(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
        assert_eq!(
            run(&items, "", Some("/"), None, 10).0,
            ["[a/]", "b", "[c/]", "d"]
        );
        let (page, next) = run(&items, "", Some("/"), None, 2);
        assert_eq!(page, ["[a/]", "b"]);
        assert_eq!(next.as_deref(), Some("b"));
        let (page, next) = run(&items, "", Some("/"), Some("b"), 1);
        assert_eq!(page, ["[c/]"]);
        // Resuming after a common prefix skips every key below it.
        assert_eq!(run(&items, "", Some("/"), next.as_deref(), 10).0, ["d"]);
        assert_eq!(run(&items, "c/", Some("/"), None, 10).0, ["[c/x/]", "c/y"]);
        assert_eq!(run(&items, "c", None, None, 10).0, ["c/x/1", "c/y"]);
        let (page, next) = run(&items, "", None, None, 6);
        assert_eq!((page.len(), next), (6, None));
        assert_eq!(run(&items, "", None, None, 0), (vec![], None));
    }

    #[test]
    fn marker_before_prefix_and_multibyte() {
        let items = keys(&["x/é/1", "x/é/2", "x/ü", "y"]);
        assert_eq!(
            run(&items, "x/", Some("/"), Some("a"), 10).0,
            ["[x/é/]", "x/ü"]
        );
        assert_eq!(
            run(&items, "", Some("é"), None, 10).0,
            ["[x/é]", "x/ü", "y"]
        );
    }

    #[test]
    fn encodes() {
        assert_eq!(url_encode("a b+c/ü"), "a%20b%2Bc/%C3%BC");
    }
}
