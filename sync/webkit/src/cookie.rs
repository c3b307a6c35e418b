//! Cookies: a request's, and the private cookies of sessions and form tokens.

use axum::http::{HeaderMap, header};

/// A cookie's value, from every `Cookie` header of the request (`None` if it is not there).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// A `Set-Cookie` value for a private cookie of this whole site (a session, a form's token):
/// never seen by scripts (`HttpOnly`), never sent with another site's request
/// (`SameSite=Strict`); kept `max_age` seconds, or until the browser closes (`None`).
/// `value` is a token (no `;`, `,`, space or quote).
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    debug_assert!(!value.contains([';', ',', ' ', '"']), "a cookie value is a token");
    match max_age {
        Some(age) => format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}"),
        None => format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict"),
    }
}

/// A `Set-Cookie` value that ends a cookie set by [`set_cookie`].
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(cookies: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_static(c));
        }
        h
    }

    #[test]
    fn a_cookie_is_found_among_several_with_or_without_spaces() {
        let h = headers(&["lang=en; office=abc123;csrf=ff00", "  y=2 ;x=1"]);
        assert_eq!(cookie(&h, "lang").as_deref(), Some("en"));
        assert_eq!(cookie(&h, "office").as_deref(), Some("abc123"));
        assert_eq!(cookie(&h, "csrf").as_deref(), Some("ff00"));
        // A second Cookie header counts too; spaces around a pair are not part of it.
        assert_eq!(cookie(&h, "x").as_deref(), Some("1"));
        assert_eq!(cookie(&h, "y").as_deref(), Some("2"));
    }

    #[test]
    fn a_missing_or_partial_name_is_none() {
        let h = headers(&["language=en; xlang=en; lang"]);
        assert_eq!(cookie(&h, "lang"), None, "only the whole name, and only with a value");
        assert_eq!(cookie(&HeaderMap::new(), "lang"), None);
        assert_eq!(cookie(&headers(&["a=1"]), "b"), None);
    }

    #[test]
    fn an_empty_value_is_empty_and_the_first_of_two_wins() {
        let h = headers(&["office=; office=second"]);
        assert_eq!(cookie(&h, "office").as_deref(), Some(""));
        // A value may itself hold '=' (base64 padding).
        assert_eq!(cookie(&headers(&["t=YQ=="]), "t").as_deref(), Some("YQ=="));
    }

    #[test]
    fn private_cookies_are_http_only_and_strict_and_cleared_the_same_way() {
        assert_eq!(set_cookie("office", "ab12", None), "office=ab12; Path=/; HttpOnly; SameSite=Strict");
        assert_eq!(
            set_cookie("csrf", "ff", Some(86400)),
            "csrf=ff; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400"
        );
        assert_eq!(clear_cookie("office"), "office=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    }
}
