//! Drip's upload form (what the UI's `/files/upload` reads) fed any body as
//! `multipart/form-data`: its fields are read as the handler reads them, the small ones within
//! their limit and the file to its end, and every outcome is an answer or a typed error, never
//! a panic.
#![no_main]

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{header, Request};
use drip::{paths, web::upload_form};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = Request::builder()
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=X")
        .body(Body::from(data.to_vec()))
    else {
        return;
    };
    futures::executor::block_on(async {
        let Ok(mut form) = Multipart::from_request(request, &()).await else {
            return;
        };
        let _ = upload_form::read(&mut form, async |fields, mut file| {
            if let Some(path) = &fields.path {
                assert!(path.len() <= upload_form::FIELD_LIMIT);
                let _ = paths::check_path(path);
            }
            if let Some(name) = file.file_name() {
                let _ = paths::check_name(name);
            }
            while let Ok(Some(_)) = file.chunk().await {}
        })
        .await;
    });
});
