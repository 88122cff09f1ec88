//! The OpenAPI 3 description served at `/openapi.json` (hand-written;
//! a test checks it lists exactly the router's routes).

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `(method, path)` of every operation in the document.
pub fn operations() -> Vec<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    let mut ops = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for method in item.keys() {
                    ops.push((method.clone(), path.clone()));
                }
            }
        }
    }
    ops.sort();
    ops
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_matches_the_router() {
        let mut routes: Vec<(String, String)> = super::super::api::ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routes.sort();
        assert_eq!(super::operations(), routes);
    }
}
