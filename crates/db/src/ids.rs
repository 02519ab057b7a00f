//! Typed ids, so a tenant id cannot be passed where another id is expected.

/// The id of a tenant. Every query on a tenant-owned table takes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// Wraps a tenant id (a UUID string).
    pub fn new(id: impl Into<String>) -> Self {
        TenantId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
