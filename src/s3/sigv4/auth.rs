//! Parsing of the two places SigV4 credentials arrive: the `Authorization` header and the
//! `X-Amz-*` query parameters of a presigned URL.
//!
//! Spec: AWS S3 API Reference, "Authenticating Requests: Using the Authorization Header
//! (AWS Signature Version 4)" and "Authenticating Requests: Using Query Parameters". Parsing is
//! strict about content (every part present once, well-formed) and lenient only about the
//! separators between the three `Authorization` components (`, `, `,` or whitespace), which
//! real clients vary.

use chrono::{DateTime, NaiveDate, Utc};

use super::canonical::{split_ascii, split_at_byte};
use super::error::{Result, SigError};
use super::{ALGORITHM, MAX_AUTH_HEADER_BYTES, MAX_PRESIGN_EXPIRES_SECS, MAX_SIGNED_HEADERS};

/// Longest access key id accepted; real ones are 16–128 characters.
const MAX_ACCESS_KEY_LEN: usize = 128;
/// Longest region/service name accepted in a credential scope.
const MAX_SCOPE_PART_LEN: usize = 64;

/// The `Credential=` value: `AKID/yyyymmdd/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key: String,
    /// `yyyymmdd`, validated as a calendar date.
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Credential {
    /// The credential scope string `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        super::scope(&self.date, &self.region, &self.service)
    }
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub credential: Credential,
    /// Lower-case, sorted, without duplicates.
    pub signed_headers: SignedHeaders,
    pub signature: [u8; 32],
}

/// The parsed `X-Amz-*` parameters of a presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub credential: Credential,
    /// `X-Amz-Date` as sent (`yyyymmddThhmmssZ`).
    pub amz_date: String,
    pub date_time: DateTime<Utc>,
    /// `X-Amz-Expires`, already checked to be in `1..=MAX_PRESIGN_EXPIRES_SECS`.
    pub expires_secs: u64,
    pub signed_headers: SignedHeaders,
    pub signature: [u8; 32],
}

/// Parses an `Authorization` header value.
///
/// Accepts `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` with the components
/// separated by commas and/or whitespace, in any order; rejects unknown or repeated components
/// and names the missing one.
pub fn parse_authorization(value: &str) -> Result<AuthHeader> {
    if value.len() > MAX_AUTH_HEADER_BYTES {
        return Err(SigError::MalformedAuth(format!(
            "header is longer than {MAX_AUTH_HEADER_BYTES} bytes"
        )));
    }
    let value = value.trim();
    let (algorithm, rest) = match value.bytes().position(|b| b == b' ' || b == b'\t') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, ""),
    };
    if algorithm != ALGORITHM {
        return Err(SigError::UnsupportedAlgorithm(shorten(algorithm)));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for token in auth_tokens(rest) {
        let (key, val) = split_at_byte(token, b'=').ok_or_else(|| {
            SigError::MalformedAuth(format!("component '{}' is not key=value", shorten(token)))
        })?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(SigError::MalformedAuth(format!(
                    "unknown component '{}'",
                    shorten(key)
                )))
            }
        };
        if slot.replace(val).is_some() {
            return Err(SigError::MalformedAuth(format!("duplicate {key}")));
        }
    }
    let credential =
        credential.ok_or_else(|| SigError::MalformedAuth("missing Credential".into()))?;
    let signed_headers =
        signed_headers.ok_or_else(|| SigError::MalformedAuth("missing SignedHeaders".into()))?;
    let signature = signature.ok_or_else(|| SigError::MalformedAuth("missing Signature".into()))?;
    Ok(AuthHeader {
        credential: parse_credential(credential).map_err(|m| SigError::MalformedAuth(m.0))?,
        signed_headers: SignedHeaders::parse(signed_headers)
            .map_err(|m| SigError::MalformedAuth(m.0))?,
        signature: parse_signature(signature).map_err(|m| SigError::MalformedAuth(m.0))?,
    })
}

/// `s` split at commas, spaces and tabs, empty pieces skipped. Bytewise: the delimiters are
/// ASCII, so every piece starts and ends on a character boundary, and a `[char]` pattern
/// decoded every character of the header (a third of a microsecond per request, issue 13).
/// memchr's vectorised search: a byte loop over the ~200-byte header was a quarter of this
/// parser's time on the Intel host (issue 13, twelfth session).
fn auth_tokens(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < bytes.len() {
            let from = start;
            let end = memchr::memchr3(b',', b' ', b'\t', &bytes[from..])
                .map_or(bytes.len(), |p| from + p);
            start = end + 1;
            if end > from {
                return Some(&s[from..end]);
            }
        }
        None
    })
}

/// Parses the presigned-URL parameters from decoded query pairs (see [`super::parse_query`]).
///
/// Requires `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders` and `X-Amz-Signature`, each exactly once. `X-Amz-Security-Token` is
/// ignored here (it is part of the canonical query like any other parameter).
pub fn parse_presigned(query_pairs: &[(String, String)]) -> Result<Presigned> {
    let get = |name: &str| -> Result<&str> {
        let mut found = None;
        for (_, v) in query_pairs.iter().filter(|(k, _)| k == name) {
            if found.replace(v.as_str()).is_some() {
                return Err(SigError::MalformedPresign(format!("duplicate {name}")));
            }
        }
        found.ok_or_else(|| SigError::MalformedPresign(format!("missing {name}")))
    };
    let algorithm = get("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(SigError::UnsupportedAlgorithm(shorten(algorithm)));
    }
    let credential =
        parse_credential(get("X-Amz-Credential")?).map_err(|m| SigError::MalformedPresign(m.0))?;
    let amz_date = get("X-Amz-Date")?;
    let date_time = parse_amz_date(amz_date)
        .map_err(|e| SigError::MalformedPresign(format!("X-Amz-Date: {e}")))?;
    let expires = get("X-Amz-Expires")?;
    let expires_secs: u64 = if !expires.is_empty()
        && expires.len() <= 10
        && expires.bytes().all(|b| b.is_ascii_digit())
    {
        expires
            .parse()
            .map_err(|_| SigError::MalformedPresign("X-Amz-Expires is not a number".into()))?
    } else if expires
        .strip_prefix('-')
        .is_some_and(|d| !d.is_empty() && d.len() <= 10 && d.bytes().all(|b| b.is_ascii_digit()))
    {
        // a negative lifetime (boto3 `ExpiresIn=-1000`) is out of range, as zero is
        return Err(SigError::PresignTooLong);
    } else {
        return Err(SigError::MalformedPresign(
            "X-Amz-Expires should be a number of seconds".into(),
        ));
    };
    if !(1..=MAX_PRESIGN_EXPIRES_SECS).contains(&expires_secs) {
        return Err(SigError::PresignTooLong);
    }
    let signed_headers = SignedHeaders::parse(get("X-Amz-SignedHeaders")?)
        .map_err(|m| SigError::MalformedPresign(m.0))?;
    let signature =
        parse_signature(get("X-Amz-Signature")?).map_err(|m| SigError::MalformedPresign(m.0))?;
    Ok(Presigned {
        credential,
        amz_date: amz_date.to_owned(),
        date_time,
        expires_secs,
        signed_headers,
        signature,
    })
}

/// Parses the ISO 8601 basic format SigV4 uses: exactly `yyyymmddThhmmssZ`, UTC.
pub fn parse_amz_date(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
    if !shape_ok {
        return Err(format!(
            "'{}' is not in yyyymmddThhmmssZ format",
            shorten(s)
        ));
    }
    // the shape is checked above: the fields are read directly (no strftime pattern per call)
    let num = |r: std::ops::Range<usize>| decimal(&b[r]);
    NaiveDate::from_ymd_opt(num(0..4) as i32, num(4..6), num(6..8))
        .and_then(|d| d.and_hms_opt(num(9..11), num(11..13), num(13..15)))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("'{s}' is not a valid date and time"))
}

/// Parses an HTTP `Date` header (RFC 7231 IMF-fixdate, e.g. `Fri, 24 May 2013 00:00:00 GMT`).
pub fn parse_http_date(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc2822(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("'{}' is not an HTTP date", shorten(s)))
}

/// Formats a time as `yyyymmddThhmmssZ`.
pub fn format_amz_date(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // digit by digit, not through a strftime pattern or `fmt` padding per call (each was ~3 % of
    // verify + re-sign, issue 13); a year outside 0–9999 cannot be signed and is clamped
    fn push(out: &mut String, n: u32, width: u32) {
        for p in (0..width).rev() {
            out.push(char::from(b'0' + ((n / 10u32.pow(p)) % 10) as u8));
        }
    }
    let mut out = String::with_capacity(16);
    push(&mut out, t.year().clamp(0, 9999).unsigned_abs(), 4);
    push(&mut out, t.month(), 2);
    push(&mut out, t.day(), 2);
    out.push('T');
    push(&mut out, t.hour(), 2);
    push(&mut out, t.minute(), 2);
    push(&mut out, t.second(), 2);
    out.push('Z');
    out
}

/// Why a credential or signature field is malformed (wrapped by the caller as a header or a
/// presign error).
struct Malformed(String);

impl From<String> for Malformed {
    fn from(m: String) -> Self {
        Malformed(m)
    }
}

fn parse_credential(s: &str) -> std::result::Result<Credential, Malformed> {
    let bad = || {
        format!(
            "the Credential '{}' is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"",
            shorten(s)
        )
    };
    // five parts, split without collecting them (issue 13: this runs on every request)
    let mut parts = split_ascii(s, b'/');
    let (Some(access_key), Some(date), Some(region), Some(service), Some(terminator), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad().into());
    };
    if access_key.is_empty() || access_key.len() > MAX_ACCESS_KEY_LEN {
        return Err(bad().into());
    }
    if terminator != "aws4_request" {
        return Err(Malformed(format!(
            "the Credential is mal-formed; incorrect terminal '{}', expecting \"aws4_request\"",
            shorten(terminator)
        )));
    }
    let scope_part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= MAX_SCOPE_PART_LEN
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !scope_part_ok(region) || !scope_part_ok(service) {
        return Err(bad().into());
    }
    if !is_calendar_date(date) {
        return Err(Malformed(format!(
            "the Credential is mal-formed; invalid date '{}'",
            shorten(date)
        )));
    }
    Ok(Credential {
        access_key: access_key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

/// `yyyymmdd`, eight ASCII digits naming a day of the proleptic Gregorian calendar (checked by
/// chrono's `from_ymd_opt`, without parsing a strftime pattern per request).
fn is_calendar_date(date: &str) -> bool {
    let b = date.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| decimal(&b[r]);
    NaiveDate::from_ymd_opt(num(0..4) as i32, num(4..6), num(6..8)).is_some()
}

/// The value of ASCII digits already checked to be digits (at most 9 of them: no overflow).
fn decimal(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
}

/// The `SignedHeaders` of a request: lower-case header names, sorted and unique, kept as the one
/// `;`-joined string they arrive as plus where each name ends. Clients send them so already, and
/// two allocations replace the one per name of a `Vec<String>` (issue 13: verify + re-sign
/// ≤ 5 µs); lookups stay a binary search.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SignedHeaders {
    joined: String,
    /// End offset of each name in `joined` (a name starts one past the previous end).
    ends: Vec<u32>,
}

impl std::fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// [`TOKEN_CLASS`] bit: the byte may appear in a header name (RFC 9110 §5.6.2 `tchar`).
const TCHAR: u8 = 1;
/// [`TOKEN_CLASS`] bit: the byte is an ASCII upper-case letter.
const UPPER: u8 = 2;
/// Per byte: [`TCHAR`] and [`UPPER`] bits.
static TOKEN_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let special = matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        );
        if c.is_ascii_alphanumeric() || special {
            t[b] = TCHAR;
        }
        if c.is_ascii_uppercase() {
            t[b] |= UPPER;
        }
        b += 1;
    }
    t
};

impl SignedHeaders {
    /// `host;range;x-amz-date` → lower-case, sorted, unique names; at most
    /// [`MAX_SIGNED_HEADERS`], each a valid header name.
    fn parse(s: &str) -> std::result::Result<Self, Malformed> {
        let mut ends = Vec::with_capacity(16);
        let mut prev: Option<&str> = None;
        let mut canonical = true;
        let mut at = 0usize;
        for name in split_ascii(s, b';') {
            if ends.len() >= MAX_SIGNED_HEADERS {
                return Err(Malformed(format!(
                    "more than {MAX_SIGNED_HEADERS} SignedHeaders"
                )));
            }
            // one table lookup per byte: `all` keeps TCHAR only if every byte is one, `any`
            // gets UPPER if some byte is upper case
            let (mut all, mut any) = (TCHAR, 0u8);
            for b in name.bytes() {
                let class = TOKEN_CLASS[usize::from(b)];
                all &= class;
                any |= class;
            }
            if name.is_empty() || all & TCHAR == 0 {
                return Err(Malformed(format!(
                    "invalid header name '{}' in SignedHeaders",
                    shorten(name)
                )));
            }
            canonical &= any & UPPER == 0 && prev.is_none_or(|p| p < name);
            prev = Some(name);
            at += name.len();
            // `s` is at most MAX_AUTH_HEADER_BYTES long
            ends.push(u32::try_from(at).unwrap_or(u32::MAX));
            at += 1;
        }
        if canonical {
            // lower-case and strictly increasing: sorted and unique as sent
            return Ok(Self {
                joined: s.to_owned(),
                ends,
            });
        }
        let mut names: Vec<String> = s.split(';').map(str::to_ascii_lowercase).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Malformed(format!(
                "duplicate header '{}' in SignedHeaders",
                w[0]
            )));
        }
        Ok(Self::from_sorted(&names))
    }

    fn from_sorted(names: &[String]) -> Self {
        let mut joined = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
        let mut ends = Vec::with_capacity(names.len());
        for n in names {
            if !joined.is_empty() {
                joined.push(';');
            }
            joined.push_str(n);
            ends.push(u32::try_from(joined.len()).unwrap_or(u32::MAX));
        }
        Self { joined, ends }
    }

    /// The set of `names` (any case, any order, repeats allowed): what a SigV2 signature covers.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut v: Vec<String> = names.into_iter().map(str::to_ascii_lowercase).collect();
        v.sort_unstable();
        v.dedup();
        Self::from_sorted(&v)
    }

    /// The `i`-th name.
    fn get(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize + 1,
        };
        self.joined
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        (0..self.ends.len()).map(|i| self.get(i))
    }

    /// Whether `name` (lower-case) is signed.
    pub fn contains(&self, name: &str) -> bool {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(name) {
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        false
    }

    /// The names joined by `;`, as the canonical request's signed-headers line spells them.
    pub fn as_str(&self) -> &str {
        &self.joined
    }
}

fn parse_signature(s: &str) -> std::result::Result<[u8; 32], Malformed> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err(Malformed(
            "Signature must be 64 hexadecimal characters".into(),
        ));
    }
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| Malformed("Signature must be 64 hexadecimal characters".into()))?;
    Ok(out)
}

/// Client-supplied text quoted in an error message, cut to a readable length.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
