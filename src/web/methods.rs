//! Methods: every route of credwatch reads, so it answers GET and HEAD (RFC 9110 requires HEAD
//! wherever GET is served: monitors and link checkers use it), and 405 with `Allow` to any other
//! method on a path that exists. actix's `#[get]` routes alone would answer HEAD and POST with 404.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

/// What every route allows.
pub const ALLOW: &str = "GET, HEAD";

/// Paths whose routes take a POST: the action forms (`web::act`) and signing out.
fn accepts_post(path: &str) -> bool {
    path.starts_with("/act/") || path.starts_with("/environments/") && path.ends_with("/actions") || path == "/auth/logout"
}

/// The middleware: HEAD is routed as GET (the server leaves the body out of a HEAD answer by
/// itself); another method on a known path gets 405.
pub async fn methods(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    match *req.method() {
        Method::GET => {}
        Method::HEAD => req.head_mut().method = Method::GET,
        // The action forms (see `web::act`) and signing out: their handlers check the rest.
        Method::POST if accepts_post(req.path()) => {}
        _ if req.request().resource_map().has_resource(req.path()) => {
            let response = HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, ALLOW))
                .content_type("text/plain; charset=utf-8")
                .body(format!("credwatch: {} is not answered here; use GET or HEAD\n", req.method()));
            return Ok(req.into_response(response).map_into_right_body());
        }
        _ => {}
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}
