//! The OpenAPI 3.1 document, generated from the route lists the router is built from
//! ([`crate::router::routes`]) and the `ToSchema` derives of the request and response bodies. Every
//! route gets its success response and every error status it can answer, as problem+json.

use portcullis_web::{Guard, Op, Problem, RouteDef, Schemas, CURSOR_PATTERN};
use serde_json::json;
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, Paths, Ref,
    RefOr, Required, ResponseBuilder, Type,
};

use crate::router::routes;

fn reason(status: u16) -> &'static str {
    actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Response")
}

fn method(method: &actix_web::http::Method) -> HttpMethod {
    match method.as_str() {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

/// Links from a creating operation to the operations that use what it created, so schemathesis's
/// stateful phase works on real tenants, projects, roles, invitations and keys instead of random ids.
fn links(creator: &RouteDef, all: &[RouteDef]) -> Vec<(String, Link)> {
    if creator.method != actix_web::http::Method::POST {
        return Vec::new();
    }
    let path = creator.path;
    let id_field = if path.ends_with("/roles") { "name" } else { "id" };
    let mut found = Vec::new();
    for entry in all.iter().filter(|r| matches!(r.guard, Guard::Tenant { .. })) {
        let link = if path == "/tenants" {
            // A new tenant: every operation that needs only its id.
            (entry.path.matches('{').count() == 1).then(|| {
                LinkBuilder::new()
                    .operation_id(entry.id)
                    .parameter("tid", "$response.body#/id")
            })
        } else {
            // A new child resource: the operations on it, in the same tenant.
            let child = entry
                .path
                .strip_prefix(path)
                .and_then(|rest| rest.strip_prefix("/{"))
                .and_then(|rest| rest.strip_suffix('}'));
            child.map(|param| {
                LinkBuilder::new()
                    .operation_id(entry.id)
                    .parameter("tid", "$request.path.tid")
                    .parameter(param, format!("$response.body#/{id_field}"))
            })
        };
        if let Some(link) = link {
            found.push((entry.id.to_owned(), link.build()));
        }
    }
    found
}

/// Builds one operation: parameters, body, success and every error status.
fn operation(
    id: String,
    path: &str,
    authenticated: bool,
    tenant: bool,
    op: Op,
    links: Vec<(String, Link)>,
) -> Operation {
    let mut builder = OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(op.summary))
        .tag(op.tag);
    for name in path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(64));
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema)),
        );
    }
    for (name, kind, description) in op.query {
        let schema = ObjectBuilder::new().schema_type(kind.clone());
        // The server's own rules for each parameter, so generated requests know what is valid.
        let schema = match *name {
            "limit" => schema.minimum(Some(1)).maximum(Some(100)),
            "cursor" => schema.pattern(Some(CURSOR_PATTERN)),
            "q" => schema.max_length(Some(200)),
            "action" => schema.pattern(Some("^[a-z._]{1,64}$")),
            "code_challenge" => schema.pattern(Some("^[A-Za-z0-9_-]{43}$")),
            "code_challenge_method" => schema.pattern(Some("^S256$")),
            _ => schema,
        };
        let required = if *name == "redirect_uri" {
            Required::True
        } else {
            Required::False
        };
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(required)
                .description(Some(*description))
                .schema(Some(schema)),
        );
    }
    let has_body = op.body.is_some();
    if let Some(body) = op.body {
        let content = ContentBuilder::new().schema(Some(body)).build();
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", content)
                .required(Some(Required::True))
                .build(),
        ));
    }
    let success = match (op.ok, op.ok_body) {
        (302, _) => ResponseBuilder::new().description("Redirect; see Location"),
        (status, Some(body)) => ResponseBuilder::new().description(reason(status)).content(
            "application/json",
            ContentBuilder::new().schema(Some(body)).build(),
        ),
        (status, None) => ResponseBuilder::new().description(reason(status)),
    };
    let success = links
        .into_iter()
        .fold(success, |response, (name, link)| response.link(name, link));
    builder = builder.response(op.ok.to_string(), success.build());
    let mut errors: Vec<u16> = vec![429, 503];
    if has_body {
        errors.extend([400, 413, 415, 422]);
    }
    if !op.query.is_empty() || path.contains('{') {
        errors.push(422);
    }
    if authenticated {
        errors.extend([401, 403]);
    }
    if tenant || path.contains('{') {
        errors.push(404);
    }
    errors.extend(op.errors);
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        let problem = ContentBuilder::new()
            .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
            .build();
        builder = builder.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(reason(status))
                .content("application/problem+json", problem)
                .build(),
        );
    }
    if authenticated {
        builder = builder.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    }
    builder.build()
}

fn plain_json(description: &str, example: serde_json::Value) -> ResponseBuilder {
    let schema = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("status", ObjectBuilder::new().schema_type(Type::String))
        .required("status");
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(schema))
            .example(Some(example))
            .build(),
    )
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let mut paths = Paths::new();
    let all = routes();
    for route in &all {
        let op = (route.doc)(&mut schemas);
        let authenticated = route.guard != Guard::Public;
        let tenant = matches!(route.guard, Guard::Tenant { .. });
        let mut operation = operation(
            route.id.to_owned(),
            route.path,
            authenticated,
            tenant,
            op,
            links(route, &all),
        );
        if let Guard::Tenant { scope, or_self } = route.guard {
            operation.description = Some(match or_self {
                Some(_) => format!("Needs the `{scope}` scope, except for a member acting on themself."),
                None => format!("Needs the `{scope}` scope."),
            });
        }
        paths.add_path_operation(
            format!("/api/v1{}", route.path),
            vec![method(&route.method)],
            operation,
        );
    }
    let health = OperationBuilder::new()
        .operation_id(Some("Healthz"))
        .summary(Some("Liveness"))
        .tag("health")
        .response(
            "200",
            plain_json("The process serves", json!({"status": "ok"})).build(),
        )
        .build();
    let ready = OperationBuilder::new()
        .operation_id(Some("Readyz"))
        .summary(Some("Readiness: the database answers"))
        .tag("health")
        .response("200", plain_json("Ready", json!({"status": "ready"})).build())
        .response(
            "503",
            plain_json("The database does not answer", json!({"status": "unavailable"})).build(),
        )
        .build();
    let document = OperationBuilder::new()
        .operation_id(Some("OpenApi"))
        .summary(Some("This document"))
        .tag("health")
        .response(
            "200",
            ResponseBuilder::new()
                .description("OpenAPI 3.1")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                )
                .build(),
        )
        .build();
    let docs = OperationBuilder::new()
        .operation_id(Some("Docs"))
        .summary(Some("Interactive documentation (Swagger UI)"))
        .tag("health")
        .response(
            "200",
            ResponseBuilder::new()
                .description("HTML page")
                .content(
                    "text/html",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                )
                .build(),
        )
        .build();
    let object = |required: &[&str], array_of: Option<&str>| {
        let mut schema = ObjectBuilder::new().schema_type(Type::Object);
        for name in required {
            schema = schema.required(*name);
        }
        if let Some(name) = array_of {
            schema = schema.property(
                name,
                utoipa::openapi::schema::ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(Type::Object)),
            );
        }
        schema
    };
    let json_response = |description: &str, schema: ObjectBuilder| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build()
    };
    let jwks = OperationBuilder::new()
        .operation_id(Some("Jwks"))
        .summary(Some("The public keys that verify access tokens (JWKS, RFC 7517); cache for 5 minutes"))
        .tag("keys")
        .response(
            "200",
            json_response("`{\"keys\": [...]}`: EC P-256 (ES256) or OKP Ed25519 (EdDSA) keys with `kid`, `use: sig` and `alg`; empty under HS256", object(&["keys"], Some("keys"))),
        )
        .build();
    let discovery = OperationBuilder::new()
        .operation_id(Some("OpenIdConfiguration"))
        .summary(Some("Discovery: the issuer of access tokens and its JWKS URL"))
        .tag("keys")
        .response(
            "200",
            json_response(
                "`issuer`, `jwks_uri` and the signing algorithm",
                object(&["issuer", "jwks_uri"], None),
            ),
        )
        .build();
    paths.add_path_operation("/.well-known/jwks.json", vec![HttpMethod::Get], jwks);
    paths.add_path_operation(
        "/.well-known/openid-configuration",
        vec![HttpMethod::Get],
        discovery,
    );
    paths.add_path_operation("/healthz", vec![HttpMethod::Get], health);
    paths.add_path_operation("/readyz", vec![HttpMethod::Get], ready);
    paths.add_path_operation("/openapi.json", vec![HttpMethod::Get], document);
    paths.add_path_operation("/docs", vec![HttpMethod::Get], docs);

    schemas.of::<Problem>();
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT access token, or an API key (pcs_…)")
                .build(),
        ),
    );
    let mut seen = std::collections::HashSet::new();
    for (name, schema) in schemas.0 {
        if seen.insert(name.clone()) {
            components = components.schema(name, schema);
        }
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Portcullis")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Multi-tenant SaaS backend with a complete auth service. Errors are RFC 9457 problem \
                     documents. A JSON body must name each key of an object once: a repeated key is \
                     refused with 422 `validation_failed` (field error `duplicate_key`). An id in a path \
                     that is not a UUID (or a role name the role-name pattern refuses) is answered 404 \
                     `not_found`, exactly like an id that does not exist.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}
