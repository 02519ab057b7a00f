//! The `/api/v1` router, built from every area's route list. Routes sharing a path share one resource
//! (so a wrong method is 405 with `Allow`); each resource carries the route guard (who may call, checked
//! before the handler) and the rate-limit quota of its routes. Resources are nested in scopes, one
//! level per path segment, so a request is matched against a handful of patterns at each level.

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::web;
use portcullis_rbac::guard::Guards;
use portcullis_web::{Guard, Quota, RateLimits, RouteDef};

/// Every route under `/api/v1`, from the lists of the areas that own them.
pub fn routes() -> Vec<RouteDef> {
    let mut routes = portcullis_auth::routes::list();
    routes.extend(portcullis_rbac::routes::list());
    routes.extend(portcullis_api::routes());
    routes
}

/// Mounts every route of [`routes`] under `/api/v1`, behind its guard and quota.
pub fn configure(limits: &RateLimits) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        let mut api = web::scope("/api/v1");
        for service in nested(routes(), limits) {
            api = api.service(service);
        }
        cfg.service(api);
    }
}

/// The routes as a tree of scopes, one level per path segment that more than one path shares: a
/// request is matched against the few patterns of each level on its way down (`/tenants`, `/{tid}`,
/// `/projects`, `/{pid}`), not against every tenant route in turn.
fn nested(routes: Vec<RouteDef>, limits: &RateLimits) -> Vec<actix_web::Scope> {
    // First path segment → the rest of the path → its routes.
    let mut tree: BTreeMap<&str, BTreeMap<&str, Vec<RouteDef>>> = BTreeMap::new();
    for route in routes {
        let (segment, rest) = split_first_segment(route.path);
        tree.entry(segment)
            .or_default()
            .entry(rest)
            .or_default()
            .push(route);
    }
    let mut scopes = Vec::new();
    for (segment, paths) in tree {
        let mut scope = web::scope(segment);
        let mut deeper = Vec::new();
        for (rest, routes) in paths {
            if rest.is_empty() {
                scope = scope.service(resource("", routes, limits));
            } else {
                // Re-rooted at `rest`, to be split again one level down.
                deeper.extend(routes.into_iter().map(|route| RouteDef { path: rest, ..route }));
            }
        }
        let distinct: std::collections::BTreeSet<&str> = deeper.iter().map(|r| r.path).collect();
        if distinct.len() == 1 {
            // One path below: a resource, no scope of its own.
            let path = deeper[0].path;
            scope = scope.service(resource(path, deeper, limits));
        } else {
            for inner in nested(deeper, limits) {
                scope = scope.service(inner);
            }
        }
        scopes.push(scope);
    }
    scopes
}

/// One path's resource: its routes (so a wrong method is 405 with `Allow`), the route guard and the
/// rate-limit quota.
fn resource(
    path: &str,
    routes: Vec<RouteDef>,
    limits: &RateLimits,
) -> impl actix_web::dev::HttpServiceFactory + 'static {
    let mut resource = web::resource(path);
    let mut guards: Vec<(Method, Guard)> = Vec::new();
    let mut quota = Quota::Api;
    for route in routes {
        if route.quota == Quota::Auth {
            quota = Quota::Auth;
        }
        guards.push((route.method.clone(), route.guard));
        resource = resource.route((route.mount)(web::method(route.method)));
    }
    // The quota is outermost: a refused client costs no credential check.
    resource.wrap(Guards::new(guards)).wrap(limits.for_routes(quota))
}

/// `/tenants/{tid}/projects` → (`/tenants`, `/{tid}/projects`); `/me` → (`/me`, ``).
fn split_first_segment(path: &str) -> (&str, &str) {
    match path[1..].find('/') {
        Some(end) => path.split_at(end + 1),
        None => (path, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_at_their_first_segment() {
        assert_eq!(
            split_first_segment("/tenants/{tid}/projects"),
            ("/tenants", "/{tid}/projects")
        );
        assert_eq!(split_first_segment("/me"), ("/me", ""));
        assert_eq!(split_first_segment("/auth/login"), ("/auth", "/login"));
    }

    #[test]
    fn every_route_is_declared_once_and_tenant_paths_have_tenant_guards() {
        let routes = routes();
        let mut seen = std::collections::HashSet::new();
        for route in &routes {
            assert!(seen.insert(route.id), "operation id {} twice", route.id);
            assert!(
                seen.insert(Box::leak(
                    format!("{} {}", route.method, route.path).into_boxed_str()
                )),
                "{} {} twice",
                route.method,
                route.path
            );
            let tenant_path = route.path.starts_with("/tenants/{tid}");
            let tenant_guard = matches!(route.guard, Guard::Tenant { .. });
            assert_eq!(
                tenant_path, tenant_guard,
                "{}: tenant paths and tenant guards go together",
                route.id
            );
        }
    }
}
