//! The scope catalog ([`Scope`]) and the built-in roles.

/// Every scope: the one catalog. Names, descriptions and bits (the declaration order) come from here;
/// route definitions name their scope with it, so a misspelt scope does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
pub enum Scope {
    /// `tenant:read`: Read the tenant's name and settings.
    #[serde(rename = "tenant:read")]
    TenantRead,
    /// `tenant:update`: Rename the tenant.
    #[serde(rename = "tenant:update")]
    TenantUpdate,
    /// `tenant:delete`: Delete the tenant and everything in it.
    #[serde(rename = "tenant:delete")]
    TenantDelete,
    /// `members:read`: List members and their roles.
    #[serde(rename = "members:read")]
    MembersRead,
    /// `members:invite`: Invite people and manage pending invitations.
    #[serde(rename = "members:invite")]
    MembersInvite,
    /// `members:manage`: Change members' roles and remove members.
    #[serde(rename = "members:manage")]
    MembersManage,
    /// `roles:read`: List roles and their scopes.
    #[serde(rename = "roles:read")]
    RolesRead,
    /// `roles:manage`: Create, change and delete custom roles.
    #[serde(rename = "roles:manage")]
    RolesManage,
    /// `projects:read`: List and read projects.
    #[serde(rename = "projects:read")]
    ProjectsRead,
    /// `projects:write`: Create and change projects.
    #[serde(rename = "projects:write")]
    ProjectsWrite,
    /// `projects:delete`: Delete projects.
    #[serde(rename = "projects:delete")]
    ProjectsDelete,
    /// `api_keys:manage`: Create, list and revoke API keys.
    #[serde(rename = "api_keys:manage")]
    ApiKeysManage,
    /// `audit:read`: Read the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    /// The catalog, in bit order.
    pub const ALL: [Scope; 13] = [
        Scope::TenantRead,
        Scope::TenantUpdate,
        Scope::TenantDelete,
        Scope::MembersRead,
        Scope::MembersInvite,
        Scope::MembersManage,
        Scope::RolesRead,
        Scope::RolesManage,
        Scope::ProjectsRead,
        Scope::ProjectsWrite,
        Scope::ProjectsDelete,
        Scope::ApiKeysManage,
        Scope::AuditRead,
    ];

    /// The name in tokens, roles and the API.
    pub const fn name(self) -> &'static str {
        match self {
            Scope::TenantRead => "tenant:read",
            Scope::TenantUpdate => "tenant:update",
            Scope::TenantDelete => "tenant:delete",
            Scope::MembersRead => "members:read",
            Scope::MembersInvite => "members:invite",
            Scope::MembersManage => "members:manage",
            Scope::RolesRead => "roles:read",
            Scope::RolesManage => "roles:manage",
            Scope::ProjectsRead => "projects:read",
            Scope::ProjectsWrite => "projects:write",
            Scope::ProjectsDelete => "projects:delete",
            Scope::ApiKeysManage => "api_keys:manage",
            Scope::AuditRead => "audit:read",
        }
    }

    /// What `GET /scopes` says about it.
    pub const fn description(self) -> &'static str {
        match self {
            Scope::TenantRead => "Read the tenant's name and settings",
            Scope::TenantUpdate => "Rename the tenant",
            Scope::TenantDelete => "Delete the tenant and everything in it",
            Scope::MembersRead => "List members and their roles",
            Scope::MembersInvite => "Invite people and manage pending invitations",
            Scope::MembersManage => "Change members' roles and remove members",
            Scope::RolesRead => "List roles and their scopes",
            Scope::RolesManage => "Create, change and delete custom roles",
            Scope::ProjectsRead => "List and read projects",
            Scope::ProjectsWrite => "Create and change projects",
            Scope::ProjectsDelete => "Delete projects",
            Scope::ApiKeysManage => "Create, list and revoke API keys",
            Scope::AuditRead => "Read the audit log",
        }
    }

    /// The one-scope set.
    pub const fn bit(self) -> Scopes {
        Scopes(1 << self as u16)
    }

    /// The route guard of a tenant route needing this scope.
    pub const fn guard(self) -> portcullis_web::Guard {
        portcullis_web::Guard::tenant(self.name())
    }
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
    pub const ALL: Scopes = Scopes((1 << Scope::ALL.len()) - 1);
    /// `members:invite`.
    pub const MEMBERS_INVITE: Scopes = Scope::MembersInvite.bit();

    /// The scope with this name, if it is in the catalog.
    pub fn named(name: &str) -> Option<Scopes> {
        Scope::ALL.iter().find(|s| s.name() == name).map(|s| s.bit())
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
        Scope::ALL
            .iter()
            .filter(|s| self.contains(s.bit()))
            .map(|s| s.name())
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
    let set = |scopes: &[Scope]| scopes.iter().fold(Scopes::NONE, |acc, s| acc | s.bit());
    use Scope::*;
    [
        (OWNER, "Every scope, including deleting the tenant", Scopes::ALL),
        (
            ADMIN,
            "Every scope but deleting the tenant",
            Scopes::ALL.minus(TenantDelete.bit()),
        ),
        (
            EDITOR,
            "Reads the tenant and works on projects",
            set(&[
                TenantRead,
                MembersRead,
                RolesRead,
                ProjectsRead,
                ProjectsWrite,
                ProjectsDelete,
            ]),
        ),
        (
            VIEWER,
            "Reads the tenant, its members and projects",
            set(&[TenantRead, MembersRead, ProjectsRead]),
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
