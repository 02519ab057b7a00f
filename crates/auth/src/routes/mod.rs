//! The identity routes: one plain table, handlers in small files.

mod account;
mod body;
mod github;
mod login;
mod session_routes;

use actix_web::web;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/signup").post(login::signup))
        .service(web::resource("/auth/login").post(login::login))
        .service(web::resource("/auth/refresh").post(session_routes::refresh))
        .service(web::resource("/auth/logout").post(session_routes::logout))
        .service(web::resource("/auth/sessions").get(session_routes::list))
        .service(web::resource("/auth/sessions/{id}").delete(session_routes::revoke))
        .service(web::resource("/auth/password").post(account::change_password))
        .service(
            web::resource("/me")
                .get(account::me)
                .patch(account::update_me)
                .delete(account::delete_me),
        )
        .service(web::resource("/me/security-events").get(account::security_events))
        .service(web::resource("/me/identities/github").delete(github::unlink))
        .service(web::resource("/auth/github/authorize").get(github::authorize))
        .service(web::resource("/auth/github/callback").get(github::callback))
        .service(web::resource("/auth/github/link").post(github::start_link))
        .service(web::resource("/auth/oauth/exchange").post(github::exchange));
}
