//! The unit of provisioning work stored in `pending_ops`, and how `fan_out` marks the
//! intents an OSIS call applies itself (issue 15, `reconciler::INLINE_CLAIM_TIMEOUTS`).

use serde::{Deserialize, Serialize};

/// One unit of backend work, stored as JSON in `pending_ops` (no secrets: the reconciler derives
/// everything else from the store and the driver).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Intent {
    /// Make the tenant exist on the backend, or remove it (with `purge`) if the store no longer has it.
    Tenant {
        tenant_id: String,
        name: String,
        purge: bool,
        /// Written by a deletion, before the store row goes: while that row is still there
        /// the reconciler waits for the deletion to commit ([`super::DELETE_SETTLE`]) instead of
        /// re-creating what is being deleted.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        delete: bool,
    },
    /// `purge_data` on a shared-namespace backend: delete the bucket and everything in it.
    PurgeBucket {
        tenant_id: String,
        owner_user_id: String,
        backend_bucket: String,
    },
    /// Make the user's identity exist with its current status, or remove it if gone from the store.
    User {
        tenant_id: String,
        user_id: String,
        display_name: String,
        purge: bool,
        /// Known backend principal (for removal after the store row is gone).
        backend_user: Option<String>,
        access_key: Option<String>,
        /// Written by a deletion (see `Tenant::delete`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        delete: bool,
    },
}

/// An intent as `fan_out` stores it: applied right away by the OSIS call that wrote it.
#[derive(Serialize)]
pub(super) struct InlineIntent<'a> {
    #[serde(flatten)]
    pub intent: &'a Intent,
    pub inline: bool,
}
