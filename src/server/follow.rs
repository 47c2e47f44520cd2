//! Follows the shared store's change feed (issue 15): every change another replica commits
//! drops the entries it makes stale in this replica's caches, moves the OSIS token generation,
//! and wakes the reconciler for queued work. Which entries a change concerns is each cache's
//! own decision (`CachedDirectory::heard`, `Access::heard`, `Provisioner::heard`); this only
//! delivers.

use std::sync::Arc;

use crate::osis::OsisState;
use crate::provision::Provisioner;
use crate::proxy::access::Access;
use crate::proxy::directory::CachedDirectory;
use crate::store::{Change, ChangeFeed};

pub struct Followers {
    pub directory: Arc<CachedDirectory>,
    pub access: Arc<Access>,
    pub osis: Arc<OsisState>,
    pub provisioner: Arc<Provisioner>,
}

/// Deliver every change of `feed` until the store closes it.
pub fn spawn(mut feed: ChangeFeed, to: Followers) {
    tokio::spawn(async move {
        while let Some(change) = feed.next().await {
            crate::metrics::global().change_heard();
            tracing::trace!(?change, "heard a store change");
            to.directory.heard(&change);
            to.access.heard(&change);
            to.provisioner.heard(&change);
            match &change {
                Change::Counter { name, value } if name == crate::osis::auth::TOKEN_GENERATION => {
                    to.osis.auth.set_generation(*value);
                }
                // a bump may have been missed: read the counter again
                Change::Resync => {
                    if let Ok(g) = to
                        .osis
                        .store
                        .counter(crate::osis::auth::TOKEN_GENERATION)
                        .await
                    {
                        to.osis.auth.set_generation(g);
                    }
                }
                _ => {}
            }
        }
    });
}
