//! Route definitions. Each area (`portcullis-auth`, `portcullis-rbac`, `portcullis-api`, and the areas
//! to come) lists its routes once, next to their handlers: method, path, who may call, rate-limit quota,
//! handler and OpenAPI operation. The server builds the router, the OpenAPI document and the rate-limit
//! classes from these lists, and a guard middleware on each resource enforces [`Guard`] before the
//! handler runs, so a handler never restates its own route or scope.

use actix_web::http::Method;
use utoipa::openapi::{RefOr, Schema, Type};
use utoipa::ToSchema;

use crate::{Page, Quota};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone (sign-up, sign-in, the OAuth redirects).
    Public,
    /// A signed-in user with an access token of a live session, never an API key.
    User,
    /// A member of the tenant of the path's `{tid}`, or an API key of that tenant, holding `scope`.
    Tenant {
        /// The scope the route needs (a name from the scope catalog of `portcullis-rbac`).
        scope: &'static str,
        /// A path parameter naming a user: that member may act on themself without the scope
        /// (leaving a tenant), with an access token only.
        or_self: Option<&'static str>,
    },
}

impl Guard {
    /// A tenant route needing `scope`.
    pub const fn tenant(scope: &'static str) -> Guard {
        Guard::Tenant { scope, or_self: None }
    }
}

/// One route.
pub struct RouteDef {
    /// The OpenAPI operation id, unique (`GetProject`).
    pub id: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Path under `/api/v1`, with `{name}` parameters.
    pub path: &'static str,
    /// Who may call it, checked before the handler runs.
    pub guard: Guard,
    /// Its rate-limit quota.
    pub quota: Quota,
    /// Puts the handler on an actix route (`|r| r.to(projects::get)`).
    pub mount: fn(actix_web::Route) -> actix_web::Route,
    /// What the OpenAPI document says about it.
    pub doc: fn(&mut Schemas) -> Op,
}

/// A route on the general quota; [`RouteDef::sign_in`] moves it to the sign-in quota.
pub fn route(
    id: &'static str,
    method: Method,
    path: &'static str,
    guard: Guard,
    mount: fn(actix_web::Route) -> actix_web::Route,
    doc: fn(&mut Schemas) -> Op,
) -> RouteDef {
    RouteDef {
        id,
        method,
        path,
        guard,
        quota: Quota::Api,
        mount,
        doc,
    }
}

impl RouteDef {
    /// Holds the route to the strict sign-in quota (routes that check passwords or secrets).
    pub fn sign_in(mut self) -> RouteDef {
        self.quota = Quota::Auth;
        self
    }
}

/// Collects the component schemas while operations refer to them.
#[derive(Default)]
pub struct Schemas(pub Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// A reference to `T`'s schema, registering it (and what it refers to).
    pub fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        T::schemas(&mut self.0);
        self.0.push((T::name().into_owned(), T::schema()));
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
    }

    /// A page of `T` written inline (generic pages), with `T` registered.
    pub fn page<T: ToSchema>(&mut self) -> RefOr<Schema>
    where
        Page<T>: ToSchema,
    {
        self.of::<T>();
        <Page<T> as ToSchema>::schemas(&mut self.0);
        <Page<T> as utoipa::PartialSchema>::schema()
    }
}

/// A query parameter: name, type, description.
pub type QueryParam = (&'static str, Type, &'static str);

/// What the OpenAPI document says about one operation beyond what the route definition says.
pub struct Op {
    /// One line.
    pub summary: &'static str,
    /// The group.
    pub tag: &'static str,
    /// The request body's schema.
    pub body: Option<RefOr<Schema>>,
    /// The success status.
    pub ok: u16,
    /// The success body's schema.
    pub ok_body: Option<RefOr<Schema>>,
    /// Error statuses specific to the route (the common ones are added from the route's shape).
    pub errors: &'static [u16],
    /// Query parameters.
    pub query: &'static [QueryParam],
}

/// `limit` and `cursor` of the list routes.
pub const LIST_QUERY: &[QueryParam] = &[
    ("limit", Type::Integer, "page size, 1 to 100 (default 20)"),
    ("cursor", Type::String, "next_cursor of the previous page"),
];

/// An operation answering `ok`.
pub fn op(summary: &'static str, tag: &'static str, ok: u16) -> Op {
    Op {
        summary,
        tag,
        body: None,
        ok,
        ok_body: None,
        errors: &[],
        query: &[],
    }
}

impl Op {
    /// The request body.
    pub fn body(mut self, body: RefOr<Schema>) -> Self {
        self.body = Some(body);
        self
    }
    /// The success body.
    pub fn returns(mut self, body: RefOr<Schema>) -> Self {
        self.ok_body = Some(body);
        self
    }
    /// Route-specific error statuses.
    pub fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
    /// Query parameters.
    pub fn query(mut self, query: &'static [QueryParam]) -> Self {
        self.query = query;
        self
    }
}
