//! S3 protocol: operations, errors, SigV4, aws-chunked streams. Knows nothing of pingora, OSIS or the store.

pub mod checksum;
pub mod chunked;
pub mod sigv4;
