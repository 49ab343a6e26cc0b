//! `/healthz`: 200 when the process serves and its database answers.

use super::error::FailureClass;
use super::state::AppState;
use actix_web::{HttpResponse, get, web};

#[get("/healthz")]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok\n"),
        Err(e) => {
            let class = FailureClass::of(&e);
            tracing::error!(error = %e, class = class.key(), "health check: the database does not answer");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body(format!("database unavailable ({})\n", class.key()))
        }
    }
}
