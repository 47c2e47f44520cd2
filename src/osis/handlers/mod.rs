//! The OSIS endpoints, one file per resource (osis-api.md).

pub(crate) mod admin;
pub(crate) mod credentials;
pub(crate) mod platform;
pub(crate) mod tenants;
pub(crate) mod users;

pub(crate) use admin::*;
pub(crate) use credentials::*;
pub(crate) use platform::*;
pub(crate) use tenants::*;
pub(crate) use users::*;
