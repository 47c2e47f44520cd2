//! [`Directory`] over the identity store: what the data plane reads, as store rows become the
//! directory's types.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Directory for StoreDirectory {
    async fn key(&self, access_key: &str) -> Result<Option<KeyEntry>, DirectoryError> {
        Ok(self
            .store
            .credential(access_key)
            .await
            .map_err(unavailable)?
            .map(|c| KeyEntry {
                access_key: c.access_key,
                secret_key: c.secret_key,
                active: c.usable,
                tenant_id: c.tenant_id,
                user_id: c.user_id,
                canonical_user_id: c.canonical_user_id,
                username: c.username,
                role: c.role,
            }))
    }

    async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantInfo>, DirectoryError> {
        Ok(self
            .store
            .tenant(tenant_id)
            .await
            .map_err(unavailable)?
            .map(|t| TenantInfo {
                tenant_id: t.tenant_id,
                name: t.name,
                cd_tenant_ids: t.cd_tenant_ids,
                active: t.active,
            }))
    }

    async fn placement(
        &self,
        tenant_id: &str,
        bucket: &str,
    ) -> Result<Option<Placement>, DirectoryError> {
        Ok(self
            .store
            .placement(tenant_id, bucket)
            .await
            .map_err(unavailable)?
            .map(placement_of))
    }

    async fn placements(&self, tenant_id: &str) -> Result<Vec<Placement>, DirectoryError> {
        Ok(self
            .store
            .placements(tenant_id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(placement_of)
            .collect())
    }

    async fn placements_named(&self, bucket: &str) -> Result<Vec<Placement>, DirectoryError> {
        Ok(self
            .store
            .placements_named(bucket)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(placement_of)
            .collect())
    }

    async fn put_placement(&self, p: &Placement) -> Result<(), DirectoryError> {
        self.store
            .put_placement(&crate::store::PlacementRow {
                tenant_id: p.tenant_id.clone(),
                bucket: p.bucket.clone(),
                backend: p.backend.clone(),
                backend_bucket: p.backend_bucket.clone(),
                owner_user_id: p.owner_user_id.clone(),
                created_at: p.created_at,
            })
            .await
            .map_err(unavailable)
    }

    async fn delete_placement(&self, tenant_id: &str, bucket: &str) -> Result<(), DirectoryError> {
        self.store
            .delete_placement(tenant_id, bucket)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn identity(&self, id: IdentityRef<'_>) -> Result<Option<SigningKey>, DirectoryError> {
        Ok(self
            .store
            .identity(id)
            .await
            .map_err(unavailable)?
            .map(|i| SigningKey {
                access_key: i.access_key,
                secret_key: i.secret_key,
            }))
    }

    async fn put_identity(
        &self,
        id: IdentityRef<'_>,
        backend_user: &str,
        key: &SigningKey,
    ) -> Result<(), DirectoryError> {
        self.store
            .put_identity(&crate::store::BackendIdentity {
                backend: id.backend.into(),
                tenant_id: id.tenant_id.into(),
                principal: id.principal.into(),
                backend_user: backend_user.into(),
                access_key: key.access_key.clone(),
                secret_key: key.secret_key.clone(),
            })
            .await
            .map_err(unavailable)
    }

    async fn principals(
        &self,
        backend: &str,
        tenant_id: &str,
    ) -> Result<Vec<Principal>, DirectoryError> {
        Ok(self
            .store
            .principals_on(backend, tenant_id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|r| Principal {
                tenant_id: r.tenant_id,
                canonical_user_id: r.canonical_user_id,
                display_name: r.username,
                backend_user: r.backend_user,
            })
            .collect())
    }

    async fn tenant_of_canonical(
        &self,
        canonical_user_id: &str,
    ) -> Result<Option<String>, DirectoryError> {
        Ok(self
            .store
            .user_by_canonical(canonical_user_id)
            .await
            .map_err(unavailable)?
            .map(|u| u.tenant_id))
    }

    async fn user(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<UserInfo>, DirectoryError> {
        Ok(self
            .store
            .user(tenant_id, user_id)
            .await
            .map_err(unavailable)?
            .map(UserInfo::from))
    }

    async fn user_by_canonical(
        &self,
        canonical_user_id: &str,
    ) -> Result<Option<UserInfo>, DirectoryError> {
        Ok(self
            .store
            .user_by_canonical(canonical_user_id)
            .await
            .map_err(unavailable)?
            .map(UserInfo::from))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserInfo>, DirectoryError> {
        let page = self
            .store
            .users(
                &[crate::store::Term::Email(email.to_string())],
                crate::store::Paging {
                    offset: 0,
                    limit: 2,
                },
            )
            .await
            .map_err(unavailable)?;
        // an address two users share names neither (AWS: UnresolvableGrantByEmailAddress)
        Ok(match page.items.len() {
            1 => page.items.into_iter().next().map(UserInfo::from),
            _ => None,
        })
    }

    async fn bucket_access(
        &self,
        tenant_id: &str,
        bucket: &str,
    ) -> Result<BucketAccessRow, DirectoryError> {
        self.store
            .bucket_access(tenant_id, bucket)
            .await
            .map_err(unavailable)
    }

    async fn put_bucket_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        row: &BucketAccessRow,
    ) -> Result<(), DirectoryError> {
        self.store
            .put_bucket_access(tenant_id, bucket, row)
            .await
            .map_err(unavailable)
    }

    async fn object_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectAccessRow>, DirectoryError> {
        self.store
            .object_access(tenant_id, bucket, key)
            .await
            .map_err(unavailable)
    }

    async fn put_object_access(&self, row: &ObjectAccessRow) -> Result<(), DirectoryError> {
        self.store.put_object_access(row).await.map_err(unavailable)
    }

    async fn delete_object_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<(), DirectoryError> {
        self.store
            .delete_object_access(tenant_id, bucket, key)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
