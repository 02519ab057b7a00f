//! Tenants, members, invitations and roles: the flows, the escalation attempts and the last owner.

use futures_util::future::join;
use portcullis_tests::{access, problem, spawn_app, TestApp};
use serde_json::{json, Value};

async fn put_roles(
    app: &TestApp,
    token: &str,
    tenant: &str,
    user: &str,
    roles: &[&str],
) -> reqwest::Response {
    app.request(
        reqwest::Method::PUT,
        &format!("/api/v1/tenants/{tenant}/members/{user}/roles"),
        Some(token),
    )
    .json(&json!({ "roles": roles }))
    .send()
    .await
    .unwrap()
}

async fn remove_member(app: &TestApp, token: &str, tenant: &str, user: &str) -> reqwest::Response {
    app.request(
        reqwest::Method::DELETE,
        &format!("/api/v1/tenants/{tenant}/members/{user}"),
        Some(token),
    )
    .send()
    .await
    .unwrap()
}

fn id(value: &Value) -> &str {
    value["user"]["id"].as_str().unwrap()
}

async fn owners(app: &TestApp, token: &str, tenant: &str) -> usize {
    let members: Value = app
        .get(&format!("/api/v1/tenants/{tenant}/members"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    members["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["roles"].as_array().unwrap().contains(&json!("owner")))
        .count()
}

#[actix_web::test]
async fn a_tenant_is_created_listed_renamed_and_deleted() {
    let app = spawn_app().await;
    let ada = app.signup("ada@example.com").await;
    let tenant = app.create_tenant(access(&ada), "acme").await;
    assert_eq!(tenant["roles"], json!(["owner"]));
    assert_eq!(tenant["slug"], "acme");
    let tid = tenant["id"].as_str().unwrap();

    problem(
        app.post_json(
            "/api/v1/tenants",
            &json!({"name": "Other", "slug": "acme"}),
            Some(access(&ada)),
        )
        .await,
        409,
        "slug_taken",
    )
    .await;
    for body in [
        json!({"name": "", "slug": "fine-slug"}),
        json!({"name": "x".repeat(101), "slug": "fine-slug"}),
        json!({"name": "Ok", "slug": "-bad"}),
        json!({"name": "Ok", "slug": "Bad"}),
        json!({"name": "Ok", "slug": "ab"}),
        json!({"name": "Ok", "slug": "fine-slug", "id": "x"}),
    ] {
        problem(
            app.post_json("/api/v1/tenants", &body, Some(access(&ada))).await,
            422,
            "validation_failed",
        )
        .await;
    }

    let list: Value = app
        .get("/api/v1/tenants", Some(access(&ada)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["roles"], json!(["owner"]));
    let me: Value = app
        .get("/api/v1/me", Some(access(&ada)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["tenants"],
        json!([{"id": tid, "name": "Tenant acme", "slug": "acme", "roles": ["owner"]}])
    );

    let renamed: Value = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/tenants/{tid}"),
            Some(access(&ada)),
        )
        .json(&json!({"name": "Acme Ltd"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "Acme Ltd");

    let bob = app.signup("bob@example.com").await;
    app.add_member(access(&ada), tid, &bob, &["viewer"]).await;
    let deleted = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/tenants/{tid}"),
            Some(access(&ada)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{tid}"), Some(access(&ada)))
            .await
            .status(),
        404
    );
    let bobs: Value = app
        .get("/api/v1/me", Some(access(&bob)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["tenants"], json!([]), "memberships went with the tenant");
    // The slug is free again.
    app.create_tenant(access(&ada), "acme").await;
}

#[actix_web::test]
async fn invitations_are_accepted_once_by_the_invited_email_only() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let tid = app.create_tenant(access(&owner), "invites").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invitee = app.signup("Invitee@Example.com").await;
    let stranger = app.signup("stranger@example.com").await;

    let created = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/invitations"),
            &json!({"email": "invitee@example.COM", "roles": ["editor"]}),
            Some(access(&owner)),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let invitation: Value = created.json().await.unwrap();
    let token = invitation["token"].as_str().unwrap().to_owned();
    assert_eq!(invitation["roles"], json!(["editor"]));

    let listed: Value = app
        .get(
            &format!("/api/v1/tenants/{tid}/invitations"),
            Some(access(&owner)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["items"][0].get("token").is_none(), "tokens are shown once");

    let accept = |who: &Value, token: &str| {
        let body = json!({ "token": token });
        let bearer = access(who).to_owned();
        let app = &app;
        async move {
            app.post_json("/api/v1/invitations/accept", &body, Some(&bearer))
                .await
        }
    };
    problem(accept(&stranger, &token).await, 403, "invitation_email_mismatch").await;
    let joined = accept(&invitee, &token).await;
    assert_eq!(joined.status(), 200);
    let tenant: Value = joined.json().await.unwrap();
    assert_eq!(tenant["id"], tid.as_str());
    assert_eq!(tenant["roles"], json!(["editor"]));
    problem(accept(&invitee, &token).await, 404, "invitation_not_found").await;
    problem(
        accept(&invitee, "made-up-token").await,
        404,
        "invitation_not_found",
    )
    .await;

    let again: Value = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/invitations"),
            &json!({"email": "invitee@example.com", "roles": ["viewer"]}),
            Some(access(&owner)),
        )
        .await
        .json()
        .await
        .unwrap();
    problem(
        accept(&invitee, again["token"].as_str().unwrap()).await,
        409,
        "already_member",
    )
    .await;

    let revoked: Value = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/invitations"),
            &json!({"email": "stranger@example.com", "roles": ["viewer"]}),
            Some(access(&owner)),
        )
        .await
        .json()
        .await
        .unwrap();
    let revoke_path = format!(
        "/api/v1/tenants/{tid}/invitations/{}",
        revoked["id"].as_str().unwrap()
    );
    assert_eq!(
        app.request(reqwest::Method::DELETE, &revoke_path, Some(access(&owner)))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.request(reqwest::Method::DELETE, &revoke_path, Some(access(&owner)))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    problem(
        accept(&stranger, revoked["token"].as_str().unwrap()).await,
        404,
        "invitation_not_found",
    )
    .await;

    // An expired invitation is the same 404.
    let expired: Value = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/invitations"),
            &json!({"email": "stranger@example.com", "roles": ["viewer"]}),
            Some(access(&owner)),
        )
        .await
        .json()
        .await
        .unwrap();
    expire_invitation(&app, expired["id"].as_str().unwrap());
    problem(
        accept(&stranger, expired["token"].as_str().unwrap()).await,
        404,
        "invitation_not_found",
    )
    .await;

    let bad_roles = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/invitations"),
            &json!({"email": "x@example.com", "roles": ["wizard"]}),
            Some(access(&owner)),
        )
        .await;
    let body = problem(bad_roles, 422, "validation_failed").await;
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
    let owner = app.signup("owner@example.com").await;
    let admin = app.signup("admin@example.com").await;
    let editor = app.signup("editor@example.com").await;
    let keeper = app.signup("keeper@example.com").await;
    let tid = app.create_tenant(access(&owner), "escalate").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_role(
        access(&owner),
        &tid,
        "role-keeper",
        &["tenant:read", "roles:read", "roles:manage"],
    )
    .await;
    app.add_member(access(&owner), &tid, &admin, &["admin"]).await;
    app.add_member(access(&owner), &tid, &editor, &["editor"]).await;
    app.add_member(access(&owner), &tid, &keeper, &["role-keeper"])
        .await;

    // An admin cannot make anyone an owner, nor demote or remove an owner.
    problem(
        put_roles(&app, access(&admin), &tid, id(&editor), &["owner"]).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        put_roles(&app, access(&admin), &tid, id(&admin), &["owner"]).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        put_roles(&app, access(&admin), &tid, id(&owner), &["viewer"]).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        remove_member(&app, access(&admin), &tid, id(&owner)).await,
        403,
        "forbidden",
    )
    .await;
    let invite_owner = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/invitations"),
            &json!({"email": "x@example.com", "roles": ["owner"]}),
            Some(access(&admin)),
        )
        .await;
    problem(invite_owner, 403, "forbidden").await;

    // An editor cannot manage roles at all; a role manager cannot create one stronger than itself.
    let editor_role = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/roles"),
            &json!({"name": "sneaky", "scopes": ["members:manage"]}),
            Some(access(&editor)),
        )
        .await;
    assert_eq!(
        problem(editor_role, 403, "forbidden").await["required_scope"],
        "roles:manage"
    );
    let keeper_role = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/roles"),
            &json!({"name": "sneaky", "scopes": ["members:manage"]}),
            Some(access(&keeper)),
        )
        .await;
    problem(keeper_role, 403, "forbidden").await;

    // A custom role cannot edit itself upward.
    let upward = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/tenants/{tid}/roles/role-keeper"),
            Some(access(&keeper)),
        )
        .json(&json!({"scopes": ["tenant:read", "roles:read", "roles:manage", "members:manage"]}))
        .send()
        .await
        .unwrap();
    problem(upward, 403, "forbidden").await;
    let roles: Value = app
        .get(&format!("/api/v1/tenants/{tid}/roles"), Some(access(&owner)))
        .await
        .json()
        .await
        .unwrap();
    let keeper_scopes = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "role-keeper")
        .unwrap()["scopes"]
        .clone();
    assert_eq!(
        keeper_scopes,
        json!(["tenant:read", "roles:read", "roles:manage"]),
        "unchanged"
    );

    // Nothing changed for the owner.
    assert_eq!(owners(&app, access(&owner), &tid).await, 1);
    // The admin can still do what is within reach.
    assert_eq!(
        put_roles(&app, access(&admin), &tid, id(&editor), &["viewer"])
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn role_changes_and_removals_take_effect_on_the_next_request() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let member = app.signup("member@example.com").await;
    let tid = app.create_tenant(access(&owner), "next-request").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_member(access(&owner), &tid, &member, &["admin"]).await;
    assert_eq!(
        app.get(
            &format!("/api/v1/tenants/{tid}/invitations"),
            Some(access(&member))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        put_roles(&app, access(&owner), &tid, id(&member), &["viewer"])
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/tenants/{tid}/invitations"),
            Some(access(&member))
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        remove_member(&app, access(&owner), &tid, id(&member))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{tid}"), Some(access(&member)))
            .await
            .status(),
        404
    );
}

#[actix_web::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = spawn_app().await;
    let first = app.signup("first@example.com").await;
    let second = app.signup("second@example.com").await;
    for round in 0..3 {
        let tid = app
            .create_tenant(access(&first), &format!("owners-{round}"))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.add_member(access(&first), &tid, &second, &["owner"]).await;
        assert_eq!(owners(&app, access(&first), &tid).await, 2);
        let (a, b) = join(
            put_roles(&app, access(&first), &tid, id(&second), &["admin"]),
            put_roles(&app, access(&second), &tid, id(&first), &["admin"]),
        )
        .await;
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        assert!(statuses.contains(&200), "{statuses:?}");
        assert!(
            statuses.iter().all(|s| [200, 403, 409].contains(s)),
            "{statuses:?}"
        );
        let remaining = owners(&app, access(&first), &tid).await + owners(&app, access(&second), &tid).await;
        assert!(remaining >= 1, "round {round}: {statuses:?}");
    }
}

#[actix_web::test]
async fn the_last_owner_can_neither_leave_nor_be_demoted_nor_delete_their_account() {
    let app = spawn_app().await;
    let owner = app.signup("solo@example.com").await;
    let tid = app.create_tenant(access(&owner), "solo").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    problem(
        put_roles(&app, access(&owner), &tid, id(&owner), &["admin"]).await,
        409,
        "last_owner",
    )
    .await;
    problem(
        remove_member(&app, access(&owner), &tid, id(&owner)).await,
        409,
        "last_owner",
    )
    .await;
    let delete_me = app
        .request(reqwest::Method::DELETE, "/api/v1/me", Some(access(&owner)))
        .json(&json!({"password": portcullis_tests::PASSWORD}))
        .send()
        .await
        .unwrap();
    problem(delete_me, 409, "last_owner").await;
    assert_eq!(owners(&app, access(&owner), &tid).await, 1);

    // With a second owner, the first may leave.
    let heir = app.signup("heir@example.com").await;
    app.add_member(access(&owner), &tid, &heir, &["owner"]).await;
    assert_eq!(
        remove_member(&app, access(&owner), &tid, id(&owner))
            .await
            .status(),
        204
    );
    assert_eq!(owners(&app, access(&heir), &tid).await, 1);
}

#[actix_web::test]
async fn custom_roles_are_managed_and_deleting_one_strips_it_from_members() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let member = app.signup("member@example.com").await;
    let tid = app.create_tenant(access(&owner), "roles").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let roles_path = format!("/api/v1/tenants/{tid}/roles");
    let created = app
        .post_json(&roles_path, &json!({"name": "auditor", "description": "Reads the log", "scopes": ["audit:read", "tenant:read"]}), Some(access(&owner)))
        .await;
    assert_eq!(created.status(), 201);
    let role: Value = created.json().await.unwrap();
    assert_eq!(
        role,
        json!({"name": "auditor", "description": "Reads the log", "scopes": ["tenant:read", "audit:read"], "builtin": false})
    );

    problem(
        app.post_json(
            &roles_path,
            &json!({"name": "auditor", "scopes": []}),
            Some(access(&owner)),
        )
        .await,
        409,
        "role_name_taken",
    )
    .await;
    problem(
        app.post_json(
            &roles_path,
            &json!({"name": "admin", "scopes": []}),
            Some(access(&owner)),
        )
        .await,
        409,
        "role_name_taken",
    )
    .await;
    let unknown = problem(
        app.post_json(
            &roles_path,
            &json!({"name": "x-role", "scopes": ["root"]}),
            Some(access(&owner)),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "scopes[0]");
    problem(
        app.post_json(
            &roles_path,
            &json!({"name": "Bad Name", "scopes": []}),
            Some(access(&owner)),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let builtin_edit = app
        .request(
            reqwest::Method::PATCH,
            &format!("{roles_path}/admin"),
            Some(access(&owner)),
        )
        .json(&json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    problem(builtin_edit, 409, "builtin_role").await;
    let builtin_delete = app
        .request(
            reqwest::Method::DELETE,
            &format!("{roles_path}/owner"),
            Some(access(&owner)),
        )
        .send()
        .await
        .unwrap();
    problem(builtin_delete, 409, "builtin_role").await;

    let list: Value = app
        .get(&roles_path, Some(access(&owner)))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["owner", "admin", "editor", "viewer", "auditor"]);

    app.add_member(access(&owner), &tid, &member, &["viewer", "auditor"])
        .await;
    let deleted = app
        .request(
            reqwest::Method::DELETE,
            &format!("{roles_path}/auditor"),
            Some(access(&owner)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let members: Value = app
        .get(&format!("/api/v1/tenants/{tid}/members"), Some(access(&owner)))
        .await
        .json()
        .await
        .unwrap();
    let held = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == id(&member))
        .unwrap()["roles"]
        .clone();
    assert_eq!(held, json!(["viewer"]));
    let scopes: Value = app
        .get("/api/v1/scopes", Some(access(&member)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(scopes["items"].as_array().unwrap().len(), 13);
}

async fn delete_me(app: &TestApp, who: &Value) -> reqwest::Response {
    app.request(reqwest::Method::DELETE, "/api/v1/me", Some(access(who)))
        .json(&json!({"password": portcullis_tests::PASSWORD}))
        .send()
        .await
        .unwrap()
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
        let first = app.signup(&format!("first-{tag}@example.com")).await;
        let second = app.signup(&format!("second-{tag}@example.com")).await;
        let tid = app.create_tenant(access(&first), &format!("co-{tag}")).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.add_member(access(&first), &tid, &second, &["owner"]).await;
        assert_eq!(owners(app, access(&first), &tid).await, 2);
        let second_goes = async {
            match second_exit {
                Exit::DeleteAccount => delete_me(app, &second).await,
                Exit::LeaveTenant => remove_member(app, access(&second), &tid, id(&second)).await,
                Exit::DemoteSelf => put_roles(app, access(&second), &tid, id(&second), &["admin"]).await,
            }
        };
        let (a, b) = join(delete_me(app, &first), second_goes).await;
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        let success = if second_exit == Exit::DemoteSelf { 200 } else { 204 };
        let (refused, survivor) = match statuses {
            [204, 409] => (b, &second),
            [409, s] if s == success => (a, &first),
            _ => panic!("trial {trial} ({second_exit:?}): exactly one must be refused, got {statuses:?}"),
        };
        problem(refused, 409, "last_owner").await;
        assert_eq!(
            owners(app, access(survivor), &tid).await,
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

/// Creates an invitation as the holder of `token` and returns its secret token.
async fn invite(app: &TestApp, token: &str, tid: &str, email: &str, roles: &[&str]) -> String {
    let response = app
        .post_json(
            &format!("/api/v1/tenants/{tid}/invitations"),
            &json!({"email": email, "roles": roles}),
            Some(token),
        )
        .await;
    assert_eq!(response.status(), 201, "invite {email} as {roles:?}");
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn accept_invitation(app: &TestApp, who: &Value, token: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/invitations/accept",
        &json!({ "token": token }),
        Some(access(who)),
    )
    .await
}

async fn audit_actions(app: &TestApp, token: &str, tid: &str, action: &str) -> usize {
    let events: Value = app
        .get(
            &format!("/api/v1/tenants/{tid}/audit-events?limit=100&action={action}"),
            Some(token),
        )
        .await
        .json()
        .await
        .unwrap();
    events["items"].as_array().unwrap().len()
}

/// An invitation carries its creator's authority only while the creator still holds it: acceptance
/// re-checks it. The expected outcome of each case is written here by hand from the contract.
#[actix_web::test]
async fn an_invitation_is_refused_once_its_inviter_lost_the_authority_to_send_it() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let tid = app.create_tenant(access(&owner), "inviters").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_role(
        access(&owner),
        &tid,
        "recruiter",
        &["tenant:read", "members:read", "members:invite", "projects:read"],
    )
    .await;
    app.create_role(
        access(&owner),
        &tid,
        "talent-scout",
        &["tenant:read", "members:read", "members:invite", "projects:read"],
    )
    .await;
    let patch_role = |name: &'static str, scopes: &'static [&'static str]| {
        let request = app
            .request(
                reqwest::Method::PATCH,
                &format!("/api/v1/tenants/{tid}/roles/{name}"),
                Some(access(&owner)),
            )
            .json(&json!({ "scopes": scopes }));
        async move { assert_eq!(request.send().await.unwrap().status(), 200, "patch {name}") }
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
        let member = app.signup(&format!("{name}@example.com")).await;
        app.add_member(access(&owner), &tid, &member, roles).await;
        members.push(member);
    }
    let [removed, demoted, recruiter, scout, demoted_owner, departed, steady] = &members[..] else {
        unreachable!()
    };

    // Each inviter sends one invitation while they may.
    let cases = [
        (removed, "to-removed@example.com", &["viewer"][..]),
        (demoted, "to-demoted@example.com", &["editor"]),
        (recruiter, "to-recruiter@example.com", &["viewer"]),
        (scout, "to-scout@example.com", &["viewer"]),
        (demoted_owner, "to-demoted-owner@example.com", &["owner"]),
        (departed, "to-departed@example.com", &["viewer"]),
        (steady, "to-steady@example.com", &["editor"]),
        (&owner, "to-owner@example.com", &["admin"]),
    ];
    let mut tokens = Vec::new();
    for (inviter, email, roles) in cases {
        tokens.push(invite(&app, access(inviter), &tid, email, roles).await);
    }
    let invitees_before = audit_actions(&app, access(&owner), &tid, "invitation.accepted").await;

    // Then they lose it, each in another way.
    assert_eq!(
        remove_member(&app, access(&owner), &tid, id(removed))
            .await
            .status(),
        204
    );
    assert_eq!(
        put_roles(&app, access(&owner), &tid, id(demoted), &["viewer"])
            .await
            .status(),
        200
    );
    // The recruiter's role loses `members:invite`.
    patch_role("recruiter", &["tenant:read", "members:read", "projects:read"]).await;
    // The scout may still invite, but no longer holds `projects:read`, which `viewer` grants.
    patch_role("talent-scout", &["tenant:read", "members:read", "members:invite"]).await;
    // Only an owner may invite an owner.
    assert_eq!(
        put_roles(&app, access(&owner), &tid, id(demoted_owner), &["admin"])
            .await
            .status(),
        200
    );
    assert_eq!(delete_me(&app, departed).await.status(), 204);

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
        let invitee = app.signup(email).await;
        let response = accept_invitation(&app, &invitee, token).await;
        if *status == 404 {
            problem(response, 404, "invitation_not_found").await;
            // Nothing changed: not a member.
            assert_eq!(
                app.get(&format!("/api/v1/tenants/{tid}"), Some(access(&invitee)))
                    .await
                    .status(),
                404,
                "{email} is not a member"
            );
        } else {
            assert_eq!(response.status(), *status, "{email}");
            assert_eq!(
                app.get(&format!("/api/v1/tenants/{tid}"), Some(access(&invitee)))
                    .await
                    .status(),
                200,
                "{email} is a member"
            );
        }
    }
    // Only the two accepted invitations were recorded.
    assert_eq!(
        audit_actions(&app, access(&owner), &tid, "invitation.accepted").await,
        invitees_before + 2
    );
}
