//! The scope catalog and the built-in roles.

/// Every scope, with the description `GET /scopes` shows. The order fixes each scope's bit.
pub const CATALOG: [(&str, &str); 13] = [
    ("tenant:read", "Read the tenant's name and settings"),
    ("tenant:update", "Rename the tenant"),
    ("tenant:delete", "Delete the tenant and everything in it"),
    ("members:read", "List members and their roles"),
    ("members:invite", "Invite people and manage pending invitations"),
    ("members:manage", "Change members' roles and remove members"),
    ("roles:read", "List roles and their scopes"),
    ("roles:manage", "Create, change and delete custom roles"),
    ("projects:read", "List and read projects"),
    ("projects:write", "Create and change projects"),
    ("projects:delete", "Delete projects"),
    ("api_keys:manage", "Create, list and revoke API keys"),
    ("audit:read", "Read the audit log"),
];

/// A scope name, as the OpenAPI document lists them.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub enum ScopeName {
    #[serde(rename = "tenant:read")]
    /// tenant:read
    TenantRead,
    #[serde(rename = "tenant:update")]
    /// tenant:update
    TenantUpdate,
    #[serde(rename = "tenant:delete")]
    /// tenant:delete
    TenantDelete,
    #[serde(rename = "members:read")]
    /// members:read
    MembersRead,
    #[serde(rename = "members:invite")]
    /// members:invite
    MembersInvite,
    #[serde(rename = "members:manage")]
    /// members:manage
    MembersManage,
    #[serde(rename = "roles:read")]
    /// roles:read
    RolesRead,
    #[serde(rename = "roles:manage")]
    /// roles:manage
    RolesManage,
    #[serde(rename = "projects:read")]
    /// projects:read
    ProjectsRead,
    #[serde(rename = "projects:write")]
    /// projects:write
    ProjectsWrite,
    #[serde(rename = "projects:delete")]
    /// projects:delete
    ProjectsDelete,
    #[serde(rename = "api_keys:manage")]
    /// api_keys:manage
    ApiKeysManage,
    #[serde(rename = "audit:read")]
    /// audit:read
    AuditRead,
}

/// A scope an API key may hold, as the OpenAPI document lists them.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub enum KeyScopeName {
    #[serde(rename = "tenant:read")]
    /// tenant:read
    TenantRead,
    #[serde(rename = "tenant:update")]
    /// tenant:update
    TenantUpdate,
    #[serde(rename = "members:read")]
    /// members:read
    MembersRead,
    #[serde(rename = "roles:read")]
    /// roles:read
    RolesRead,
    #[serde(rename = "projects:read")]
    /// projects:read
    ProjectsRead,
    #[serde(rename = "projects:write")]
    /// projects:write
    ProjectsWrite,
    #[serde(rename = "projects:delete")]
    /// projects:delete
    ProjectsDelete,
    #[serde(rename = "audit:read")]
    /// audit:read
    AuditRead,
}

/// A set of scopes, as bits in catalog order. Subset checks are one instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Scopes(u16);

impl Scopes {
    /// No scope.
    pub const NONE: Scopes = Scopes(0);
    /// Every scope in the catalog.
    pub const ALL: Scopes = Scopes((1 << CATALOG.len()) - 1);
    /// `members:invite` (its bit is its place in [`CATALOG`]; a unit test checks it).
    pub const MEMBERS_INVITE: Scopes = Scopes(1 << 4);

    /// The scope with this name, if it is in the catalog.
    pub fn named(name: &str) -> Option<Scopes> {
        CATALOG
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| Scopes(1 << i))
    }

    /// Parses names; the first unknown name is the error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, &'a str> {
        names.into_iter().try_fold(Scopes::NONE, |acc, name| {
            Scopes::named(name).map(|s| acc | s).ok_or(name)
        })
    }

    /// Scopes from a stored space-separated list; unknown names (from an older catalog) are ignored.
    pub fn from_stored(list: &str) -> Scopes {
        list.split_whitespace()
            .filter_map(Scopes::named)
            .fold(Scopes::NONE, |acc, s| acc | s)
    }

    /// Whether every scope of `other` is in `self`.
    pub fn contains(self, other: Scopes) -> bool {
        self.0 & other.0 == other.0
    }

    /// The scopes in `self` but not in `other`.
    pub fn minus(self, other: Scopes) -> Scopes {
        Scopes(self.0 & !other.0)
    }

    /// The scopes in both.
    pub fn intersect(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names, in catalog order.
    pub fn names(self) -> Vec<&'static str> {
        CATALOG
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, (n, _))| *n)
            .collect()
    }

    /// The stored form: names separated by spaces.
    pub fn to_stored(self) -> String {
        self.names().join(" ")
    }

    /// Builds a set from raw bits (tests enumerate sets this way).
    pub fn from_bits(bits: u16) -> Scopes {
        Scopes(bits & Scopes::ALL.0)
    }
}

impl std::ops::BitOr for Scopes {
    type Output = Scopes;
    fn bitor(self, other: Scopes) -> Scopes {
        Scopes(self.0 | other.0)
    }
}

/// The built-in role names.
pub const OWNER: &str = "owner";
/// Everything but deleting the tenant.
pub const ADMIN: &str = "admin";
/// Works on projects.
pub const EDITOR: &str = "editor";
/// Reads.
pub const VIEWER: &str = "viewer";

/// The built-in roles: name, description, scopes.
pub fn builtin_roles() -> [(&'static str, &'static str, Scopes); 4] {
    let named = |names: &[&str]| {
        names
            .iter()
            .filter_map(|n| Scopes::named(n))
            .fold(Scopes::NONE, |a, s| a | s)
    };
    let tenant_delete = named(&["tenant:delete"]);
    [
        (OWNER, "Every scope, including deleting the tenant", Scopes::ALL),
        (
            ADMIN,
            "Every scope but deleting the tenant",
            Scopes::ALL.minus(tenant_delete),
        ),
        (
            EDITOR,
            "Reads the tenant and works on projects",
            named(&[
                "tenant:read",
                "members:read",
                "roles:read",
                "projects:read",
                "projects:write",
                "projects:delete",
            ]),
        ),
        (
            VIEWER,
            "Reads the tenant, its members and projects",
            named(&["tenant:read", "members:read", "projects:read"]),
        ),
    ]
}

/// The scopes of a built-in role.
pub fn builtin(name: &str) -> Option<Scopes> {
    builtin_roles()
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roles_match_the_contract() {
        assert_eq!(builtin(OWNER).unwrap().names().len(), 13);
        assert!(!builtin(ADMIN).unwrap().names().contains(&"tenant:delete"));
        assert_eq!(builtin(ADMIN).unwrap().names().len(), 12);
        assert_eq!(
            builtin(EDITOR).unwrap().names(),
            [
                "tenant:read",
                "members:read",
                "roles:read",
                "projects:read",
                "projects:write",
                "projects:delete"
            ]
        );
        assert_eq!(
            builtin(VIEWER).unwrap().names(),
            ["tenant:read", "members:read", "projects:read"]
        );
        assert_eq!(builtin("custom"), None);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_reported() {
        let scopes = Scopes::parse(["audit:read", "tenant:read"]).unwrap();
        assert_eq!(scopes.names(), ["tenant:read", "audit:read"]);
        assert_eq!(Scopes::from_stored(&scopes.to_stored()), scopes);
        assert_eq!(Scopes::parse(["tenant:read", "root"]), Err("root"));
        assert!(Scopes::ALL.contains(scopes) && !scopes.contains(Scopes::ALL));
        assert_eq!(Scopes::named("members:invite"), Some(Scopes::MEMBERS_INVITE));
    }
}
