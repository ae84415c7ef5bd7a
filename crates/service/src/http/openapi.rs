//! `GET /api/openapi.json`: the OpenAPI 3.1 description of every route.
//!
//! The document is written by hand; the tests below fail when a route is
//! added to the router without being described, or described without existing.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The OpenAPI document, served verbatim.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Pairs of `(method, path)` served by this module.
pub const ROUTES: &[(&str, &str)] = &[("get", "/api/openapi.json")];

/// Serves the OpenAPI document.
pub async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

/// Lists every `(method, path)` the API serves, with OpenAPI path templates.
pub fn all_routes() -> Vec<(&'static str, &'static str)> {
    let mut routes = Vec::new();
    routes.extend_from_slice(super::commands::ROUTES);
    routes.extend_from_slice(super::queries::ROUTES);
    routes.extend_from_slice(ROUTES);
    routes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn documented_routes() -> BTreeSet<(String, String)> {
        let document: serde_json::Value =
            serde_json::from_str(DOCUMENT).expect("the OpenAPI document is valid JSON");
        let paths = document["paths"].as_object().expect("paths is an object");
        let mut routes = BTreeSet::new();
        for (path, operations) in paths {
            for method in operations.as_object().expect("operations").keys() {
                routes.insert((method.clone(), path.clone()));
            }
        }
        routes
    }

    #[test]
    fn document_describes_exactly_the_served_routes() {
        let served: BTreeSet<(String, String)> = all_routes()
            .into_iter()
            .map(|(method, path)| (method.to_owned(), path.to_owned()))
            .collect();
        assert_eq!(documented_routes(), served);
    }

    #[test]
    fn every_operation_documents_its_responses() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        for (path, operations) in document["paths"].as_object().expect("paths") {
            for (method, operation) in operations.as_object().expect("operations") {
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
                assert!(
                    operation["operationId"].is_string(),
                    "{method} {path} has no operationId"
                );
            }
        }
    }
}
