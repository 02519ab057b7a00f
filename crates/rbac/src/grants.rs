//! The grant rules: nobody hands out more than they hold. Pure functions, no I/O.

use crate::scopes::{builtin, Scopes, OWNER};

/// A set of roles resolved to what they confer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Authority {
    /// The union of the roles' scopes.
    pub scopes: Scopes,
    /// Whether `owner` is among the roles (owner-ness is more than its scopes: only an owner may grant
    /// or remove it).
    pub owner: bool,
}

impl Authority {
    /// Resolves role names: built-in ones from the code, custom ones through `custom` (name → scopes).
    /// Unknown names confer nothing.
    pub fn of<'a>(
        roles: impl IntoIterator<Item = &'a str>,
        custom: impl Fn(&str) -> Option<Scopes>,
    ) -> Authority {
        roles
            .into_iter()
            .fold(Authority::default(), |acc, role| Authority {
                scopes: acc.scopes | builtin(role).or_else(|| custom(role)).unwrap_or(Scopes::NONE),
                owner: acc.owner || role == OWNER,
            })
    }
}

/// Why a grant was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The grant carries scopes the caller does not hold.
    ScopesBeyondCaller(Scopes),
    /// Only an owner may grant or remove `owner`.
    OwnerOnly,
    /// The target holds scopes the caller lacks, so the caller may not change or remove them.
    TargetOutranksCaller,
    /// The caller lacks a scope the act itself needs.
    MissingScope(Scopes),
}

impl Denied {
    /// A sentence for the client.
    pub fn explain(self) -> String {
        match self {
            Denied::ScopesBeyondCaller(extra) => {
                format!(
                    "you cannot grant scopes you do not hold: {}",
                    extra.names().join(", ")
                )
            }
            Denied::OwnerOnly => "only an owner can grant or remove the owner role".into(),
            Denied::TargetOutranksCaller => "this member holds scopes you do not hold".into(),
            Denied::MissingScope(needed) => {
                format!("this action needs the scope {}", needed.names().join(", "))
            }
        }
    }
}

/// May `inviter` invite someone with `granted`? Inviting needs `members:invite`, and an invitation may
/// carry only what the inviter may grant. The invitation acts with its inviter's authority, so this is
/// checked twice: when it is created, and again when it is accepted, against the inviter's authority
/// at that moment (an inviter who was removed, demoted or lost a scope since takes it from the
/// invitation).
pub fn may_invite(inviter: Authority, granted: Authority) -> Result<(), Denied> {
    if !inviter.scopes.contains(Scopes::MEMBERS_INVITE) {
        return Err(Denied::MissingScope(Scopes::MEMBERS_INVITE));
    }
    may_grant(inviter, granted)
}

/// May `caller` hand out `granted` (invite with it, or give it to a member)?
pub fn may_grant(caller: Authority, granted: Authority) -> Result<(), Denied> {
    if granted.owner && !caller.owner {
        return Err(Denied::OwnerOnly);
    }
    let beyond = granted.scopes.minus(caller.scopes);
    if !beyond.is_empty() {
        return Err(Denied::ScopesBeyondCaller(beyond));
    }
    Ok(())
}

/// May `caller` change the roles of, or remove, a member holding `target`?
pub fn may_act_on(caller: Authority, target: Authority) -> Result<(), Denied> {
    if target.owner && !caller.owner {
        return Err(Denied::OwnerOnly);
    }
    if !caller.scopes.contains(target.scopes) {
        return Err(Denied::TargetOutranksCaller);
    }
    Ok(())
}

/// May `caller` replace a member's roles `from` with `to`?
pub fn may_change_roles(caller: Authority, from: Authority, to: Authority) -> Result<(), Denied> {
    may_act_on(caller, from)?;
    may_grant(caller, to)
}

/// May `caller` create a role with these scopes, or edit one from `before` to `after`?
pub fn may_define_role(caller: Authority, before: Scopes, after: Scopes) -> Result<(), Denied> {
    let beyond = (before | after).minus(caller.scopes);
    if !beyond.is_empty() {
        return Err(Denied::ScopesBeyondCaller(beyond));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scopes::{ADMIN, EDITOR, VIEWER};

    fn role(name: &str) -> Authority {
        Authority::of([name], |_| None)
    }

    fn custom(scopes: Scopes) -> Authority {
        Authority { scopes, owner: false }
    }

    const BUILTIN: [&str; 4] = [OWNER, ADMIN, EDITOR, VIEWER];

    /// A deterministic spread of scope sets: every single scope, every pair, and a walk through the
    /// rest of the 2^13 sets.
    fn generated_sets() -> Vec<Scopes> {
        let mut sets = vec![Scopes::NONE, Scopes::ALL];
        for i in 0..13 {
            sets.push(Scopes::from_bits(1 << i));
            for j in (i + 1)..13 {
                sets.push(Scopes::from_bits((1 << i) | (1 << j)));
            }
        }
        let mut bits: u32 = 1;
        for _ in 0..200 {
            bits = (bits * 1103 + 12345) % 8192;
            sets.push(Scopes::from_bits(bits as u16));
        }
        sets
    }

    #[test]
    fn every_pair_of_builtin_roles_follows_the_hierarchy() {
        for caller in BUILTIN {
            for granted in BUILTIN {
                let expected = match (caller, granted) {
                    (OWNER, _) => true,
                    (_, OWNER) => false,
                    (ADMIN, _) => true,
                    (EDITOR, EDITOR | VIEWER) => true,
                    (VIEWER, VIEWER) => true,
                    _ => false,
                };
                assert_eq!(
                    may_grant(role(caller), role(granted)).is_ok(),
                    expected,
                    "{caller} grants {granted}"
                );
                assert_eq!(
                    may_act_on(role(caller), role(granted)).is_ok(),
                    expected,
                    "{caller} acts on {granted}"
                );
            }
        }
        assert_eq!(may_grant(role(ADMIN), role(OWNER)), Err(Denied::OwnerOnly));
        assert_eq!(may_act_on(role(ADMIN), role(OWNER)), Err(Denied::OwnerOnly));
    }

    #[test]
    fn grants_are_allowed_exactly_when_they_are_a_subset() {
        let sets = generated_sets();
        for &held in &sets {
            for &granted in &sets {
                let subset = held.contains(granted);
                assert_eq!(may_grant(custom(held), custom(granted)).is_ok(), subset);
                assert_eq!(may_act_on(custom(held), custom(granted)).is_ok(), subset);
                assert_eq!(
                    may_define_role(custom(held), Scopes::NONE, granted).is_ok(),
                    subset
                );
                // Only the owner role itself can hand out owner, whatever scopes one holds.
                assert_eq!(may_grant(custom(held), role(OWNER)), Err(Denied::OwnerOnly));
            }
        }
    }

    #[test]
    fn inviting_needs_the_invite_scope_and_the_right_to_grant() {
        let sets = generated_sets();
        for &held in &sets {
            for &granted in &sets {
                let expected = held.contains(Scopes::MEMBERS_INVITE) && held.contains(granted);
                assert_eq!(
                    may_invite(custom(held), custom(granted)).is_ok(),
                    expected,
                    "{:?} invites with {:?}",
                    held.names(),
                    granted.names()
                );
            }
        }
        for caller in BUILTIN {
            for granted in BUILTIN {
                let expected = match (caller, granted) {
                    (OWNER, _) => true,
                    (ADMIN, OWNER) => false,
                    (ADMIN, _) => true,
                    // Editors and viewers do not hold `members:invite`.
                    _ => false,
                };
                assert_eq!(
                    may_invite(role(caller), role(granted)).is_ok(),
                    expected,
                    "{caller} invites as {granted}"
                );
            }
        }
        assert_eq!(
            may_invite(role(VIEWER), role(VIEWER)),
            Err(Denied::MissingScope(Scopes::MEMBERS_INVITE))
        );
        assert_eq!(may_invite(role(ADMIN), role(OWNER)), Err(Denied::OwnerOnly));
    }

    #[test]
    fn a_role_cannot_be_edited_upward_or_away_from_scopes_the_caller_lacks() {
        let read = Scopes::parse(["tenant:read", "roles:manage"]).unwrap();
        let more = read | Scopes::parse(["members:manage"]).unwrap();
        assert!(may_define_role(custom(read), read, read).is_ok());
        assert_eq!(
            may_define_role(custom(read), read, more),
            Err(Denied::ScopesBeyondCaller(
                Scopes::parse(["members:manage"]).unwrap()
            ))
        );
        // Editing a stronger role down is still touching scopes the caller lacks.
        assert!(may_define_role(custom(read), more, read).is_err());
    }

    #[test]
    fn changing_roles_needs_authority_over_the_before_and_the_after() {
        assert!(may_change_roles(role(ADMIN), role(VIEWER), role(EDITOR)).is_ok());
        assert_eq!(
            may_change_roles(role(ADMIN), role(VIEWER), role(OWNER)),
            Err(Denied::OwnerOnly)
        );
        assert_eq!(
            may_change_roles(role(ADMIN), role(OWNER), role(VIEWER)),
            Err(Denied::OwnerOnly)
        );
        assert_eq!(
            may_change_roles(role(EDITOR), role(ADMIN), role(VIEWER)),
            Err(Denied::TargetOutranksCaller)
        );
        assert!(may_change_roles(role(OWNER), role(OWNER), role(ADMIN)).is_ok());
        let two = Authority::of([VIEWER, "auditor"], |n| {
            (n == "auditor").then(|| Scopes::parse(["audit:read"]).unwrap())
        });
        assert!(two
            .scopes
            .contains(Scopes::parse(["audit:read", "projects:read"]).unwrap()));
        assert!(!two.owner);
    }
}
