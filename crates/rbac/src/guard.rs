//! The route guard: a middleware on every API resource that enforces each route's [`Guard`] before
//! the handler runs. A user route's [`Principal`] is resolved and checked here. A tenant route's
//! credentials are checked here without I/O, and its standing and scope in the handler's one unit of
//! work ([`TenantCall`]), which is the only way a handler gets at the tenant.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::{Error, HttpMessage};
use futures_util::future::LocalBoxFuture;
use portcullis_auth::Principal;
use portcullis_web::Guard;

use crate::TenantCall;

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
    type Response = ServiceResponse<EitherBody<B>>;
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
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, Error>>;

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
            // A refusal is answered here as a response, not an `Err`, so the outer middleware still
            // sees the matched route (for its metrics label).
            let refused = match guard {
                None | Some(Guard::Public) => None,
                Some(Guard::User) => match Principal::resolve(req.request()).await {
                    Ok(principal) => {
                        req.extensions_mut().insert(principal);
                        None
                    }
                    Err(err) => Some(err),
                },
                Some(Guard::Tenant { scope, or_self }) => {
                    // Credentials now; standing and scope in the handler's one unit of work.
                    match TenantCall::prepare(req.request(), scope, or_self) {
                        Ok(call) => {
                            req.extensions_mut().insert(call);
                            None
                        }
                        Err(err) => Some(err),
                    }
                }
            };
            match refused {
                Some(err) => Ok(req.error_response(err).map_into_right_body()),
                None => service.call(req).await.map(ServiceResponse::map_into_left_body),
            }
        })
    }
}
