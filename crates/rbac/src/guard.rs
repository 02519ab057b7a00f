//! The route guard: a middleware on every API resource that enforces each route's [`Guard`] before
//! the handler runs. It resolves the caller once (a [`Principal`] for user routes, a [`TenantAccess`]
//! for tenant routes), checks it, and leaves it in the request for the handler's extractor.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::{Error, HttpMessage};
use futures_util::future::LocalBoxFuture;
use portcullis_auth::Principal;
use portcullis_web::Guard;

use crate::TenantAccess;

/// The guards of one resource, by method.
#[derive(Clone)]
pub struct Guards(Rc<Vec<(Method, Guard)>>);

impl Guards {
    /// The guards of the routes sharing one path.
    pub fn new(guards: Vec<(Method, Guard)>) -> Guards {
        Guards(Rc::new(guards))
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guards
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<GuardService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            guards: self.0.clone(),
        }))
    }
}

/// [`Guards`] around one resource.
pub struct GuardService<S> {
    service: Rc<S>,
    guards: Rc<Vec<(Method, Guard)>>,
}

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<B>, Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // No route for the method: the resource answers 405 without looking at credentials.
        let guard = self
            .guards
            .iter()
            .find(|(method, _)| method == req.method())
            .map(|(_, guard)| *guard);
        let service = self.service.clone();
        Box::pin(async move {
            match guard {
                None | Some(Guard::Public) => {}
                Some(Guard::User) => {
                    let principal = Principal::resolve(req.request()).await?;
                    req.extensions_mut().insert(principal);
                }
                Some(Guard::Tenant { scope, or_self }) => {
                    let access = TenantAccess::resolve(req.request()).await?;
                    let acting_on = or_self.and_then(|name| req.match_info().get(name));
                    access.authorize(scope, acting_on)?;
                    req.extensions_mut().insert(access);
                }
            }
            service.call(req).await
        })
    }
}
