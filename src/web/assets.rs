//! `GET /static/{name}`: the embedded assets ([`super::embedded`]). Pages link them with a content
//! hash in the query, so browsers may cache them for a year.

use super::embedded;
use super::error::PageError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

#[get("/static/{name}")]
pub async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some((asset, hash)) = embedded::find(name.as_str()) else {
        return PageError::NotFound("There is no such file.".into()).render(&req);
    };
    let etag = format!("\"{hash}\"");
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish();
    }
    // A versioned URL never changes content; an unversioned one is revalidated daily.
    let cache = if req.query_string().starts_with("v=") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=86400"
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(asset.body)
}
