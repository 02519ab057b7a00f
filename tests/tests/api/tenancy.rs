//! Tenants, members, invitations and roles: the flows, the escalation attempts and the last owner.

use futures_util::future::join;
use portcullis_tests::{spawn_app, JsonExt, Request, RequestHelper, Tenant, TestApp, User, PASSWORD};
use serde_json::json;

/// How many members of `tenant` hold the owner role, as `who` sees the member list.
async fn owners(who: &User<'_>, tenant: &Tenant) -> usize {
    let members = who.get(&tenant.path("/members")).await.expect(200);
    members
        .items()
        .iter()
        .filter(|m| m.array_at("roles").contains(&json!("owner")))
        .count()
}

/// `DELETE /me` with the right password.
fn delete_me(who: &User<'_>) -> Request {
    who.delete("/api/v1/me").json(&json!({"password": PASSWORD}))
}

#[actix_web::test]
async fn a_tenant_is_created_listed_renamed_and_deleted() {
    let app = spawn_app().await;
    let ada = app.user("ada@example.com").await;
    let tenant = ada.create_tenant("acme").await;
    assert_eq!(tenant.body["roles"], json!(["owner"]));
    assert_eq!(tenant.body["slug"], "acme");

    ada.post("/api/v1/tenants", &json!({"name": "Other", "slug": "acme"}))
        .await
        .expect_problem(409, "slug_taken");
    for body in [
        json!({"name": "", "slug": "fine-slug"}),
        json!({"name": "x".repeat(101), "slug": "fine-slug"}),
        json!({"name": "Ok", "slug": "-bad"}),
        json!({"name": "Ok", "slug": "Bad"}),
        json!({"name": "Ok", "slug": "ab"}),
        json!({"name": "Ok", "slug": "fine-slug", "id": "x"}),
    ] {
        ada.post("/api/v1/tenants", &body)
            .await
            .expect_problem(422, "validation_failed");
    }

    let list = ada.get("/api/v1/tenants").await.expect(200);
    assert_eq!(list.items().len(), 1);
    assert_eq!(list["items"][0]["roles"], json!(["owner"]));
    let me = ada.get("/api/v1/me").await.expect(200);
    assert_eq!(
        me["tenants"],
        json!([{"id": tenant.id, "name": "Tenant acme", "slug": "acme", "roles": ["owner"]}])
    );

    let renamed = ada
        .patch(&tenant.path(""), &json!({"name": "Acme Ltd"}))
        .await
        .expect(200);
    assert_eq!(renamed["name"], "Acme Ltd");

    let bob = app.user("bob@example.com").await;
    ada.add_member(&tenant, &bob, &["viewer"]).await;
    ada.delete(&tenant.path("")).await.expect(204);
    ada.get(&tenant.path("")).await.expect(404);
    let bobs = bob.get("/api/v1/me").await.expect(200);
    assert_eq!(bobs["tenants"], json!([]), "memberships went with the tenant");
    // The slug is free again.
    ada.create_tenant("acme").await;
}

#[actix_web::test]
async fn invitations_are_accepted_once_by_the_invited_email_only() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let tenant = owner.create_tenant("invites").await;
    let invitee = app.user("Invitee@Example.com").await;
    let stranger = app.user("stranger@example.com").await;

    let created = owner
        .post(
            &tenant.path("/invitations"),
            &json!({"email": "invitee@example.COM", "roles": ["editor"]}),
        )
        .await;
    let invitation = created.expect(201);
    assert_eq!(created.header("cache-control"), "no-store");
    let token = invitation.str_at("token");
    assert_eq!(invitation["roles"], json!(["editor"]));

    let listed = owner.get(&tenant.path("/invitations")).await.expect(200);
    assert_eq!(listed.items().len(), 1);
    assert!(listed["items"][0].get("token").is_none(), "tokens are shown once");

    stranger
        .accept_invitation(token)
        .await
        .expect_problem(403, "invitation_email_mismatch");
    let joined = invitee.accept_invitation(token).await.expect(200);
    assert_eq!(joined["id"], tenant.id.as_str());
    assert_eq!(joined["roles"], json!(["editor"]));
    invitee
        .accept_invitation(token)
        .await
        .expect_problem(404, "invitation_not_found");
    invitee
        .accept_invitation("made-up-token")
        .await
        .expect_problem(404, "invitation_not_found");

    let again = owner.invite(&tenant, "invitee@example.com", &["viewer"]).await;
    invitee
        .accept_invitation(again.str_at("token"))
        .await
        .expect_problem(409, "already_member");

    let revoked = owner.invite(&tenant, "stranger@example.com", &["viewer"]).await;
    let revoke_path = tenant.path(&format!("/invitations/{}", revoked.str_at("id")));
    owner.delete(&revoke_path).await.expect(204);
    owner.delete(&revoke_path).await.expect(404);
    stranger
        .accept_invitation(revoked.str_at("token"))
        .await
        .expect_problem(404, "invitation_not_found");

    // An expired invitation is the same 404.
    let expired = owner.invite(&tenant, "stranger@example.com", &["viewer"]).await;
    expire_invitation(&app, expired.str_at("id"));
    stranger
        .accept_invitation(expired.str_at("token"))
        .await
        .expect_problem(404, "invitation_not_found");

    let body = owner
        .post(
            &tenant.path("/invitations"),
            &json!({"email": "x@example.com", "roles": ["wizard"]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "roles[0]");
}

fn expire_invitation(app: &TestApp, id: &str) {
    let past = portcullis_tests::sql_time(-8 * 24 * 3600);
    portcullis_tests::execute_sql(
        app,
        &format!("UPDATE invitations SET expires_at = '{past}' WHERE id = '{id}'"),
    );
}

#[actix_web::test]
async fn escalation_attempts_are_forbidden() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let admin = app.user("admin@example.com").await;
    let editor = app.user("editor@example.com").await;
    let keeper = app.user("keeper@example.com").await;
    let tenant = owner.create_tenant("escalate").await;
    owner
        .create_role(
            &tenant,
            "role-keeper",
            &["tenant:read", "roles:read", "roles:manage"],
        )
        .await;
    owner.add_member(&tenant, &admin, &["admin"]).await;
    owner.add_member(&tenant, &editor, &["editor"]).await;
    owner.add_member(&tenant, &keeper, &["role-keeper"]).await;

    // An admin cannot make anyone an owner, nor demote or remove an owner.
    admin
        .set_member_roles(&tenant, editor.id(), &["owner"])
        .await
        .expect_problem(403, "forbidden");
    admin
        .set_member_roles(&tenant, admin.id(), &["owner"])
        .await
        .expect_problem(403, "forbidden");
    admin
        .set_member_roles(&tenant, owner.id(), &["viewer"])
        .await
        .expect_problem(403, "forbidden");
    admin
        .remove_member(&tenant, owner.id())
        .await
        .expect_problem(403, "forbidden");
    admin
        .post(
            &tenant.path("/invitations"),
            &json!({"email": "x@example.com", "roles": ["owner"]}),
        )
        .await
        .expect_problem(403, "forbidden");

    // An editor cannot manage roles at all; a role manager cannot create one stronger than itself.
    let sneaky = json!({"name": "sneaky", "scopes": ["members:manage"]});
    let refused = editor
        .post(&tenant.path("/roles"), &sneaky)
        .await
        .expect_problem(403, "forbidden");
    assert_eq!(refused["required_scope"], "roles:manage");
    keeper
        .post(&tenant.path("/roles"), &sneaky)
        .await
        .expect_problem(403, "forbidden");

    // A custom role cannot edit itself upward.
    keeper
        .patch(
            &tenant.path("/roles/role-keeper"),
            &json!({"scopes": ["tenant:read", "roles:read", "roles:manage", "members:manage"]}),
        )
        .await
        .expect_problem(403, "forbidden");
    let roles = owner.get(&tenant.path("/roles")).await.expect(200);
    let keeper_role = roles
        .items()
        .iter()
        .find(|r| r["name"] == "role-keeper")
        .unwrap_or_else(|| panic!("role-keeper is listed: {roles}"));
    assert_eq!(
        keeper_role["scopes"],
        json!(["tenant:read", "roles:read", "roles:manage"]),
        "unchanged"
    );

    // Nothing changed for the owner.
    assert_eq!(owners(&owner, &tenant).await, 1);
    // The admin can still do what is within reach.
    admin
        .set_member_roles(&tenant, editor.id(), &["viewer"])
        .await
        .expect(200);
}

#[actix_web::test]
async fn role_changes_and_removals_take_effect_on_the_next_request() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let tenant = owner.create_tenant("next-request").await;
    owner.add_member(&tenant, &member, &["admin"]).await;
    member.get(&tenant.path("/invitations")).await.expect(200);
    owner
        .set_member_roles(&tenant, member.id(), &["viewer"])
        .await
        .expect(200);
    member.get(&tenant.path("/invitations")).await.expect(403);
    owner.remove_member(&tenant, member.id()).await.expect(204);
    member.get(&tenant.path("")).await.expect(404);
}

#[actix_web::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = spawn_app().await;
    let first = app.user("first@example.com").await;
    let second = app.user("second@example.com").await;
    for round in 0..3 {
        let tenant = first.create_tenant(&format!("owners-{round}")).await;
        first.add_member(&tenant, &second, &["owner"]).await;
        assert_eq!(owners(&first, &tenant).await, 2);
        let (a, b) = join(
            first.set_member_roles(&tenant, second.id(), &["admin"]).send(),
            second.set_member_roles(&tenant, first.id(), &["admin"]).send(),
        )
        .await;
        let statuses = [a.status(), b.status()];
        assert!(statuses.contains(&200), "{a}\n{b}");
        assert!(statuses.iter().all(|s| [200, 403, 409].contains(s)), "{a}\n{b}");
        let remaining = owners(&first, &tenant).await + owners(&second, &tenant).await;
        assert!(remaining >= 1, "round {round}: {statuses:?}");
    }
}

#[actix_web::test]
async fn the_last_owner_can_neither_leave_nor_be_demoted_nor_delete_their_account() {
    let app = spawn_app().await;
    let owner = app.user("solo@example.com").await;
    let tenant = owner.create_tenant("solo").await;
    owner
        .set_member_roles(&tenant, owner.id(), &["admin"])
        .await
        .expect_problem(409, "last_owner");
    owner
        .remove_member(&tenant, owner.id())
        .await
        .expect_problem(409, "last_owner");
    delete_me(&owner).await.expect_problem(409, "last_owner");
    assert_eq!(owners(&owner, &tenant).await, 1);

    // With a second owner, the first may leave.
    let heir = app.user("heir@example.com").await;
    owner.add_member(&tenant, &heir, &["owner"]).await;
    owner.remove_member(&tenant, owner.id()).await.expect(204);
    assert_eq!(owners(&heir, &tenant).await, 1);
}

#[actix_web::test]
async fn custom_roles_are_managed_and_deleting_one_strips_it_from_members() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let tenant = owner.create_tenant("roles").await;
    let roles_path = tenant.path("/roles");
    let role = owner
        .post(
            &roles_path,
            &json!({"name": "auditor", "description": "Reads the log", "scopes": ["audit:read", "tenant:read"]}),
        )
        .await
        .expect(201);
    assert_eq!(
        role,
        json!({"name": "auditor", "description": "Reads the log", "scopes": ["tenant:read", "audit:read"], "builtin": false})
    );

    owner
        .post(&roles_path, &json!({"name": "auditor", "scopes": []}))
        .await
        .expect_problem(409, "role_name_taken");
    owner
        .post(&roles_path, &json!({"name": "admin", "scopes": []}))
        .await
        .expect_problem(409, "role_name_taken");
    let unknown = owner
        .post(&roles_path, &json!({"name": "x-role", "scopes": ["root"]}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(unknown["errors"][0]["field"], "scopes[0]");
    owner
        .post(&roles_path, &json!({"name": "Bad Name", "scopes": []}))
        .await
        .expect_problem(422, "validation_failed");
    owner
        .patch(&format!("{roles_path}/admin"), &json!({"description": "x"}))
        .await
        .expect_problem(409, "builtin_role");
    owner
        .delete(&format!("{roles_path}/owner"))
        .await
        .expect_problem(409, "builtin_role");

    let list = owner.get(&roles_path).await.expect(200);
    let names: Vec<&str> = list.items().iter().map(|r| r.str_at("name")).collect();
    assert_eq!(names, ["owner", "admin", "editor", "viewer", "auditor"]);

    owner.add_member(&tenant, &member, &["viewer", "auditor"]).await;
    owner.delete(&format!("{roles_path}/auditor")).await.expect(204);
    let members = owner.get(&tenant.path("/members")).await.expect(200);
    let held = members
        .items()
        .iter()
        .find(|m| m["user_id"] == member.id())
        .unwrap_or_else(|| panic!("the member is listed: {members}"));
    assert_eq!(held["roles"], json!(["viewer"]));
    let scopes = member.get("/api/v1/scopes").await.expect(200);
    assert_eq!(scopes.items().len(), 13);
}

/// How the second co-owner tries to stop being an owner while the first deletes their account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    DeleteAccount,
    LeaveTenant,
    DemoteSelf,
}

/// Two co-owners stop being owners at the same moment, `trials` times: each time exactly one of them
/// must be refused with 409 `last_owner`, and the tenant must keep exactly one owner (the refused one).
async fn race_co_owners(app: &TestApp, second_exit: Exit, trials: usize) {
    for trial in 0..trials {
        let tag = format!("{second_exit:?}-{trial}").to_lowercase();
        let first = app.user(&format!("first-{tag}@example.com")).await;
        let second = app.user(&format!("second-{tag}@example.com")).await;
        let tenant = first.create_tenant(&format!("co-{tag}")).await;
        first.add_member(&tenant, &second, &["owner"]).await;
        assert_eq!(owners(&first, &tenant).await, 2);
        let second_goes = match second_exit {
            Exit::DeleteAccount => delete_me(&second),
            Exit::LeaveTenant => second.remove_member(&tenant, second.id()),
            Exit::DemoteSelf => second.set_member_roles(&tenant, second.id(), &["admin"]),
        };
        let (a, b) = join(delete_me(&first).send(), second_goes.send()).await;
        let statuses = [a.status(), b.status()];
        let success = if second_exit == Exit::DemoteSelf { 200 } else { 204 };
        let (refused, survivor) = match statuses {
            [204, 409] => (b, &second),
            [409, s] if s == success => (a, &first),
            _ => panic!("trial {trial} ({second_exit:?}): exactly one must be refused, got\n{a}\n{b}"),
        };
        refused.expect_problem(409, "last_owner");
        assert_eq!(
            owners(survivor, &tenant).await,
            1,
            "trial {trial} ({second_exit:?}): the tenant keeps its owner"
        );
    }
}

#[actix_web::test]
async fn co_owners_deleting_their_accounts_at_once_never_orphan_the_tenant() {
    let app = spawn_app().await;
    race_co_owners(&app, Exit::DeleteAccount, 25).await;
}

#[actix_web::test]
async fn an_account_deletion_racing_a_co_owner_leaving_or_stepping_down_never_orphans_the_tenant() {
    let app = spawn_app().await;
    race_co_owners(&app, Exit::LeaveTenant, 12).await;
    race_co_owners(&app, Exit::DemoteSelf, 12).await;
}

/// An invitation carries its creator's authority only while the creator still holds it: acceptance
/// re-checks it. The expected outcome of each case is written here by hand from the contract.
#[actix_web::test]
async fn an_invitation_is_refused_once_its_inviter_lost_the_authority_to_send_it() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let tenant = owner.create_tenant("inviters").await;
    owner
        .create_role(
            &tenant,
            "recruiter",
            &["tenant:read", "members:read", "members:invite", "projects:read"],
        )
        .await;
    owner
        .create_role(
            &tenant,
            "talent-scout",
            &["tenant:read", "members:read", "members:invite", "projects:read"],
        )
        .await;
    let patch_role = |name: &str, scopes: &[&str]| {
        owner.patch(
            &tenant.path(&format!("/roles/{name}")),
            &json!({ "scopes": scopes }),
        )
    };

    let mut members = Vec::new();
    for (name, roles) in [
        ("removed-admin", &["admin"][..]),
        ("demoted-admin", &["admin"]),
        ("recruiter", &["recruiter"]),
        ("scout", &["talent-scout"]),
        ("demoted-owner", &["owner"]),
        ("departed-admin", &["admin"]),
        ("steady-admin", &["admin"]),
    ] {
        members.push(
            owner
                .new_member(&tenant, &format!("{name}@example.com"), roles)
                .await,
        );
    }
    let [removed, demoted, recruiter, scout, demoted_owner, departed, steady] = &members[..] else {
        unreachable!()
    };

    // Each inviter sends one invitation while they may.
    let cases = [
        (removed.user(), "to-removed@example.com", &["viewer"][..]),
        (demoted.user(), "to-demoted@example.com", &["editor"]),
        (recruiter.user(), "to-recruiter@example.com", &["viewer"]),
        (scout.user(), "to-scout@example.com", &["viewer"]),
        (demoted_owner.user(), "to-demoted-owner@example.com", &["owner"]),
        (departed.user(), "to-departed@example.com", &["viewer"]),
        (steady.user(), "to-steady@example.com", &["editor"]),
        (&owner, "to-owner@example.com", &["admin"]),
    ];
    let mut tokens = Vec::new();
    for (inviter, email, roles) in cases {
        let invitation = inviter.invite(&tenant, email, roles).await;
        tokens.push(invitation.str_at("token").to_owned());
    }
    let accepted = "&action=invitation.accepted";
    let invitees_before = owner.audit_actions(&tenant, accepted).await.len();

    // Then they lose it, each in another way.
    owner.remove_member(&tenant, removed.id()).await.expect(204);
    owner
        .set_member_roles(&tenant, demoted.id(), &["viewer"])
        .await
        .expect(200);
    // The recruiter's role loses `members:invite`.
    patch_role("recruiter", &["tenant:read", "members:read", "projects:read"])
        .await
        .expect(200);
    // The scout may still invite, but no longer holds `projects:read`, which `viewer` grants.
    patch_role("talent-scout", &["tenant:read", "members:read", "members:invite"])
        .await
        .expect(200);
    // Only an owner may invite an owner.
    owner
        .set_member_roles(&tenant, demoted_owner.id(), &["admin"])
        .await
        .expect(200);
    delete_me(departed).await.expect(204);

    // The answer key: refused (404 invitation_not_found) for the six whose inviter lost the
    // authority; accepted for the unchanged admin and the owner.
    let expected: [(&str, u16); 8] = [
        ("to-removed@example.com", 404),
        ("to-demoted@example.com", 404),
        ("to-recruiter@example.com", 404),
        ("to-scout@example.com", 404),
        ("to-demoted-owner@example.com", 404),
        ("to-departed@example.com", 404),
        ("to-steady@example.com", 200),
        ("to-owner@example.com", 200),
    ];
    for ((email, status), token) in expected.iter().zip(&tokens) {
        let invitee = app.user(email).await;
        let response = invitee.accept_invitation(token).await;
        if *status == 404 {
            response.expect_problem(404, "invitation_not_found");
            // Nothing changed: not a member.
            let tenant_read = invitee.get(&tenant.path("")).await;
            assert_eq!(
                tenant_read.status(),
                404,
                "{email} is not a member: {tenant_read}"
            );
        } else {
            assert_eq!(response.status(), *status, "{email}: {response}");
            let tenant_read = invitee.get(&tenant.path("")).await;
            assert_eq!(tenant_read.status(), 200, "{email} is a member: {tenant_read}");
        }
    }
    // Only the two accepted invitations were recorded.
    assert_eq!(
        owner.audit_actions(&tenant, accepted).await.len(),
        invitees_before + 2
    );
}
