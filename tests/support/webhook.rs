//! A webhook receiver on 127.0.0.1:0: records every request's path and JSON body and answers
//! with the status the test sets (200 unless told otherwise).

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Receiver {
    bodies: Arc<Mutex<Vec<(String, Value)>>>,
    status: Arc<Mutex<u16>>,
    port: u16,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let bodies: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let status = Arc::new(Mutex::new(200u16));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (b, s) = (bodies.clone(), status.clone());
        let server = HttpServer::new(move || {
            let (b, s) = (b.clone(), s.clone());
            App::new().default_service(web::to(move |req: actix_web::HttpRequest, body: web::Bytes| {
                let (b, s) = (b.clone(), s.clone());
                async move {
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    b.lock().unwrap().push((req.path().to_string(), json));
                    let code = *s.lock().unwrap();
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver { bodies, status, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answer every request with `status` from now on.
    pub fn answer(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    /// Every (path, body) received so far, and forget them.
    pub fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.bodies.lock().unwrap())
    }
}
