//! S3 protocol: operations, errors, SigV4, aws-chunked streams. Knows nothing of pingora, OSIS or the store.

pub mod checksum;
pub mod chunked;
pub mod error;
pub mod op;
pub mod post;
pub mod scheme;
pub mod sigv2;
pub mod sigv4;

pub use error::S3Error;
pub use op::{OpKind, S3Op};
