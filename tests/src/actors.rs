//! Typed actors: a signed-up [`User`], a [`Member`] of a tenant, an [`ApiKey`]; and the [`Tenant`]
//! they act in. Each set-up step asserts its own success, so a test states only what it checks.

use std::ops::Deref;

use serde_json::{json, Value};

use crate::{JsonExt, Request, RequestHelper, TestApp, PASSWORD};

/// A signed-in user: the token response of a sign-up or a sign-in, sending its access token.
#[derive(Clone)]
pub struct User<'a> {
    app: &'a TestApp,
    tokens: Value,
    id: String,
    email: String,
}

impl<'a> User<'a> {
    /// The user of a token response (sign-up, sign-in, refresh).
    pub fn from_tokens(app: &'a TestApp, tokens: Value) -> User<'a> {
        let id = tokens.str_at("/user/id").to_owned();
        let email = tokens.str_at("/user/email").to_owned();
        User {
            app,
            tokens,
            id,
            email,
        }
    }

    /// The user's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The email the account was created with, as the server returned it.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The session this token response belongs to.
    pub fn session_id(&self) -> &str {
        self.tokens.str_at("session_id")
    }

    /// The whole token response.
    pub fn tokens(&self) -> &Value {
        &self.tokens
    }

    /// The access token this user sends.
    pub fn access(&self) -> &str {
        self.tokens.str_at("access_token")
    }

    /// The refresh token of this session.
    pub fn refresh(&self) -> &str {
        self.tokens.str_at("refresh_token")
    }

    /// Creates tenant `slug` (named `Tenant {slug}`), of which this user becomes the owner.
    pub async fn create_tenant(&self, slug: &str) -> Tenant {
        let body = self
            .post(
                "/api/v1/tenants",
                &json!({"name": format!("Tenant {slug}"), "slug": slug}),
            )
            .await
            .expect(201);
        Tenant {
            id: body.str_at("id").to_owned(),
            body,
        }
    }

    /// Creates custom role `name` in `tenant`.
    pub async fn create_role(&self, tenant: &Tenant, name: &str, scopes: &[&str]) {
        self.post(&tenant.path("/roles"), &json!({"name": name, "scopes": scopes}))
            .await
            .expect(201);
    }

    /// Invites `email` into `tenant` with `roles` and returns the invitation, secret token included.
    pub async fn invite(&self, tenant: &Tenant, email: &str, roles: &[&str]) -> Value {
        self.post(
            &tenant.path("/invitations"),
            &json!({"email": email, "roles": roles}),
        )
        .await
        .expect(201)
    }

    /// Accepts the invitation whose secret token is `token`, as this user.
    pub fn accept_invitation(&self, token: &str) -> Request {
        self.post("/api/v1/invitations/accept", &json!({ "token": token }))
    }

    /// Invites `user` into `tenant` with `roles`, and accepts as them.
    pub async fn add_member(&self, tenant: &Tenant, user: &User<'a>, roles: &[&str]) -> Member<'a> {
        let invitation = self.invite(tenant, user.email(), roles).await;
        user.accept_invitation(invitation.str_at("token"))
            .await
            .expect(200);
        Member {
            user: user.clone(),
            tenant_id: tenant.id.clone(),
        }
    }

    /// Signs up `email` and adds them to `tenant` with `roles`.
    pub async fn new_member(&self, tenant: &Tenant, email: &str, roles: &[&str]) -> Member<'a> {
        let user = self.app.user(email).await;
        self.add_member(tenant, &user, roles).await
    }

    /// Creates an API key in `tenant` from `body` (`name`, `scopes`, `expires_at`).
    pub async fn create_api_key(&self, tenant: &Tenant, body: &Value) -> ApiKey<'a> {
        let created = self.post(&tenant.path("/api-keys"), body).await.expect(201);
        ApiKey::from_body(self.app, tenant, created)
    }
}

impl RequestHelper for User<'_> {
    fn app(&self) -> &TestApp {
        self.app
    }

    fn bearer(&self) -> Option<&str> {
        Some(self.access())
    }
}

/// A user who joined a tenant through an invitation; acts as that user.
#[derive(Clone)]
pub struct Member<'a> {
    user: User<'a>,
    tenant_id: String,
}

impl<'a> Member<'a> {
    /// The tenant this membership is in.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The user behind the membership.
    pub fn user(&self) -> &User<'a> {
        &self.user
    }
}

impl<'a> Deref for Member<'a> {
    type Target = User<'a>;

    fn deref(&self) -> &User<'a> {
        &self.user
    }
}

/// A tenant as its creator got it back.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// The tenant's id.
    pub id: String,
    /// The creation response (`name`, `slug`, `roles`, …).
    pub body: Value,
}

impl Tenant {
    /// `/api/v1/tenants/{id}` followed by `rest` (`""`, `"/projects"`, …).
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/tenants/{}{rest}", self.id)
    }
}

/// An API key just created, sending its secret as bearer token.
#[derive(Clone)]
pub struct ApiKey<'a> {
    app: &'a TestApp,
    secret: String,
    tenant_id: String,
    body: Value,
}

impl<'a> ApiKey<'a> {
    /// The key of a creation response, for tests that check the creation themselves.
    pub fn from_body(app: &'a TestApp, tenant: &Tenant, created: Value) -> ApiKey<'a> {
        ApiKey {
            app,
            secret: created.str_at("key").to_owned(),
            tenant_id: tenant.id.clone(),
            body: created,
        }
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        self.body.str_at("id")
    }

    /// The secret, shown once at creation.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The creation response (`prefix`, `scopes`, …).
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The tenant the key acts in.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
}

impl RequestHelper for ApiKey<'_> {
    fn app(&self) -> &TestApp {
        self.app
    }

    fn bearer(&self) -> Option<&str> {
        Some(&self.secret)
    }
}

impl TestApp {
    /// Signs up `email` with [`PASSWORD`].
    pub async fn user(&self, email: &str) -> User<'_> {
        let tokens = self
            .anonymous()
            .post(
                "/api/v1/auth/signup",
                &json!({"email": email, "password": PASSWORD}),
            )
            .await
            .expect(201);
        User::from_tokens(self, tokens)
    }

    /// The sign-in request for `email` and `password`, to check its answer yourself.
    pub fn sign_in(&self, email: &str, password: &str) -> Request {
        self.anonymous().post(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
    }

    /// Signs in as `email` with `password`: a new session of an existing user.
    pub async fn login_as(&self, email: &str, password: &str) -> User<'_> {
        let tokens = self.sign_in(email, password).await.expect(200);
        User::from_tokens(self, tokens)
    }
}
